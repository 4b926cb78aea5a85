"""Per-member purchase aggregates on the engine: the columns of
:func:`features.purchase_features.purchase_features`, from lines that stay in the engine.

Lines are reduced to baskets, purchase days and (member, department/category)
spend inside the engine; only one row per member (and per member x top
category / department) comes into pandas, where the few derived columns
(ratios, the population prior of the purchase cycle) are computed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import numpy as np
import pandas as pd
from ibis import util

from features.code_groups import column_names, safe_divide, to_cutoff
from features.errors import ConfigError
from features.purchase_features import RFM_COLUMNS, check_arguments
from features.relational.pairs import US_PER_DAY, PairCounts, pair_counts
from features.relational.portable import (
    line_count,
    materialize,
    register_frame,
    release,
    stage,
    to_frame,
    unstage,
)

_OTHER = "\x00other"  # a category label no real category has (sorts first)


def lines_before(lines, cutoff: pd.Timestamp):
    """The lines strictly before ``cutoff`` (Ibis table with ``ts_us``)."""
    return lines.filter(lines.ts_us < cutoff.value // 1000)


def basket_rows(lines):
    """The lines summed per (member, basket, time): ``member_id``, ``basket_id``, ``ts_us``,
    ``amount``, ``discount`` (sums) and ``n_lines``.

    The per-member queries that need of a line only its member, basket, time, amount
    and discount (the baskets of the member features, the purchase-cycle summary, the
    program KPIs) give the same answers on these rows as on the lines: every row keeps
    one time, so a cutoff and a first or last time select what they select among the
    lines. There are about a fifth as many (a basket's lines share their time in the
    Complete Journey and the synthetic data): at 1M synthetic members the KPIs and the
    summary took 23.8 s on them against 41.7 s on the lines, for 10.7 s to make them
    once into a staged Parquet file (``bench/bench_basket_table.py``).
    """
    return lines.group_by(["member_id", "basket_id", "ts_us"]).aggregate(
        amount=lines.amount.sum(), discount=lines.discount.sum(),
        n_lines=lines.count().cast("int64"))


def purchase_aggregates(
    lines,
    items: pd.DataFrame,
    as_of,
    *,
    n_categories: int = 20,
    trend_days: float = 90,
    spend_mix: bool = True,
    pairs: PairCounts | None = None,
    spend: SpendPairs | None = None,
    baskets=None,
) -> pd.DataFrame:
    """Per-member purchase features (same frame as ``purchase_features``, rows sorted by id).

    Parameters
    ----------
    lines : Ibis table
        Canonical lines from :mod:`features.relational.tables`.
    items : DataFrame
        Canonical items (``item_id``, ``category``, optional ``department``).
    as_of, n_categories, trend_days, spend_mix
        As in :func:`features.purchase_features.purchase_features`.
    pairs : PairCounts, optional
        The distinct (member, item) pairs of the same lines and cutoff, counted
        once for the member and item features (:func:`.pairs.pair_counts`);
        counted here when None (or made for another cutoff).
    spend : SpendPairs, optional
        The (member, department, category) spend of the same lines, items and cutoff,
        staged by the caller to serve other steps too (:func:`spend_pairs`); grouped
        here when None (or made for another cutoff).
    baskets : Ibis table, optional
        The same lines' :func:`basket_rows` (every line, any cutoff): the baskets are
        summed from them instead of from the lines.
    """
    cutoff = to_cutoff(as_of)
    check_arguments(items, n_categories, trend_days)
    cut = cutoff.value // 1000
    window = int(round(trend_days * US_PER_DAY))
    before = lines_before(lines, cutoff)
    backend = ibis.get_backend(before)
    # Baskets once into a (spillable) temporary table; the per-member figures are then
    # three separate queries joined in pandas (one row per member each). One query
    # joining them all held every hash table at once: member features took 62.8 s
    # against 51.8 s so at 200k members under a 1 GB limit (bench/RESULTS.md).
    rows = before if baskets is None else lines_before(baskets, cutoff)
    b = materialize(rows.group_by(["member_id", "basket_id"]).aggregate(
        b_time=rows.ts_us.min(),
        b_amount=rows.amount.sum(),
        b_discount=rows.discount.sum(),
        b_lines=line_count(rows),
    ), "member_baskets")
    recent = b.b_time >= cut - window
    earlier = (b.b_time >= cut - 2 * window) & ~recent
    per = b.group_by("member_id").aggregate(
        frequency=b.count(),
        total=b.b_amount.sum(),
        discount=b.b_discount.sum(),
        last=b.b_time.max(),
        first=b.b_time.min(),
        n_lines=b.b_lines.sum(),
        spend_recent=ibis.ifelse(recent, b.b_amount, 0.0).sum(),
        spend_earlier=ibis.ifelse(earlier, b.b_amount, 0.0).sum(),
    )
    days = b.select("member_id", day=(b.b_time // US_PER_DAY)).distinct()
    w = ibis.window(group_by="member_id", order_by="day")
    gaps = days.mutate(gap=(days.day - days.day.lag().over(w)).cast("float64"))
    gaps = gaps.filter(gaps.gap.notnull())
    gap_stats = gaps.group_by("member_id").aggregate(
        gap_mean=gaps.gap.mean(), gap_std=gaps.gap.std(how="pop")
    )
    frame = _by_member(per).join(_by_member(gap_stats))
    release(backend, "member_baskets")  # its memory goes to the distinct pairs below
    if pairs is None or pairs.cut_us != cut:
        pairs = pair_counts(before, cut, cut, float(frame["n_lines"].sum()))
    frame = frame.join(pairs.members)
    mix = (_spend_mix(lines, cutoff, items, frame.index, n_categories, spend) if spend_mix
           else no_spend_mix(frame.index))
    return purchase_frame(frame, cut, *mix)


def purchase_frame(frame: pd.DataFrame, cut: int, shares: pd.DataFrame, top_cat,
                   top_dept) -> pd.DataFrame:
    """The returned frame of :func:`purchase_aggregates` from the per-member figures
    (``frame``: the engine's aggregates and ``n_items_distinct``) and the spend mix."""
    out = _derived(frame, cut)
    tail = pd.DataFrame(
        {
            "top_category": pd.array(top_cat, dtype="str"),
            "top_department": pd.array(top_dept, dtype="str"),
            "discount_share": safe_divide(frame["discount"], frame["total"] + frame["discount"]),
        },
        index=frame.index,
    )
    return pd.concat([out, shares, tail], axis=1)


def no_spend_mix(index: pd.Index):
    """``(shares, top_cat, top_dept)`` when the spend mix is not computed."""
    return pd.DataFrame(index=index), *([pd.array([None] * len(index), dtype="str")] * 2)


def _by_member(expr) -> pd.DataFrame:
    """A per-member result as a frame indexed by ``member_id`` (str), sorted by it."""
    frame = to_frame(expr).set_index("member_id").sort_index()
    frame.index = pd.Index(frame.index, dtype="str", name="member_id")
    return frame


def _derived(frame: pd.DataFrame, cut: int) -> pd.DataFrame:
    """The ratio columns and the population prior, from one row per member."""
    f = {c: frame[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in frame.columns}
    recency = (cut - f["last"]) / US_PER_DAY
    gap_mean = f["gap_mean"]
    known = np.isfinite(gap_mean)
    prior = float(np.median(gap_mean[known])) if known.any() else np.nan
    cycle = np.where(known, gap_mean, prior)
    recent = f["spend_recent"]
    earlier = f["spend_earlier"]
    cols = {
        "recency_days": recency,
        "frequency": f["frequency"],
        "monetary_total": f["total"],
        "monetary_mean_basket": safe_divide(f["total"], f["frequency"]),
        "n_lines": f["n_lines"],
        "n_items_distinct": f["n_items_distinct"],
        "first_purchase_days": (cut - f["first"]) / US_PER_DAY,
        "interpurchase_mean_days": gap_mean,
        "interpurchase_std_days": f["gap_std"],
        "expected_days_to_next": cycle - recency,
        "overdue_ratio": safe_divide(recency, cycle),
        "spend_recent": recent,
        "spend_earlier": earlier,
        "spend_trend": np.log1p(np.maximum(recent, 0.0)) - np.log1p(np.maximum(earlier, 0.0)),
    }
    return pd.DataFrame({c: cols[c] for c in RFM_COLUMNS}, index=frame.index)


#: Members whose spend mix is fetched from the engine at a time (:func:`_spend_mix`).
MIX_BLOCK = 500_000


def _spend_mix(lines, cutoff: pd.Timestamp, items: pd.DataFrame, index: pd.Index,
               n_categories: int, spend: SpendPairs | None = None):
    """Department and top-category shares and the top category and department per member.

    The spend per member in each department and top category is summed wide on the
    engine (:class:`ShareSums`), ``MIX_BLOCK`` members at a time, so one row per member
    comes back: the (member, department) and (member, top category) rows fetched long and
    pivoted in pandas were the features step's peak (1M members: 3.8 GiB against 2.7 for
    the rest; 3M: 10.3 GiB, bench/RESULTS.md issue 11).
    """
    sums = category_share_sums(lines, items, cutoff, n_categories, spend=spend)
    depts = np.asarray(sums.departments, dtype=object)
    names = sums.sum_names
    shares = np.full((len(index), len(names)), np.nan)
    top_cat = np.full(len(index), None, dtype=object)
    top_dept = np.full(len(index), None, dtype=object)
    ids = pd.Index(index).astype(str)
    try:
        for start in range(0, len(ids), MIX_BLOCK):
            block_ids = ids[start:start + MIX_BLOCK]
            part = slice(start, start + len(block_ids))
            mine = sums.block_pairs(block_ids)
            wide = to_frame(mine.group_by("member_id").aggregate(**sums.sums))
            wide.index = pd.Index(wide.pop("member_id").astype(str))
            spend = wide.reindex(block_ids)[names].fillna(0.0).to_numpy(dtype="float64")
            del wide
            total = spend[:, :len(depts)].sum(axis=1)
            has = total > 0
            shares[part][has] = spend[has] / total[has, None]
            if len(depts):  # the first largest: the labels are sorted (ties: first by name)
                pick = depts[np.argmax(spend[:, :len(depts)], axis=1)]
                top_dept[part] = np.where(has, pick, None)
            by_cat = mine.group_by(["member_id", "category"]).aggregate(spend=mine.spend.sum())
            best = largest_rows(by_cat, "category").set_index("member_id")["category"]
            best.index = best.index.astype(str)
            top_cat[part] = np.where(has, best.reindex(block_ids).to_numpy(dtype=object), None)
    finally:
        sums.release()
    columns = column_names("dept_share__", list(depts)) + sums.columns
    return pd.DataFrame(shares, index=index, columns=columns), top_cat, top_dept


def catalog_frame(items: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    """``(item_id, category, department)`` of each item (the category where the department is
    missing) and the sorted department labels."""
    category = items["category"].astype("str")
    department = (
        items["department"].astype("str").fillna(category) if "department" in items else category
    )
    # pandas' unique, not a Python set: iterating 92k Arrow-backed strings in Python
    # cost 0.1-0.2 CPU s per cutoff on Complete Journey (issue 11).
    dept_labels = sorted(department.dropna().unique())
    frame = pd.DataFrame(
        {"item_id": items["item_id"].astype("str"), "category": category, "department": department}
    ).drop_duplicates("item_id")
    return frame, dept_labels


def mix_frame(long_dept: pd.DataFrame, long_top: pd.DataFrame, best: pd.DataFrame, top: list,
              dept_labels: list, index: pd.Index):
    """``(shares, top category, top department)`` of :func:`_spend_mix` from the rows the
    engine gave: spend per member and department (``long_dept``), per member and top
    category (``long_top``, ``bucket`` null for the rest) and each member's largest
    category (``best``, ``member_id`` and ``category``)."""
    dept = _wide(long_dept, "department", dept_labels, index)
    long_top = long_top.assign(bucket=long_top["bucket"].fillna(_OTHER))
    cats = _wide(long_top, "bucket", [*top, _OTHER], index)
    total = dept.sum(axis=1).to_numpy()
    has = total > 0
    block = np.concatenate([dept.to_numpy(), cats.to_numpy()], axis=1)
    shares = np.full(block.shape, np.nan)
    shares[has] = block[has] / total[has, None]
    columns = (
        column_names("dept_share__", dept_labels)
        + column_names("cat_share__", top, reserved=("other",))
        + ["cat_share__other"]
    )
    labels = best.set_index("member_id")["category"].reindex(index).to_numpy(dtype=object)
    top_cat = np.where(has, labels, None)
    top_dept = _first_largest(long_dept, "department", index, has)
    return pd.DataFrame(shares, index=index, columns=columns), top_cat, top_dept


def top_categories(cat_spend: pd.DataFrame, n_categories: int) -> list:
    """The ``n_categories`` categories of largest spend (ties: first by name), from
    ``category`` and ``spend`` rows."""
    cat_spend = cat_spend[cat_spend["spend"] > 0].sort_values(
        ["spend", "category"], ascending=[False, True]
    )
    return list(cat_spend["category"][:n_categories])


def _wide(long: pd.DataFrame, key: str, labels: list, index: pd.Index) -> pd.DataFrame:
    """``member_id x labels`` spend (0 where none) from long rows."""
    wide = long.pivot(index="member_id", columns=key, values="spend")
    return wide.reindex(index=index, columns=labels).fillna(0.0)


def _argmax(spend, key: str, index: pd.Index, has: np.ndarray) -> np.ndarray:
    """The label of each member's largest spend (ties: first by name); None without spend."""
    best = largest_rows(spend, key)
    labels = best.set_index("member_id")[key].reindex(index).to_numpy(dtype=object)
    return np.where(has, labels, None)


def largest_rows(spend, key: str, by=("member_id",)) -> pd.DataFrame:
    """The label of each member's largest spend (ties: first by name): rows ``by`` and ``key``."""
    w = ibis.window(group_by=list(by), order_by=[ibis.desc("spend"), key])
    ranked = spend.mutate(rank=ibis.row_number().over(w))
    return to_frame(ranked.filter(ranked["rank"] == 0).select(*by, key))


def _first_largest(long: pd.DataFrame, key: str, index: pd.Index,
                   has: np.ndarray) -> np.ndarray:
    """:func:`largest_rows` of long rows already fetched (``member_id``, ``key``, ``spend``):
    the same rule (largest spend, ties: first by name) without another engine query,
    for a table with few labels per member (departments)."""
    ranked = long.sort_values(["member_id", "spend", key], ascending=[True, False, True],
                              kind="stable")
    best = ranked.drop_duplicates("member_id").set_index("member_id")[key]
    labels = best.reindex(index).to_numpy(dtype=object)
    return np.where(has, labels, None)


def category_shares(lines, items: pd.DataFrame, as_of, index: pd.Index,
                    n_categories: int) -> pd.DataFrame:
    """Only the ``cat_share__*`` columns of :func:`purchase_aggregates` (``n_categories``
    top categories and ``cat_share__other``), rows in ``index`` order (NaN without spend).

    One pass over the lines before ``as_of``: for a caller that has the other member
    features already and wants a different number of category columns. The spend per
    member in each department and top category is summed wide on the engine (one
    row per member comes back; the total is the departments' sum, as in
    :func:`_spend_mix`, so the shares are the same floats): at 200k members
    :func:`_spend_mix`'s long-to-wide pivots in pandas and its top-label queries,
    which these columns do not need, took two thirds of the time. For every member
    of a large program, :func:`category_share_blocks` gives the same rows a block at
    a time.
    """
    blocks = list(category_share_blocks(lines, items, as_of, index, n_categories,
                                        chunk=max(len(index), 1)))
    return blocks[0] if len(blocks) == 1 else pd.concat(blocks)


def category_share_blocks(lines, items: pd.DataFrame, as_of, index: pd.Index,
                          n_categories: int, *, chunk: int = 100_000,
                          spend: SpendPairs | None = None):
    """:func:`category_shares` of ``index`` as frames of ``chunk`` consecutive members each.

    The (member, department, category) spend and the top categories (over every member's
    spend, not only ``index``'s) are computed once; then each block's members are joined
    to it on the engine and only that block's wide sums come back. At 1M members and 101
    share columns the whole frame was 800 MB, fetched through Arrow (another 800 MB)
    beside the engine's own memory: the uplift scoring of every member peaked there.
    Blocks concatenated equal :func:`category_shares` (the same sums per member).
    ``spend``: as in :func:`category_share_sums`.
    """
    if not (isinstance(chunk, (int, np.integer)) and chunk >= 1):
        raise ConfigError(f"chunk={chunk!r} should be an integer >= 1.")
    sums = category_share_sums(lines, items, as_of, n_categories, spend=spend)
    try:
        ids = pd.Index(index).astype(str)
        for start in range(0, len(ids), chunk):
            block_ids = ids[start:start + chunk]
            wide = to_frame(sums.block(block_ids.unique()))
            wide.index = pd.Index(wide.pop("member_id").astype(str))
            yield sums.shares(wide.reindex(block_ids), index[start:start + chunk])
    finally:
        sums.release()


@dataclass
class ShareSums:
    """The wide per-member spend sums behind :func:`category_shares`, left on the engine.

    ``table`` (Ibis: ``member_id`` and one sum per department, per top category and
    ``other``) reads a table staged by the engine (a Parquet file on DuckDB: its buffers
    are not held between queries): :meth:`release` it once read (a staged table the
    caller gave, :class:`SpendPairs`, stays: its owner releases it).
    :meth:`block` is the same rows for some members only. :meth:`shares` turns fetched
    rows of either into the ``cat_share__*`` columns, so the shares can be taken where
    the rows are (a Spark partition: ``training.spark_uplift``).
    """

    pair: Any  # (member_id, department, category, spend), a temporary table
    sums: dict  # sum name -> Ibis aggregate over ``pair``
    departments: list[str]
    columns: list[str]  # the cat_share__* names, ``cat_share__other`` last
    _con: Any = None
    _owned: SpendPairs | None = None  # the staged pairs this object made (released with it)

    @property
    def table(self):
        return self.pair.group_by("member_id").aggregate(**self.sums)

    def block(self, member_ids) -> Any:
        """:attr:`table`'s rows of ``member_ids`` only: the members are joined to the
        pairs before the sums, so the engine sums only theirs."""
        mine = self.block_pairs(member_ids)
        return mine.group_by("member_id").aggregate(**self.sums)

    def block_pairs(self, member_ids) -> Any:
        """The (member, department, category, spend) rows of ``member_ids`` only."""
        members = register_frame(self._con, "share_block_members",
                                 pd.DataFrame({"member_id": pd.Index(member_ids).astype(str)}))
        return self.pair.inner_join(members, "member_id")

    @property
    def sum_names(self) -> list[str]:
        """The sum columns of ``table``: departments, then top categories and ``other``."""
        n_top = len(self.columns) - 1
        return ([f"d{k}" for k in range(len(self.departments))]
                + [f"c{j}" for j in range(n_top)] + ["other"])

    def shares(self, wide: pd.DataFrame, index) -> pd.DataFrame:
        """The ``cat_share__*`` columns of the rows ``wide`` (the sums, missing = no spend),
        labelled ``index``."""
        names = self.sum_names
        wide = wide[names].fillna(0.0)
        total = wide[names[:len(self.departments)]].sum(axis=1).to_numpy()
        block = wide[names[len(self.departments):]].to_numpy(dtype="float64")
        has = total > 0
        shares = np.full(block.shape, np.nan)
        shares[has] = block[has] / total[has, None]
        return pd.DataFrame(shares, index=index, columns=self.columns)

    def release(self) -> None:
        if self._owned is not None:
            self._owned.release()


@dataclass
class SpendPairs:
    """Each member's spend per (department, category) in the lines before ``cut_us``,
    staged on the engine by :func:`spend_pairs`: what the spend mix of the member features
    and the uplift scoring's category shares both sum, grouped from the lines once when
    the two run at the same cutoff (each grouping reads every line: 9-10 s at 1M
    synthetic members). :meth:`release` it when no step needs it any more.
    """

    table: Any  # member_id, department, category, spend
    cut_us: int
    departments: list[str]
    _con: Any
    _name: str

    def release(self) -> None:
        unstage(self._con, self._name)


def spend_pairs(lines, items: pd.DataFrame, as_of, *, name: str | None = None) -> SpendPairs:
    """The :class:`SpendPairs` of the canonical ``lines`` before ``as_of``, ``items`` giving
    each item's category and department; staged as table ``name`` (default a fresh name;
    a Parquet file on DuckDB: its buffers are not held between queries)."""
    name = name or util.gen_name("share_pairs")
    cutoff = to_cutoff(as_of)
    before = lines_before(lines, cutoff)
    catalog, depts = catalog_frame(items)
    con = ibis.get_backend(before)
    known = before.inner_join(register_frame(con, "catalog_items", catalog), "item_id")
    table = stage(known.group_by(["member_id", "department", "category"]).aggregate(
        spend=known.amount.sum()), name)
    return SpendPairs(table, int(cutoff.value // 1000), list(depts), con, name)


def category_share_sums(lines, items: pd.DataFrame, as_of, n_categories: int, *,
                        spend: SpendPairs | None = None) -> ShareSums:
    """The per-member sums :func:`category_shares` takes its shares from, on the engine
    (one small query, the categories' spend, comes back to choose the top ones).

    ``spend``: the :class:`SpendPairs` of the same lines and items, staged by the caller
    for other steps too; used when made at the same cutoff (and left staged), else the
    lines are grouped here."""
    if not (isinstance(n_categories, (int, np.integer)) and n_categories >= 0):
        raise ConfigError(f"n_categories={n_categories!r} should be an integer >= 0.")
    owned = None
    if spend is None or spend.cut_us != to_cutoff(as_of).value // 1000:
        spend = owned = spend_pairs(lines, items, as_of)
    pair, depts, con = spend.table, spend.departments, spend._con
    try:
        cat_spend = to_frame(pair.group_by("category").aggregate(spend=pair.spend.sum()))
    except BaseException:
        if owned is not None:
            owned.release()
        raise
    top = top_categories(cat_spend, n_categories)
    amount = pair.spend

    def where(condition):
        return ibis.ifelse(condition, amount, 0.0).sum()

    sums = {f"d{k}": where(pair.department == d) for k, d in enumerate(depts)}
    sums.update({f"c{j}": where(pair.category == c) for j, c in enumerate(top)})
    sums["other"] = where(~pair.category.isin(top)) if top else amount.sum()
    columns = column_names("cat_share__", top, reserved=("other",)) + ["cat_share__other"]
    return ShareSums(pair, sums, depts, columns, con, owned)
