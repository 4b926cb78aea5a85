"""Would per-type redemption history help the offer-response model? Complete Journey, by time.

Usage::

    python bench/bench_response_features.py --data DIR [--split 2017-08-01 2017-09-01]

Trains on the campaigns sent before each split (labels as known then) and
scores the later ones (models.offer_response.evaluation.time_split_rows), with
today's features and with candidate features added as member columns (the
model learns from every numeric ``m__`` column):

- ``type_sends``, ``type_redemptions``: the member's earlier sends and
  redemptions of offers of the same type, before the send;
- ``type_redemption_rate``: their ratio (NaN: never sent that type);
- ``days_since_type_redemption``: days since the member last redeemed that type.

Then (issue 12, "train as you serve") the planned-send style measure: the same
test sends scored with member features, affinity and product features as of the
split (as ``predict-response`` scores planned sends with the version's features),
for models trained on rows whose features are as of ``sent_at - lag``
(:func:`lagged_sends`): each send at lags 0 / 28 / 56 days, or at one seeded lag
drawn in 0..56, with or without the age column (``m__feature_age_days``: the lag in
training; at test the send day - the split, or 0 as of each send), and a paired
member bootstrap of the planned-send ROC-AUC difference to lag 0. None of them
was kept in training (bench/RESULTS.md, issue 12). ``--stale-only`` runs this part only.

Today's features already hold the member's overall redemption rate, days since
the last redemption and coupon-use share (features.member_features). Prints
ROC-AUC and PR-AUC of each variant, logistic and boosted trees, and two baselines:
the member's past redemption rate, and gradient boosting on recency, frequency and
monetary value only (issue 12).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.loading import load_dataset  # noqa: E402
from models.metrics import pr_auc, roc_auc  # noqa: E402
from models.offer_response import offer_specs_from_events  # noqa: E402
from models.offer_response.affinity import AffinityIndex  # noqa: E402
from models.offer_response.evaluation import baseline_scores, time_split_rows  # noqa: E402
from models.offer_response.model import (  # noqa: E402
    OfferResponseModel,
    _response_member_features,
)
from models.offer_response.products import attach_product_columns  # noqa: E402
from models.offer_response.rows import (  # noqa: E402
    LABEL,
    attach_offer_columns,
    response_features,
)

CANDIDATES = ("type_sends", "type_redemptions", "type_redemption_rate",
              "days_since_type_redemption")


def type_history(events: pd.DataFrame, offers: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """The candidate features of each row, from offer events strictly before its send."""
    kind = offers.set_index("offer_id")["type"]
    ev = events[events["event"].isin(["sent", "redeemed"])].copy()
    ev = ev.assign(member_id=ev["member_id"].astype(str), type=ev["offer_id"].astype(str).map(kind),
                   t=ev["timestamp"].to_numpy().astype("datetime64[ns]").astype("int64"))
    groups = {key: (g.loc[g["event"] == "sent", "t"].sort_values().to_numpy(),
                    g.loc[g["event"] == "redeemed", "t"].sort_values().to_numpy())
              for key, g in ev.groupby(["member_id", "type"], observed=True)}
    t = rows["sent_at"].to_numpy().astype("datetime64[ns]").astype("int64")
    types = rows["offer_id"].astype(str).map(kind).to_numpy()
    out = np.full((len(rows), 4), np.nan)
    for i, (member, typ, when) in enumerate(zip(rows["member_id"].astype(str), types, t)):
        sent, redeemed = groups.get((member, typ), (np.empty(0), np.empty(0)))
        n_sent = np.searchsorted(sent, when, side="left")
        n_red = np.searchsorted(redeemed, when, side="left")
        last = redeemed[n_red - 1] if n_red else np.nan
        out[i] = (n_sent, n_red, n_red / n_sent if n_sent else np.nan,
                  (when - last) / 86_400e9 if n_red else np.nan)
    return pd.DataFrame(out, index=rows.index, columns=[f"m__{c}" for c in CANDIDATES])


RFM = ["m__recency_days", "m__frequency", "m__monetary_total"]


def rfm_boosting(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
    """Issue 12's second baseline: gradient boosting on the member's recency, frequency and
    monetary value alone (as of each send), fitted on the training sends."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(random_state=0)
    model.fit(train[RFM].astype("float64"), train[LABEL].to_numpy(dtype=bool))
    return model.predict_proba(test[RFM].astype("float64"))[:, 1]


