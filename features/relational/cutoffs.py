"""Member purchase aggregates at several cutoffs in one pass (issue 11).

The churn and value windows build the member features at up to ten cutoffs
(the windows of the version's horizon and of 30/60/90 days). Built one cutoff
at a time on an engine, each build is about fifteen queries and temporary
tables, and on small data (Complete Journey) those per-query costs, not the
scans, decided: 2.5 CPU s a build on DuckDB against 0.5 in pandas
(bench/RESULTS.md). :func:`purchase_aggregates_at` gives the frames of
:func:`features.relational.purchases.purchase_aggregates` at every cutoff of a
list with a fixed number of queries, whatever the number of cutoffs:

- the lines before the last cutoff are grouped once into *sub-baskets*
  (member, basket, timestamp: the finest grouping a cutoff cannot split), each
  with its basket's first time; the distinct (member, item) pairs with their
  first time; the (member, department, category) spend per *span* (between two
  consecutive cutoffs);
- those tables are joined to the cutoffs after them (an equality join on the
  span, :class:`CutoffTables`) and grouped by (cutoff, member): the cutoff
  column multiplies only these aggregated rows, never the lines, and the
  results hold a row per member and cutoff (and per department or top category
  for the spend mix).

Memory: the aggregated tables grow with the number of cutoffs (member x
category x cutoff for the top category) and the distinct pairs are grouped in
one query (not in slices, as :mod:`.pairs` does above 30M lines): meant for the
windows' member sample (50,000 members by default), not every member of a
large program.

The definitions are those of the one-cutoff functions (a basket's time is its
first line's, the purchase days are its baskets' days, and so on), so the
results are equal up to the order of float sums. One Ibis definition, run on
DuckDB and Spark.

Imports: :mod:`features` modules only.
"""

from __future__ import annotations

import itertools

import ibis
import numpy as np
import pandas as pd

from features.code_groups import to_cutoff
from features.coupon_features import COUPON_COLUMN
from features.purchase_features import check_arguments
from features.relational.coupons import coupon_aggregates, coupon_frame, coupon_lines
from features.relational.events import offer_aggregates, offer_frame, offer_lines
from features.relational.portable import materialize, register_frame, release, to_frame
from features.relational.purchases import (
    US_PER_DAY,
    catalog_frame,
    lines_before,
    mix_frame,
    no_spend_mix,
    purchase_frame,
    top_categories,
)

_NAMES = itertools.count()


def cutoff_list(cutoffs) -> list[pd.Timestamp]:
    """The distinct cutoffs (:func:`features.code_groups.to_cutoff`), ascending."""
    return sorted({to_cutoff(c) for c in cutoffs})


