"""Policy replay: what a new catalog, model version or setting would have earned on logged
decisions (``offers replay``).

For every logged decision that showed an offer, the new engine decides again
for the same member, channel and moment; its first offer ``a*`` is compared
with the first offer the log shows. The reward is whether the member redeemed
the logged offer within ``window_days`` (a ``reward`` column of the log, or
computed from an ``offer_events`` table). The logging probability of ``a*``
follows from the record: ``epsilon / n + (1 - epsilon) [a* is the greedy
offer]`` when ``a*`` was a candidate, else 0. Decisions whose ``a*`` the
logged policy could never show have no support; past ``max_unsupported`` of
them the estimate is refused (no overlap) instead of being silently biased.

The reward model of the doubly robust estimator is the new engine's
P(redeem) of ``a*``.

Known limits: only the first offer of a decision is evaluated; frequency
caps, budgets and the contact policy are not replayed (the new engine decides
without history); the control group is not part of the replayed policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from features.errors import DataError
from features.files import read_frame
from serving.replay.estimators import Estimate, effective_sample_size, estimate

MIN_ESS = 30  # below this effective sample size the result says the interval is unreliable


@dataclass
class ReplayResult:
    """Estimates of the new policy's redemption rate per decision, with the evidence."""

    estimates: list[Estimate]
    logged_value: float     # the logged policy's observed redemption rate
    n_logged: int           # decisions in the log
    n_used: int             # decisions that showed an offer (the ones replayed)
    unsupported: float      # share of used decisions the logs cannot support
    agreement: float        # share where the new policy picks the logged first offer
    ess: float              # effective sample size of the importance weights
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"estimates": [e.to_dict() for e in self.estimates],
                "logged_value": self.logged_value, "n_logged": self.n_logged,
                "n_used": self.n_used, "unsupported": self.unsupported,
                "agreement": self.agreement, "effective_sample_size": self.ess,
                "warnings": list(self.warnings)}


def read_events(path: str | Path) -> pd.DataFrame:
    """An ``offer_events`` table: a data directory's, or a .csv/.parquet file."""
    p = Path(path)
    if p.is_dir():
        for name in ("offer_events.parquet", "offer_events.csv"):
            if (p / name).is_file():
                p = p / name
                break
        else:
            raise DataError(f"{path} has no offer_events.csv or .parquet; export the events "
                            "with `offers events export`.")
    if not p.is_file():
        raise DataError(f"events {path} is neither a data directory nor an events file.")
    frame = read_frame(p, "events file", dtype=str)
    missing = {"member_id", "offer_id", "event", "timestamp"} - set(frame.columns)
    if missing:
        raise DataError(f"{p} is not an offer_events table: column(s) "
                        f"{', '.join(sorted(missing))} missing.")
    return frame


def rewards_from_events(logs: pd.DataFrame, events: pd.DataFrame,
                        window_days: float) -> np.ndarray:
    """1 where the member redeemed the decision's first offer within ``window_days``."""
    first = pd.DataFrame({"i": np.arange(len(logs)),
                          "member_id": logs["member_id"].astype(str).to_numpy(),
                          "offer_id": [s[0]["offer_id"] for s in logs["shown"]],
                          "at": _naive_utc(logs["decided_at"]).to_numpy()})
    red = events[events["event"].astype(str) == "redeemed"]
    red = pd.DataFrame({"member_id": red["member_id"].astype(str).to_numpy(),
                        "offer_id": red["offer_id"].astype(str).to_numpy(),
                        "ts": _naive_utc(red["timestamp"]).to_numpy()})
    joined = first.merge(red, on=["member_id", "offer_id"], how="inner")
    delta = joined["ts"] - joined["at"]
    hit = joined[(delta >= pd.Timedelta(0)) & (delta <= pd.Timedelta(days=window_days))]
    out = np.zeros(len(logs))
    out[hit["i"].unique()] = 1.0
    return out