#: The features' age, a member column so that the model learns from it as from any other.
AGE = "m__feature_age_days"


def lagged_sends(sends: pd.DataFrame, lags, *, sample: bool = False,
                 random_state=0) -> pd.DataFrame:
    """``sends`` with a ``lag_days`` column: each send once per lag of ``lags`` or, with
    ``sample``, once at a lag drawn uniformly (seeded) in days ``[0, max(lags)]``."""
    if sample:
        rng = np.random.default_rng(random_state)
        drawn = rng.integers(0, int(max(lags)) + 1, size=len(sends)).astype("float64")
        return sends.assign(lag_days=drawn).reset_index(drop=True)
    return pd.concat([sends.assign(lag_days=float(lag)) for lag in lags], ignore_index=True)


def stale_rows(dataset, offers, sends: pd.DataFrame, lag_days, member_features,
               index: AffinityIndex) -> pd.DataFrame:
    """Rows of ``sends`` (unique index) whose member, affinity and product features are as
    of ``sent_at - lag_days`` (floored to the day), with :data:`AGE` = send - cutoff."""
    sent_at = pd.to_datetime(sends["sent_at"])
    lag = np.broadcast_to(np.asarray(lag_days, dtype="float64"), (len(sends),))
    shifted = sends.assign(sent_at=sent_at - pd.to_timedelta(lag, unit="D"))
    features = response_features(dataset, offers, shifted, member_features=member_features,
                                 affinity_index=index)
    rows = attach_product_columns(
        attach_offer_columns(pd.concat([sends, features], axis=1), offers), dataset, offers)
    rows[AGE] = (sent_at - rows["cutoff"]) / pd.Timedelta(1, "D")
    return rows


def member_bootstrap(members: np.ndarray, y: np.ndarray, p: np.ndarray, base: np.ndarray,
                     reps: int = 300, seed: int = 0) -> tuple[float, float]:
    """95% interval of ROC-AUC(p) - ROC-AUC(base) over test sets resampled by member."""
    codes = pd.factorize(members)[0]
    groups = [np.flatnonzero(codes == k) for k in range(codes.max() + 1)]
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(reps):
        pick = np.concatenate([groups[k] for k in rng.integers(0, len(groups), len(groups))])
        diffs.append(roc_auc(y[pick], p[pick]) - roc_auc(y[pick], base[pick]))
    return float(np.quantile(diffs, 0.025)), float(np.quantile(diffs, 0.975))


STALE_VARIANTS = {
    # name: (lags, sample one lag per send, keep the age column)
    "lag 0 (today)": ((0,), False, False),
    "lags 0/28/56 + age": ((0, 28, 56), False, True),
    "1 lag in 0..56 + age": ((0, 56), True, True),
    "lags 0/28/56": ((0, 28, 56), False, False),
    "1 lag in 0..56": ((0, 56), True, False),
}


