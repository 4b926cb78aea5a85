"""Readable, unique labels for behavioural clusters, read from their profiles.

A label joins up to four words about a cluster, each from one column of its
profile compared with the whole population (the ``reference``):

- **lapsed** when the cluster's median ``recency_days`` exceeds both
  :data:`LAPSED_MIN_DAYS` and :data:`LAPSED_CYCLES` times its median interval
  between purchases;
- **cadence** from the median interval between purchases (:data:`CADENCE_WORDS`):
  "twice-weekly", "weekly", "fortnightly", "monthly", "occasional", or
  "one-time" when most members bought once;
- **spend** from the median ``monetary_total`` relative to the population's:
  "high spenders" at 1.5x or more, "low spenders" at 2/3 or less, "mid spenders"
  between;
- **mix**: the share column (department or category) the cluster over-indexes
  on most, as "<name>-heavy", among the columns holding at least
  ``min_share`` of the population's spend; "mixed baskets" when no column
  reaches an index of :data:`MIX_MIN_LIFT`, and no word at all when fewer than
  two named columns hold that much (one item or one category: no mix to speak of);
- **deal-seeking** when the cluster's mean ``discount_share`` is at least
  :data:`DEAL_LIFT` times the population's.

For example "weekly high spenders, produce-heavy" or "lapsed occasional low
spenders, mixed baskets, deal-seeking". Labels are made unique by appending the
next over-indexed column, then the spend trend ("spending more", "spending
less" or "steady spend", from the cluster's mean ``spend_trend``, the log ratio
of the last 90 days' spend to the 90 before, at :data:`TREND_WORD_LOG_RATIO`)
where it tells the clusters apart, then the cluster id.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

#: (upper bound in days, word) for the median interval between purchases.
CADENCE_WORDS: tuple[tuple[float, str], ...] = (
    (5.0, "twice-weekly"),
    (10.0, "weekly"),
    (21.0, "fortnightly"),
    (45.0, "monthly"),
    (math.inf, "occasional"),
)
HIGH_SPEND = 1.5
LOW_SPEND = 2 / 3
MIX_MIN_LIFT = 1.2
DEAL_LIFT = 1.5
LAPSED_MIN_DAYS = 60.0
LAPSED_CYCLES = 3.0
#: |mean spend_trend| from which a cluster is "spending more" or "spending less" (a log
#: ratio: 0.5 is about 1.65 times).
TREND_WORD_LOG_RATIO = 0.5
#: Profile columns the words are read from (besides the share columns).
MEDIAN_RECENCY = "median_recency_days"
MEDIAN_INTERVAL = "median_interpurchase_days"
MEDIAN_MONETARY = "median_monetary_total"


def cadence_word(days: float) -> str:
    """Word for a median interval between purchases of ``days`` (NaN: "one-time").

    >>> cadence_word(6.5), cadence_word(30), cadence_word(float("nan"))
    ('weekly', 'monthly', 'one-time')
    """
    if days is None or not np.isfinite(days):
        return "one-time"
    return next(word for bound, word in CADENCE_WORDS if days < bound)


def spend_word(ratio: float) -> str:
    """Word for a median spend ``ratio`` times the population's median.

    >>> spend_word(2.0), spend_word(1.0), spend_word(0.5)
    ('high spenders', 'mid spenders', 'low spenders')
    """
    if ratio >= HIGH_SPEND:
        return "high spenders"
    if ratio <= LOW_SPEND:
        return "low spenders"
    return "mid spenders"


def share_name(column: str) -> str:
    """Readable name of a share column: ``"dept_share__DRUG GM"`` -> ``"drug gm"``."""
    name = column.split("__", 1)[-1]
    return name.replace("_", " ").strip().lower()


def mix_words(
    profile: pd.Series, reference: pd.Series, share_columns: list[str], min_share: float
) -> list[str]:
    """Over-indexed share columns of one profile as ``"<name>-heavy"``, best first.

    Only columns whose population mean share is at least ``min_share`` count,
    and only those with an index (cluster mean / population mean) of at least
    :data:`MIX_MIN_LIFT`. Names repeated across departments and categories
    appear once.
    """
    lifts = {}
    for column in share_columns:
        base = reference.get(column, np.nan)
        value = profile.get(column, np.nan)
        if not (np.isfinite(base) and np.isfinite(value)) or base < min_share:
            continue
        name = share_name(column)
        if name in ("other", "unknown"):
            continue
        lifts[name] = max(lifts.get(name, 0.0), value / base)
    ranked = sorted(lifts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [f"{name}-heavy" for name, lift in ranked if lift >= MIX_MIN_LIFT]


def base_words(profile: pd.Series, reference: pd.Series) -> str:
    """The lapsed, cadence and spend words of one profile, e.g. ``"weekly high spenders"``."""
    interval = profile.get(MEDIAN_INTERVAL, np.nan)
    recency = profile.get(MEDIAN_RECENCY, np.nan)
    words = []
    cycles = LAPSED_CYCLES * interval if np.isfinite(interval) else 0.0
    if np.isfinite(recency) and recency > max(LAPSED_MIN_DAYS, cycles):
        words.append("lapsed")
    words.append(cadence_word(interval))
    base = reference.get(MEDIAN_MONETARY, np.nan)
    spend = profile.get(MEDIAN_MONETARY, np.nan)
    ratio = spend / base if np.isfinite(base) and base > 0 else 1.0
    words.append(spend_word(ratio))
    return " ".join(words)


def cluster_labels(
    profiles: pd.DataFrame,
    reference: pd.Series,
    share_columns: list[str],
    *,
    min_share: float = 0.02,
) -> dict[int, str]:
    """A unique readable label for every row of ``profiles``.

    Parameters
    ----------
    profiles : DataFrame, shape (n_clusters, n_columns)
        Indexed by cluster id; columns :data:`MEDIAN_RECENCY`,
        :data:`MEDIAN_INTERVAL`, :data:`MEDIAN_MONETARY`, ``discount_share``
        and ``share_columns`` (cluster means). Missing columns are skipped.
    reference : Series
        The same quantities over the whole population.
    share_columns : list of str
        Department and category share columns to look for over-indexing in.
    min_share : float
        Share columns below this population mean are ignored.

    Returns
    -------
    dict
        ``{cluster id: label}``.
    """
    parts: dict[int, list[str]] = {}
    extras: dict[int, list[str]] = {}
    named = {share_name(c) for c in share_columns
             if np.isfinite(reference.get(c, np.nan)) and reference.get(c) >= min_share}
    basket_mix = len(named - {"other", "unknown"}) >= 2
    for cid, profile in profiles.iterrows():
        mixes = mix_words(profile, reference, share_columns, min_share)
        words = [base_words(profile, reference)]
        if mixes or basket_mix:
            words.append(mixes[0] if mixes else "mixed baskets")
        deal = reference.get("discount_share", np.nan)
        mine = profile.get("discount_share", np.nan)
        if np.isfinite(deal) and deal > 0 and np.isfinite(mine) and mine >= DEAL_LIFT * deal:
            words.append("deal-seeking")
        parts[int(cid)] = words
        extras[int(cid)] = mixes[1:]
    labels = {cid: ", ".join(words) for cid, words in parts.items()}
    for cid in _duplicated(labels):
        if extras[cid]:
            words = parts[cid]
            labels[cid] = ", ".join(words[:2] + [extras[cid][0]] + words[2:])
    for same in _duplicate_groups(labels):
        trends = {cid: trend_word(profiles.loc[cid].get("spend_trend", np.nan)) for cid in same}
        if len(set(trends.values())) > 1:  # the trend tells them apart
            for cid in same:
                labels[cid] = f"{labels[cid]}, {trends[cid]}"
    for cid in _duplicated(labels):
        labels[cid] = f"{labels[cid]} #{cid}"
    return labels


def trend_word(log_ratio: float) -> str:
    """Word for a cluster's mean ``spend_trend`` (log ratio of recent to earlier spend).

    >>> trend_word(0.8), trend_word(-2.0), trend_word(0.1)
    ('spending more', 'spending less', 'steady spend')
    """
    if np.isfinite(log_ratio) and log_ratio >= TREND_WORD_LOG_RATIO:
        return "spending more"
    if np.isfinite(log_ratio) and log_ratio <= -TREND_WORD_LOG_RATIO:
        return "spending less"
    return "steady spend"


def _duplicate_groups(labels: dict[int, str]) -> list[list[int]]:
    groups: dict[str, list[int]] = {}
    for cid, label in labels.items():
        groups.setdefault(label, []).append(cid)
    return [ids for ids in groups.values() if len(ids) > 1]


def _duplicated(labels: dict[int, str]) -> list[int]:
    return [cid for same in _duplicate_groups(labels) for cid in same]
