"""The recommenders' interactions built on a relational engine (issue 11).

:class:`EngineLines` holds canonical lines as an Ibis table (DuckDB or Spark;
``member_id``, ``item_id``, ``ts_us`` as in :mod:`features.relational.tables`)
and answers the questions of :class:`~models.recommenders.lines.Lines`, so
:func:`~models.recommenders.tuning.tune_recommenders`,
:func:`~models.recommenders.tuning.fit_tuned` and
:func:`~models.recommenders.metrics.holdout_truth` run with the lines left in
the engine. Only per-pair aggregates come into memory
(:class:`~models.recommenders.pairs.PairInteractions`): the sorted member and
item ids (one query each), per bought pair its codes, line count and oldest
line, and the decayed counts of a half-life when a model asks (one aggregate
query each). The pandas path (:func:`~models.recommenders.build_interactions`)
is the oracle of the parity tests; decayed sums differ from it only by float
rounding (about 1e-7 relative: float64 on the engine, float32 in pandas).

Imports: :mod:`features` and :mod:`models` only.
"""

from __future__ import annotations

import logging
import weakref

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
from ibis import util

from features.errors import DataError
from features.relational.portable import materialize, register_frame, release, to_arrow
from features.relational.purchases import US_PER_DAY

from .lines import Lines
from .pairs import PairInteractions

logger = logging.getLogger(__name__)

#: Rows per Arrow batch streamed from the engine.
_BATCH_ROWS = 1 << 20
#: Coded lines per pairs query: above it, one query per range of member rows, so
#: that the engine's hash aggregate holds a range's pairs, not every pair at once.
LINES_PER_PAIRS_QUERY = 8_000_000


class EngineLines(Lines):
    """Canonical lines as an Ibis table (``member_id``, ``item_id``, ``ts_us``).

    >>> from features.relational import connect
    >>> t = register_frame(connect(), "lines", pd.DataFrame({
    ...     "member_id": ["a", "a", "b"], "item_id": ["x", "y", "x"],
    ...     "ts_us": [0, 86_400_000_000, 86_400_000_000]}))
    >>> im = EngineLines(t).interactions("1970-01-03")
    >>> im.shape, im.matrix.toarray().tolist()
    ((2, 2), [[1.0, 1.0], [1.0, 0.0]])
    """

    def __init__(self, table):
        missing = [c for c in ("member_id", "item_id", "ts_us") if c not in table.columns]
        if missing:
            raise DataError(f"the engine's lines lack column(s) {missing}; pass canonical "
                            "lines (features.relational.tables_from_dataset).")
        self.table = table
        self._windows: dict = {}
        self._seen = None  # see _first_seen

    def interactions(self, as_of, half_lives=()) -> PairInteractions:
        ids = None
        if as_of is not None:  # the ids of the lines before as_of, from the memo
            before = _us(as_of)
            ids = tuple(found[first < before] for found, first in self._first_seen())
        return build_engine_interactions(self.table, as_of, half_lives, ids=ids)

    def window_pairs(self, start, end):
        key = (_us(start), _us(end))
        if key not in self._windows:  # both holdout modes read the same window
            t = self.table
            window = t.filter((t.ts_us >= key[0]) & (t.ts_us < key[1]))
            pairs = to_arrow(window.select("member_id", "item_id").distinct())
            self._windows = {key: (_strings(pairs["member_id"]), _strings(pairs["item_id"]))}
        m_ids, i_ids = self._windows[key]
        return m_ids.copy(), i_ids.copy()

    def member_ids(self) -> np.ndarray:
        return self._first_seen()[0][0].copy()

    def _first_seen(self) -> tuple:
        """``((member_ids, first_us), (item_ids, first_us))``: every id, sorted, and the time of
        its first line; one query, kept. The tuning's member sample reads every member id and
        the final fit the ids before its cutoff: one grouping of the lines answers both (at
        1M members the two distinct queries cost about 10 s)."""
        if self._seen is None:
            found = to_arrow(_first_lines(self.table))
            kind, ids = found["kind"].to_numpy(), _strings(found["id"])
            first = found["first_us"].to_numpy()
            seen = []
            for k in (0, 1):
                chosen = kind == k
                order = np.argsort(ids[chosen], kind="stable")  # distinct: np.unique's order
                seen.append((ids[chosen][order], first[chosen][order]))
            self._seen = tuple(seen)
        return self._seen

    def of_members(self, member_ids) -> EngineLines:
        chosen = _register_ids(self.table, "member_id", member_ids)
        return EngineLines(self.table.semi_join(chosen, "member_id"))

    def without_items(self, item_ids) -> EngineLines:
        gone = _register_ids(self.table, "item_id", item_ids)
        return EngineLines(self.table.anti_join(gone, "item_id"))