def staleness(dataset, offers, split: str, train: pd.DataFrame, test: pd.DataFrame,
              variants=STALE_VARIANTS) -> None:
    """Print ROC-AUC / PR-AUC of models trained on lagged rows, planned-send style and as of
    each send (the send keys and labels of ``train`` / ``test``)."""
    cache: dict = {}

    def member_features(data, cutoff):
        if cutoff not in cache:
            cache[cutoff] = _response_member_features(data, cutoff)
        return cache[cutoff].copy()

    index = AffinityIndex(dataset, offers)
    keys = ["member_id", "offer_id", "sent_at", "window_end", LABEL]
    y = test[LABEL].to_numpy(dtype=bool)
    split_at = pd.Timestamp(split)
    test_sends = test[keys].reset_index(drop=True)
    planned_lag = (pd.to_datetime(test_sends["sent_at"]) - split_at) / pd.Timedelta(1, "D")
    tests = {
        "planned": stale_rows(dataset, offers, test_sends, planned_lag.to_numpy(),
                              member_features, index),
        "each send": stale_rows(dataset, offers, test_sends, 0.0, member_features, index),
    }
    print(f"  planned-send style: test features as of {split_at.date()}, ages "
          f"{planned_lag.min():.0f}..{planned_lag.max():.0f} days (median "
          f"{planned_lag.median():.0f})")
    print(f"  {'training rows':22s} {'rows':>6s} {'planned ROC':>11s} {'PR':>6s} "
          f"{'each send ROC':>13s} {'PR':>6s} {'CPU s':>6s}  planned - lag 0, 95%")
    members = test_sends["member_id"].astype(str).to_numpy()
    base = None
    for name, (lags, sample, age) in variants.items():
        started = time.process_time()
        sends = lagged_sends(train[keys], lags, sample=sample, random_state=0)
        rows = stale_rows(dataset, offers, sends, sends["lag_days"].to_numpy(),
                          member_features, index)
        if not age:
            rows = rows.drop(columns=[AGE])
        model = OfferResponseModel(estimator="logistic", random_state=0).fit(rows)
        cells, planned = [], None
        for part in tests.values():
            p = model.predict_proba_rows(part)
            planned = p if planned is None else planned
            cells += [roc_auc(y, p), pr_auc(y, p)]
        seconds = time.process_time() - started
        if base is None:
            base, interval = planned, ""
        else:
            low, high = member_bootstrap(members, y, planned, base)
            interval = f"  {cells[0] - roc_auc(y, base):+.4f} [{low:+.4f}, {high:+.4f}]"
        print(f"  {name:22s} {len(rows):6d} {cells[0]:11.4f} {cells[1]:6.4f} "
              f"{cells[2]:13.4f} {cells[3]:6.4f} {seconds:6.1f}{interval}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", nargs="+", default=["2017-08-01", "2017-09-01"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--stale-only", action="store_true",
                        help="only the planned-send style measure of lagged training rows")
    args = parser.parse_args(argv)
    with threadpool_limits(args.threads):
        dataset = load_dataset(args.data, now="2018-01-01")
        offers = offer_specs_from_events(dataset, args.data)
        for split in args.split:
            started = time.perf_counter()
            train, test = time_split_rows(dataset, offers, split)
            y = test[LABEL].to_numpy(dtype=bool)
            base = float(train[LABEL].mean())
            print(f"\nsplit {split}: {len(train)} training sends, {len(test)} test sends "
                  f"({y.mean():.3f} redeemed)")
            if args.stale_only:
                staleness(dataset, offers, split, train, test)
                continue
            extra = [type_history(dataset.offer_events, offers, part) for part in (train, test)]
            variants = {"today": ([], train, test)}
            for name, cols in (("+type rate", ["type_redemption_rate"]),
                               ("+type counts", ["type_sends", "type_redemptions"]),
                               ("+type recency", ["days_since_type_redemption"]),
                               ("+all four", list(CANDIDATES))):
                keep = [f"m__{c}" for c in cols]
                variants[name] = (cols, pd.concat([train, extra[0][keep]], axis=1),
                                  pd.concat([test, extra[1][keep]], axis=1))
            print(f"  {'features':16s} {'estimator':10s} {'ROC-AUC':>8s} {'PR-AUC':>8s}")
            for name, (_, tr, te) in variants.items():
                for kind in ("logistic", "hgb"):
                    p = OfferResponseModel(estimator=kind, random_state=0).fit(tr) \
                        .predict_proba_rows(te)
                    print(f"  {name:16s} {kind:10s} {roc_auc(y, p):8.3f} {pr_auc(y, p):8.3f}")
            rate = baseline_scores(test, base)["past_redemption_rate"]
            print(f"  {'past rate':16s} {'-':10s} {roc_auc(y, rate):8.3f} {pr_auc(y, rate):8.3f}")
            rfm = rfm_boosting(train, test)
            print(f"  {'RFM only':16s} {'hgb':10s} {roc_auc(y, rfm):8.3f} {pr_auc(y, rfm):8.3f}"
                  f"   [{time.perf_counter() - started:.0f}s]")
            staleness(dataset, offers, split, train, test)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