def replay(engine, logs: pd.DataFrame, *, events: pd.DataFrame | None = None,
           window_days: float = 14.0, interval: str = "normal", level: float = 0.95,
           max_unsupported: float = 0.05, seed: int = 0) -> ReplayResult:
    """Estimate the value of ``engine``'s policy on ``logs`` (:func:`read_decisions`'s frame).

    Raises
    ------
    DataError
        When the logs cannot support an estimate: no decision with an offer,
        decisions without propensities, no rewards (neither a ``reward``
        column nor ``events``), or too many decisions without overlap.
    """
    n_logged = len(logs)
    shown = logs["shown"].map(lambda s: bool(s))
    if "suppressed" in logs.columns:
        shown &= logs["suppressed"].isna() | (logs["suppressed"].astype(str) == "")
    used = logs[shown].reset_index(drop=True)
    if used.empty:
        raise DataError(f"none of the {n_logged} logged decisions showed an offer: nothing to "
                        "replay.")
    propensity = np.array([_propensity(s[0]) for s in used["shown"]])
    if not np.all(np.isfinite(propensity) & (propensity > 0)):
        bad = int(np.sum(~(np.isfinite(propensity) & (propensity > 0))))
        raise DataError(f"{bad} of {len(used)} logged decisions have no propensity for the offer "
                        "shown: replay needs the probability each offer was shown (export the "
                        "engine's decision log with `offers events export --decisions`).")
    if "reward" in used.columns:
        reward = pd.to_numeric(used["reward"], errors="coerce").to_numpy(dtype=float)
        if not np.all(np.isfinite(reward)):
            raise DataError("the log's reward column has empty or non-numeric values.")
    elif events is not None:
        reward = rewards_from_events(used, events, window_days)
    else:
        raise DataError("no rewards: pass --events (the offer_events table with the "
                        "redemptions) or add a reward column to the log.")
    engine = _without_control(engine)
    logged = np.array([s[0]["offer_id"] for s in used["shown"]], dtype=object)
    target = np.empty(len(used), dtype=object)
    q = np.zeros(len(used))
    p_log_target = np.zeros(len(used))
    for i, row in enumerate(used.itertuples(index=False)):
        decision = engine.decide(str(row.member_id), _channel(row.channel), limit=1,
                                 now=row.decided_at)
        if not decision.offers:
            target[i] = None
            continue
        offer = decision.offers[0]
        target[i], q[i] = offer["offer_id"], float(offer["p_redeem"])
        p_log_target[i] = _logging_probability(target[i], row.candidates, row.epsilon)
    chosen = target != None  # noqa: E711 (element-wise over an object array)
    unsupported = float(np.mean(chosen & (p_log_target <= 0)))
    if unsupported > max_unsupported:
        raise DataError(
            f"the logs cannot support this estimate (no overlap): for {unsupported:.0%} of the "
            f"{len(used)} decisions the new policy's offer could never have been shown by the "
            f"logged policy (allowed: {max_unsupported:.0%}). Collect logs with exploration "
            "(`[engine] epsilon = 0.05` in the serving config) or with a catalog that has the "
            "new offers.")
    pi = (target == logged).astype(float)
    estimates = estimate(reward, propensity, pi, q_logged=np.where(pi > 0, q, 0.0), q_target=q,
                         interval=interval, level=level, seed=seed)
    w = pi / propensity
    ess = effective_sample_size(w)
    warnings = []
    if ess < MIN_ESS:
        warnings.append(f"effective sample size {ess:.0f} is below {MIN_ESS}: the new policy "
                        "agrees with too few logged decisions for a reliable interval.")
    if unsupported > 0:
        warnings.append(f"{unsupported:.1%} of decisions have no overlap and count as "
                        "reward 0 in IPS/SNIPS (a lower bound for them).")
    return ReplayResult(estimates, float(np.mean(reward)), n_logged, len(used), unsupported,
                        float(np.mean(pi)), ess, warnings)


def _propensity(item) -> float:
    try:
        return float(item.get("propensity"))
    except (TypeError, ValueError, AttributeError):
        return float("nan")


def _logging_probability(offer_id: str, candidates, epsilon) -> float:
    """How likely the logged policy was to show ``offer_id`` first."""
    ids = [c["offer_id"] for c in candidates or []]
    if offer_id not in ids:
        return 0.0
    eps = float(epsilon) if epsilon is not None and np.isfinite(float(epsilon)) else 0.0
    return eps / len(ids) + (1 - eps) * (offer_id == ids[0])


def _channel(value) -> str:
    return str(value) if isinstance(value, str) and value else "email"


def _naive_utc(values) -> pd.Series:
    return pd.to_datetime(pd.Series(values).astype(str), utc=True,
                          format="mixed").dt.tz_localize(None).reset_index(drop=True)


def _without_control(engine):
    """The engine deciding for everyone (replay evaluates the offer choice, not holdouts)."""
    if engine.control_share == 0:
        return engine
    clone = object.__new__(type(engine))
    clone.__dict__.update(engine.__dict__)
    clone.control_share = 0.0
    clone.config = replace(engine.config, control_share=0.0)
    return clone