class CutoffTables:
    """The cutoffs on the engine, and the temporary tables made for them (:meth:`close`).

    A time's *span* is the number of cutoffs at or before it: a row is before the
    cutoff at position ``k`` (ascending) when its span is at most ``k``. The table
    ``spans`` holds each (``span``, ``k``, ``cut_us``) with ``span <= k``: an equality
    join on ``span`` gives each row once per cutoff after it.
    """

    def __init__(self, backend, cutoffs: list[pd.Timestamp]):
        self.backend, self.cutoffs, self.made = backend, cutoffs, []
        self.cut_us = [int(c.value // 1000) for c in cutoffs]
        self.tag = next(_NAMES)
        rows = [(s, k, cut) for k, cut in enumerate(self.cut_us) for s in range(k + 1)]
        self.spans = self.register("feature_cutoff_spans", pd.DataFrame(
            rows, columns=["span", "k", "cut_us"]).astype("int64"))

    def register(self, name: str, frame: pd.DataFrame):
        return register_frame(self.backend, f"{name}_{self.tag}", frame)

    def materialize(self, expr, name: str):
        name = f"{name}_{self.tag}"
        self.made.append(name)
        return materialize(expr, name)

    def span(self, ts_us):
        """The span of ``ts_us`` (microseconds), as an expression."""
        return sum((ts_us >= cut).cast("int64") for cut in self.cut_us)

    def expand(self, table):
        """``table`` (with ``span``) once per cutoff after it (``k`` and ``cut_us`` added)."""
        return table.inner_join(self.spans, "span")

    def split(self, frame: pd.DataFrame) -> dict[int, pd.DataFrame]:
        """``frame``'s rows per cutoff position (``k`` dropped); every position present."""
        parts = dict(iter(frame.groupby("k", sort=False)))
        empty = frame.iloc[:0]
        return {k: parts.get(k, empty).drop(columns="k") for k in range(len(self.cutoffs))}

    def close(self) -> None:
        # The last first: on Spark a cached view that reads another must go before it.
        for name in reversed(self.made):
            release(self.backend, name)
        self.made = []


def offer_counts_at(events, cutoffs: list[pd.Timestamp]) -> dict[pd.Timestamp, pd.DataFrame]:
    """:func:`features.relational.events.offer_counts` at each of ``cutoffs`` (ascending,
    :func:`cutoff_list`), from one query."""
    tables = CutoffTables(ibis.get_backend(events), cutoffs)
    counted = offer_lines(events)
    j = tables.expand(counted.mutate(span=tables.span(counted.ts_us)))
    parts = tables.split(to_frame(j.group_by(["k", "member_id"]).aggregate(
        **offer_aggregates(j))))
    return {cut: offer_frame(parts[k]) for k, cut in enumerate(cutoffs)}


def coupon_counts_at(lines, cutoffs: list[pd.Timestamp],
                     baskets: dict[pd.Timestamp, pd.Series]) -> dict | None:
    """:func:`features.relational.coupons.coupon_counts` at each of ``cutoffs`` (ascending),
    from one query; None when the lines have no coupon discount."""
    if COUPON_COLUMN not in lines.columns or not cutoffs:
        return None
    tables = CutoffTables(ibis.get_backend(lines), cutoffs)
    used = coupon_lines(lines_before(lines, cutoffs[-1]))
    j = tables.expand(used.mutate(span=tables.span(used.ts_us)))
    parts = tables.split(to_frame(j.group_by(["k", "member_id"]).aggregate(
        **coupon_aggregates(j))))
    return {cut: coupon_frame(parts[k], baskets[cut], tables.cut_us[k])
            for k, cut in enumerate(cutoffs)}


def purchase_aggregates_at(lines, items: pd.DataFrame, cutoffs, *, n_categories: int = 20,
                           trend_days: float = 90, spend_mix: bool = True,
                           ) -> dict[pd.Timestamp, pd.DataFrame]:
    """:func:`~features.relational.purchases.purchase_aggregates` at each of ``cutoffs``.

    Returns ``{cutoff: frame}`` (cutoffs as :func:`cutoff_list` gives them); each frame
    equals the one-cutoff function's up to float summation order.
    """
    check_arguments(items, n_categories, trend_days)
    cuts = cutoff_list(cutoffs)
    if not cuts:
        return {}
    before = lines_before(lines, cuts[-1])
    tables = CutoffTables(ibis.get_backend(before), cuts)
    try:
        figures = _figures(before, tables, int(round(trend_days * US_PER_DAY)))
        mixes = (_spend_mix_at(before, items, tables, n_categories,
                               {k: f.index for k, f in figures.items()}) if spend_mix
                 else {k: no_spend_mix(f.index) for k, f in figures.items()})
    finally:
        tables.close()
    return {cut: purchase_frame(figures[k], cut.value // 1000, *mixes[k])
            for k, cut in enumerate(cuts)}


def _figures(before, tables: CutoffTables, window: int) -> dict[int, pd.DataFrame]:
    """Per cutoff position, the per-member figures ``_derived`` reads, indexed by member."""
    grouped = before.group_by(["member_id", "basket_id", "ts_us"]).aggregate(
        s_amount=before.amount.sum(), s_discount=before.discount.sum(), s_lines=before.count())
    first = grouped.ts_us.min().over(ibis.window(group_by=["member_id", "basket_id"]))
    sub = tables.materialize(grouped.mutate(b_time=first, span=tables.span(grouped.ts_us)),
                             "member_sub_baskets")
    j = tables.expand(sub)
    recent = j.b_time >= j.cut_us - window
    earlier = (j.b_time >= j.cut_us - 2 * window) & ~recent
    per = j.group_by(["k", "member_id"]).aggregate(
        frequency=(j.ts_us == j.b_time).cast("int64").sum(),  # one sub-basket opens a basket
        total=j.s_amount.sum(),
        discount=j.s_discount.sum(),
        last=j.b_time.max(),
        first=j.b_time.min(),
        n_lines=j.s_lines.sum(),
        spend_recent=ibis.ifelse(recent, j.s_amount, 0.0).sum(),
        spend_earlier=ibis.ifelse(earlier, j.s_amount, 0.0).sum(),
    )
    # A purchase day is in a cutoff's days when one of its baskets is; its gap to the
    # member's day before is then too (that day is earlier): gaps are computed once.
    opened = sub.filter(sub.ts_us == sub.b_time)
    days = opened.mutate(day=opened.b_time // US_PER_DAY).group_by(["member_id", "day"]) \
        .aggregate(span=opened.span.min())
    w = ibis.window(group_by="member_id", order_by="day")
    gaps = days.mutate(gap=(days.day - days.day.lag().over(w)).cast("float64"))
    g = tables.expand(gaps.filter(gaps.gap.notnull()))
    gap_stats = g.group_by(["k", "member_id"]).aggregate(
        gap_mean=g.gap.mean(), gap_std=g.gap.std(how="pop"))
    pairs = before.group_by(["member_id", "item_id"]).aggregate(
        span=tables.span(before.ts_us.min()))
    p = tables.expand(pairs)
    distinct = p.group_by(["k", "member_id"]).aggregate(n_items_distinct=p.count())
    parts = [tables.split(to_frame(e)) for e in (per, gap_stats, distinct)]
    out = {}
    for k in range(len(tables.cutoffs)):
        frame, gap, items = (_indexed(part[k]) for part in parts)
        out[k] = frame.join(gap).join(items)
    return out


def _indexed(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.set_index("member_id").sort_index()
    frame.index = pd.Index(frame.index, dtype="str", name="member_id")
    return frame


def _spend_mix_at(before, items: pd.DataFrame, tables: CutoffTables, n_categories: int,
                  indexes: dict[int, pd.Index]) -> dict[int, tuple]:
    """:func:`~features.relational.purchases.mix_frame`'s result per cutoff position.

    Departments and categories are grouped on as integer codes (their positions in
    name order, so that ties still go to the first name), named again in pandas.
    """
    catalog, dept_labels = catalog_frame(items)
    cat_labels = sorted(catalog["category"].dropna().unique())
    coded = pd.DataFrame({
        "item_id": catalog["item_id"],
        "dept": _codes(catalog["department"], dept_labels),
        "cat": _codes(catalog["category"], cat_labels)})
    known = before.inner_join(tables.register("catalog_codes", coded), "item_id")
    # The one pass over the lines joined to the catalogue: spend per member, department,
    # category and span.
    spans = tables.materialize(
        known.group_by(["member_id", "dept", "cat", tables.span(known.ts_us).name("span")])
        .aggregate(spend=known.amount.sum()), "member_spend_spans")

    def at_cutoffs(keys):
        grouped = spans.group_by([*keys, "span"]).aggregate(spend=spans.spend.sum())
        j = tables.expand(grouped)
        return j.group_by(["k", *keys]).aggregate(spend=j.spend.sum())

    cat_spend = tables.split(_named(to_frame(at_cutoffs(["cat"])), "cat", "category",
                                    cat_labels))
    tops = {k: top_categories(cat_spend[k], n_categories) for k in cat_spend}
    position = {c: i for i, c in enumerate(cat_labels)}
    chosen = tables.register("feature_top_categories", pd.DataFrame(
        {"t_k": [k for k, top in tops.items() for _ in top],
         "bucket": [position[c] for top in tops.values() for c in top]}, dtype="int64"))
    by_cat = tables.materialize(at_cutoffs(["member_id", "cat"]), "member_category_spend_at")
    # Categories outside the cutoff's top go to a null bucket (named once in pandas).
    labelled = by_cat.left_join(chosen, [by_cat.k == chosen.t_k, by_cat.cat == chosen.bucket])
    by_top = tables.materialize(labelled.group_by(["k", "member_id", "bucket"]).aggregate(
        spend=labelled.spend.sum()), "member_top_spend_at")
    by_dept = tables.materialize(at_cutoffs(["member_id", "dept"]), "member_dept_spend_at")
    # Each member's largest category at each cutoff (ties: the first name, the lowest code):
    # the maximum, then the categories that reach it (no window sort of every pair).
    most = by_cat.group_by(["k", "member_id"]).aggregate(most=by_cat.spend.max())
    reach = by_cat.inner_join(most, ["k", "member_id"])
    reach = reach.filter(reach.spend == reach.most)
    best = tables.materialize(reach.group_by(["k", "member_id"]).aggregate(
        category=reach.cat.min()), "member_best_category_at")

    def at(table, k: int, column: str, name: str, labels: list) -> pd.DataFrame:
        return _named(to_frame(table.filter(table.k == k).drop("k")), column, name, labels)

    # One cutoff's long rows in memory at a time: fetched for every cutoff at once, the
    # (member, department) and (member, top category) rows were the windows step's peak
    # (1M members: 3,875 MiB against 3,465 for the rest of it; bench/RESULTS.md issue 11).
    return {k: mix_frame(at(by_dept, k, "dept", "department", dept_labels),
                         at(by_top, k, "bucket", "bucket", cat_labels),
                         at(best, k, "category", "category", cat_labels),
                         tops[k], dept_labels, indexes[k])
            for k in indexes}


def _codes(values: pd.Series, labels: list) -> pd.array:
    """Positions of ``values`` in ``labels`` (missing: NA), as nullable integers."""
    codes = pd.Categorical(values, categories=labels).codes.astype("int64")
    return pd.arrays.IntegerArray(codes, mask=codes < 0)


def _named(frame: pd.DataFrame, column: str, name: str, labels: list) -> pd.DataFrame:
    """``frame`` with the integer codes of ``column`` as their labels in column ``name``
    (missing stays missing)."""
    codes = frame.pop(column).to_numpy(dtype="float64", na_value=float("nan"))
    known = ~pd.isna(codes)
    named = np.full(len(codes), None, dtype=object)
    named[known] = np.asarray(labels, dtype=object)[codes[known].astype("int64")]
    frame[name] = pd.array(named, dtype="str")
    return frame