def build_engine_interactions(lines, as_of=None, half_lives=(), *,
                              ids: tuple | None = None) -> PairInteractions:
    """The pair-level interactions of the ``lines`` before ``as_of``, built on their engine.

    Equal to :func:`~models.recommenders.build_interactions` of the same lines:
    same ids, counts, first-purchase ages, and decayed counts up to float rounding.

    Parameters
    ----------
    lines : Ibis table
        Canonical lines (``member_id``, ``item_id``, ``ts_us``).
    as_of : Timestamp, str or None
        Only lines strictly before it; ``None``: every line, ages measured from
        one second after the last one.
    half_lives : iterable of float or None
        Half-lives whose decayed counts are computed with the pairs, in the same
        query (others are computed when asked for, one query each).
    ids : (ndarray of str, ndarray of str), optional
        The sorted distinct member ids and item ids of the lines before ``as_of``,
        when the caller knows them (:meth:`EngineLines.interactions`); else one query.

    Raises
    ------
    DataError
        When no line is before ``as_of``.
    """
    if as_of is None:
        last = to_arrow(lines.aggregate(last=lines.ts_us.max()))["last"][0].as_py()
        if last is None:
            raise DataError("transactions are empty; cannot build interactions.")
        as_of = pd.Timestamp(last, unit="us") + pd.Timedelta(seconds=1)
    as_of = pd.Timestamp(as_of)
    as_of_us = _us(as_of)
    past = lines.filter(lines.ts_us < as_of_us)
    member_ids, item_ids = _distinct_ids(past) if ids is None else ids
    if len(member_ids) == 0:
        raise DataError(f"no transaction is before as_of={as_of}; cannot build interactions.")
    # The coded lines, computed once: each decayed-count query then only aggregates them.
    con = ibis.get_backend(lines)
    state: dict = {"names": []}  # the coded lines' temporary tables while they exist

    def coded_lines():
        if not state["names"]:  # first use, or asked again after release_engine()
            name = util.gen_name("rec_coded_lines")
            state["coded"], inputs = _coded(past, member_ids, item_ids, name)
            state["names"] = [name, *inputs]
        return state["coded"]

    def release() -> None:
        names, state["names"], state["coded"] = state["names"], [], None
        _release(con, names)

    coded = coded_lines()
    # Sorted by (row, col) on the engine: the pairs arrive as the CSR structure, in the
    # order every decayed-count query returns its values (no sort nor copy here). Above
    # LINES_PER_PAIRS_QUERY lines, one query per range of rows, ranges in order.
    n_lines = _count(coded)  # at least the number of pairs: the pair arrays' capacity
    ranges = row_ranges(len(member_ids), n_lines, LINES_PER_PAIRS_QUERY)

    def weight(table, half_life_days: float):
        return ibis.literal(0.5) ** ((as_of_us - table.ts_us) / (US_PER_DAY * half_life_days))

    # The half-lives the caller will ask for are summed in the same scan of the lines.
    known = sorted({float(h) for h in half_lives if h is not None and h > 0})
    def pairs(part):
        return part.group_by(["row", "col"]).aggregate(
            n=part.count(), first_us=part.ts_us.min(),
            **{f"w{i}": weight(part, h).sum() for i, h in enumerate(known)}
        ).order_by(["row", "col"])

    indptr, cols, counts, oldest, *sums = _pair_columns(
        _ranged_batches(coded, ranges, pairs), as_of_us, len(known), len(member_ids),
        n_lines)
    del coded

    def decayed(half_life_days: float) -> np.ndarray:
        """The decayed counts of every pair, in pair order (one aggregate query)."""
        def sums(part):
            return part.group_by(["row", "col"]).aggregate(
                w=weight(part, half_life_days).sum()).order_by(["row", "col"])

        out = np.empty(len(cols), dtype=np.float32)
        start = 0
        for batch in _ranged_batches(coded_lines(), ranges, sums):  # float64 sums to float32
            end = start + batch.num_rows
            _check_pair_order(batch, indptr, cols, start)
            out[start:end] = batch.column(2).to_numpy()
            start = end
        if start != len(cols):
            raise DataError(f"a decayed-count query returned {start} pairs; the interactions "
                            f"have {len(cols)}. Were the lines changed meanwhile?")
        logger.debug("decayed counts (half-life %s days) computed on the engine", half_life_days)
        return out

    im = PairInteractions(member_ids, item_ids, None, cols, counts, oldest, decayed, as_of,
                          prefetched=dict(zip(known, sums)), indptr=indptr, release=release)
    weakref.finalize(im, _release_state, con, state)  # temporary tables go with it
    logger.info("built interactions on the engine before %s: %d members x %d items, "
                "%d pairs from %d lines", as_of, im.n_members, im.n_items, im.n_pairs, im.n_lines)
    return im


def _release(con, names: list[str]) -> None:
    """Drop the temporary tables ``names``, unless their engine was closed first."""
    try:
        for name in names:
            release(con, name)
    except Exception as exc:  # a closed connection or stopped session: nothing left to drop
        logger.debug("temporary tables %s not dropped: %s", names, exc)


def _release_state(con, state: dict) -> None:
    """Drop the coded lines' temporary tables still in ``state`` (the pairs are gone)."""
    _release(con, state["names"])


def row_ranges(n_rows: int, n_lines: int, lines_per_query: int) -> list[tuple[int, int]]:
    """``[start, end)`` ranges of member rows, one per pairs query, in order: one range
    (every row) when ``n_lines`` fit in ``lines_per_query``, else about ``n_lines /
    lines_per_query`` ranges of equal numbers of rows.

    >>> row_ranges(10, 5, 8), row_ranges(10, 20, 8)
    ([(0, 10)], [(0, 3), (3, 7), (7, 10)])
    """
    parts = min(max(1, -(-int(n_lines) // int(lines_per_query))), max(int(n_rows), 1))
    edges = np.linspace(0, n_rows, parts + 1).round().astype(np.int64)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _ranged_batches(coded, ranges, query):
    """The Arrow batches of ``query(coded's rows in range)``, range after range."""
    if len(ranges) == 1:
        yield from _batches(query(coded))
        return
    for start, end in ranges:
        yield from _batches(query(coded.filter((coded.row >= start) & (coded.row < end))))


def _count(table) -> int:
    return int(to_arrow(table.aggregate(n=table.count()))["n"][0].as_py())


def _batches(expr):
    """The result of ``expr`` as Arrow record batches, streamed from DuckDB (the whole
    result never sits in memory as Arrow); on another engine, the batches of its table."""
    backend = ibis.get_backend(expr)
    if backend.name == "duckdb":  # on the connection itself: its temporary tables are there
        sql = ibis.to_sql(expr, dialect="duckdb")
        result = backend.con.execute(sql)
        if hasattr(result, "to_arrow_reader"):  # DuckDB >= 1.4 (fetch_record_batch deprecated)
            return result.to_arrow_reader(_BATCH_ROWS)
        return result.fetch_record_batch(_BATCH_ROWS)
    return to_arrow(expr).to_batches(max_chunksize=_BATCH_ROWS)


def _pair_columns(batches, as_of_us: int, n_sums: int, n_rows: int, capacity: int):
    """The CSR offsets of the rows (int64, ``n_rows + 1``), ``cols``, ``counts`` (float32: the
    count matrix's values), ``oldest`` ages (float32) and the ``n_sums`` decayed sums (float32)
    of the pairs query's Arrow ``batches``, streamed into arrays of ``capacity`` entries (at
    least the number of pairs: the number of lines) that are then shrunk to the pairs.

    No array of rows is kept: each batch's rows are counted into the offsets, after checking
    that the pairs come sorted by row, then column (what the query orders them by). The
    arrays are filled in place, not joined from per-batch pieces: joining held a column
    twice (248 MB at 62M pairs), and the pages past the last pair are never touched.
    """
    names = ["col", "n", "oldest", *(f"w{i}" for i in range(n_sums))]
    out = {name: np.empty(capacity, dtype=np.int32 if name == "col" else np.float32)
           for name in names}
    per_row = np.zeros(n_rows, dtype=np.int64)
    last = (-1, -1)  # the previous batch's last pair
    start = 0
    for batch in batches:
        end = start + batch.num_rows
        if end > capacity:
            raise DataError(f"the pairs query returned more than {capacity} pairs, more than "
                            "there are lines; were the lines changed meanwhile?")
        # Views of the batch's rows and columns, dropped within this iteration; the values
        # are copied into the arrays, so nothing keeps the batch alive.
        rows = np.asarray(batch.column(0).to_numpy(), dtype=np.int32)
        cols = np.asarray(batch.column(1).to_numpy(), dtype=np.int32)
        if len(rows):
            _check_sorted(rows, cols, last)
            last = (int(rows[-1]), int(cols[-1]))
            first = int(rows[0])  # sorted: the batch spans rows[0] .. rows[-1] only
            per_row[first : last[0] + 1] += np.bincount(rows - first)
        out["col"][start:end] = cols
        del rows, cols
        out["n"][start:end] = batch.column(2).to_numpy()
        first_us = np.asarray(batch.column(3).to_numpy(), dtype=np.int64)
        out["oldest"][start:end] = (as_of_us - first_us) / US_PER_DAY
        for i in range(n_sums):  # float64 sums to float32
            out[f"w{i}"][start:end] = batch.column(4 + i).to_numpy()
        start = end
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(per_row, out=indptr[1:])
    for array in out.values():  # in place (realloc): the untouched tail goes, nothing is copied
        array.resize(start, refcheck=False)
    return (indptr, *(out[name] for name in names))


def _check_sorted(rows: np.ndarray, cols: np.ndarray, last: tuple[int, int]) -> None:
    """Raise unless the pairs ``(rows, cols)`` follow ``last`` in strict (row, col) order."""
    r = np.concatenate(([last[0]], rows))
    c = np.concatenate(([last[1]], cols))
    if not np.all((r[1:] > r[:-1]) | ((r[1:] == r[:-1]) & (c[1:] > c[:-1]))):
        raise DataError("the engine returned the pairs out of (row, col) order or twice; "
                        "this is a bug: please report it with the engine and its version.")


def _check_pair_order(batch: pa.RecordBatch, indptr: np.ndarray, cols: np.ndarray,
                      start: int) -> None:
    """Raise unless ``batch``'s first two columns (``row``, ``col``) are the pairs from
    position ``start`` on: the columns ``cols``, the rows those ``indptr`` gives them."""
    end = start + batch.num_rows
    rows = np.searchsorted(indptr, np.arange(start, end), side="right") - 1
    if not (end <= len(cols)
            and np.array_equal(batch.column(0).to_numpy(), rows)
            and np.array_equal(batch.column(1).to_numpy(), cols[start:end])):
        raise DataError("a decayed-count query returned other pairs, or the pairs in another "
                        "order, than the interactions: were the lines changed meanwhile?")


def _distinct_ids(past) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct member ids and item ids of ``past``, in one query."""
    ids = past.select(kind=ibis.literal(0), id=past.member_id).union(
        past.select(kind=ibis.literal(1), id=past.item_id), distinct=True)
    got = to_arrow(ids)
    kind, values = got["kind"].to_numpy(), _strings(got["id"])
    return np.unique(values[kind == 0]), np.unique(values[kind == 1])


def _first_lines(t):
    """Per member id (``kind`` 0) and per item id (``kind`` 1) the time of its first line."""
    members = t.group_by(id=t.member_id).aggregate(first_us=t.ts_us.min())
    items = t.group_by(id=t.item_id).aggregate(first_us=t.ts_us.min())
    return members.mutate(kind=ibis.literal(0)).union(items.mutate(kind=ibis.literal(1)))


def _coded(past, member_ids: np.ndarray, item_ids: np.ndarray, name: str):
    """``past`` (member_id, item_id, ts_us) as (row, col, ts_us), computed into table ``name``,
    and the names of the temporary tables it reads (to drop with it: a Spark cached
    table is a view of them).

    The id lists go into temporary tables first: there the engine knows their
    sizes and builds its join hash tables on them, not on the lines (DuckDB
    estimates a registered Arrow frame at one row: 620 MB more RSS on 5M lines).
    """
    con = ibis.get_backend(past)
    ids = {}
    for column, code, values in (("member_id", "row", member_ids), ("item_id", "col", item_ids)):
        # int32 codes: the coded lines take 16 bytes each on the engine, not 24.
        frame = pd.DataFrame({column: values.astype(object),
                              code: np.arange(len(values), dtype=np.int32)})
        ids[code] = materialize(register_frame(con, f"rec_{code}_ids", frame),
                                util.gen_name(f"rec_{code}_ids"))
    joined = past.select("member_id", "item_id", "ts_us").inner_join(ids["row"], "member_id")
    coded = materialize(joined.inner_join(ids["col"], "item_id").select("row", "col", "ts_us"),
                        name)
    return coded, [table.get_name() for table in ids.values()]


def _register_ids(table, column: str, ids):
    """``ids`` as a one-column table of ``table``'s engine."""
    frame = pd.DataFrame({column: np.asarray(ids, dtype=str).astype(object)})
    return register_frame(ibis.get_backend(table), util.gen_name(f"rec_{column}"), frame)


def _strings(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=str)


def _us(stamp) -> int:
    return int(pd.Timestamp(stamp).value // 1000)
