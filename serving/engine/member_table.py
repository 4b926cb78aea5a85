"""The member table of a trained version as columns of numpy arrays, for per-request reads.

:class:`MemberTable` is built once from ``members.parquet``, whose columns and
types :mod:`training.artifacts.schema` fixes (read with
:func:`training.artifacts.read_members`, which refuses a table that lacks a
column); afterwards a member is a row number and every field a cheap array
read: no DataFrame on the request path. Strings with few values (segment,
cluster label, tier, plan status) are held as integer codes into small tuples
of names; list columns as tuples of str (from Parquet, one shared tuple per
distinct list: :func:`~serving.engine.list_column.tuples_from_arrow`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features.errors import DataError
from serving.engine.list_column import tuples_from_arrow
from training.artifacts import schema

logger = logging.getLogger(__name__)

#: Numeric member fields (float and integer columns of the schema); NaN when unknown.
NUMERIC_FIELDS = schema.columns_of("float", "integer")
#: Categorical fields held as codes (-1: unknown).
CODED_FIELDS = schema.columns_of("coded")
#: Text fields kept as object arrays (read only to build a profile or a reason); "" unknown.
TEXT_FIELDS = schema.columns_of("text")
#: List fields kept as object arrays of tuples of str (empty: none).
LIST_FIELDS = schema.columns_of("list")
#: Consent fields: 1 opted in, 0 opted out, -1 unknown.
CONSENT_FIELDS = schema.columns_of("consent")


@dataclass
class MemberTable:
    """Columns of the member table, one entry per member (row ``i`` is ``ids[i]``).

    Attributes
    ----------
    ids : ndarray of str, shape (n,)
    numeric : dict of str to ndarray of float64, shape (n,)
        :data:`NUMERIC_FIELDS`; NaN when unknown.
    codes : dict of str to ndarray of int32, shape (n,)
        :data:`CODED_FIELDS` as codes into ``names[field]``; -1 when unknown.
    names : dict of str to tuple of str
    text : dict of str to ndarray of object, shape (n,)
        :data:`TEXT_FIELDS`; "" when unknown.
    consent : dict of str to ndarray of int8, shape (n,)
    cluster : ndarray of int64, shape (n,)
        Behavioural cluster id (-1 when unknown).
    lists : dict of str to ndarray of object, shape (n,)
        :data:`LIST_FIELDS`, each entry a tuple of str (equal lists may share one tuple).
    """

    ids: np.ndarray
    numeric: dict[str, np.ndarray]
    codes: dict[str, np.ndarray]
    names: dict[str, tuple[str, ...]]
    text: dict[str, np.ndarray]
    consent: dict[str, np.ndarray]
    cluster: np.ndarray
    lists: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.ids)

    def name(self, field: str, row: int) -> str | None:
        """The value of coded ``field`` at ``row``, or None when unknown."""
        code = int(self.codes[field][row])
        return self.names[field][code] if code >= 0 else None

    def code_of(self, field: str, value: str) -> int:
        """The code of ``value`` in ``field`` (-2 when no member has it)."""
        try:
            return self.names[field].index(value)
        except ValueError:
            return -2

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> MemberTable:
        """Build from a member frame holding every schema column.

        That is the frame :func:`training.artifacts.read_members` returns (or,
        for hand-built tables, one passed through
        :func:`training.artifacts.schema.conform_members`).

        Raises
        ------
        DataError
            If a schema column is missing, ``member_id`` is repeated or a list
            column holds something other than lists.
        """
        missing = [name for name in schema.COLUMNS if name not in frame.columns]
        if missing:
            raise DataError(f"the member table lacks column(s) {missing} of the artifact "
                            "schema; retrain the version.")
        ids = frame["member_id"].astype(str).to_numpy(dtype=str)
        if len(np.unique(ids)) != len(ids):
            raise DataError("the member table repeats member ids; retrain the version.")
        n = len(frame)
        numeric = {name: pd.to_numeric(frame[name], errors="coerce")
                   .to_numpy(dtype="float64", na_value=np.nan) for name in NUMERIC_FIELDS}
        codes, names = {}, {}
        for name in CODED_FIELDS:
            column = frame[name]
            values = column.astype(object).where(column.notna(), None).to_numpy()
            known = np.array([v is not None and str(v) != "" for v in values], dtype=bool)
            uniques, inverse = np.unique(values[known].astype(str), return_inverse=True)
            code = np.full(n, -1, dtype=np.int32)
            code[known] = inverse
            codes[name], names[name] = code, tuple(str(u) for u in uniques)
        text = {name: frame[name].astype(object).where(frame[name].notna(), "").to_numpy()
                for name in TEXT_FIELDS}
        lists = {}
        for name in LIST_FIELDS:
            try:
                lists[name] = schema.list_column(frame[name].tolist())
            except TypeError as exc:
                raise DataError(f"member table column {name!r} {exc}; retrain the version.") \
                    from None
        consent = {name: _consent(frame[name], n) for name in CONSENT_FIELDS}
        cluster = pd.to_numeric(frame["cluster"], errors="coerce").fillna(-1).to_numpy(
            dtype=np.int64)
        _note_no_responsiveness(numeric)
        return cls(ids, numeric, codes, names, text, consent, cluster, lists)

    @classmethod
    def from_arrow(cls, table: pa.Table) -> MemberTable:
        """Build from the Arrow table of ``members.parquet``, without a pandas frame.

        The same columns as :meth:`from_frame` gives for that file, built with
        Arrow compute: at a million members no Python object is made per
        cell except the member ids and the text fields.

        Raises
        ------
        DataError
            If a schema column is missing or ``member_id`` is repeated.
        """
        missing = [name for name in schema.COLUMNS if name not in table.column_names]
        if missing:
            raise DataError(f"the member table lacks column(s) {missing} of the artifact "
                            "schema; retrain the version.")
        member_ids = pc.cast(table["member_id"], pa.string())
        if pc.count_distinct(member_ids, mode="all").as_py() != table.num_rows:
            raise DataError("the member table repeats member ids; retrain the version.")
        ids = member_ids.to_numpy(zero_copy_only=False).astype(str)
        numeric = {name: pc.cast(table[name], pa.float64()).to_numpy(zero_copy_only=False)
                   for name in NUMERIC_FIELDS}
        codes, names = {}, {}
        for name in CODED_FIELDS:
            column = pc.cast(table[name], pa.string())
            uniques = sorted(v for v in pc.unique(column).to_pylist() if v)  # no null, no ""
            found = pc.index_in(column, value_set=pa.array(uniques, type=pa.string()))
            codes[name] = pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int32)
            names[name] = tuple(uniques)
        text = {name: pc.fill_null(pc.cast(table[name], pa.string()), "")
                .to_numpy(zero_copy_only=False) for name in TEXT_FIELDS}
        lists = {name: tuples_from_arrow(table[name]) for name in LIST_FIELDS}
        consent = {}
        for name in CONSENT_FIELDS:
            flag = pc.if_else(table[name], 1, 0)  # null stays null: unknown
            consent[name] = pc.fill_null(flag, -1).to_numpy(zero_copy_only=False).astype(np.int8)
        cluster = pc.fill_null(pc.cast(table["cluster"], pa.int64()), -1).to_numpy(
            zero_copy_only=False)
        _note_no_responsiveness(numeric)
        return cls(ids, numeric, codes, names, text, consent, cluster, lists)


def _note_no_responsiveness(numeric: dict[str, np.ndarray]) -> None:
    if np.isnan(numeric["p_redeem_base"]).all():
        logger.info("the member table has no p_redeem_base (trained before the offer engine); "
                    "every member counts as averagely responsive to offers")


def _consent(column: pd.Series | None, n: int) -> np.ndarray:
    """Opt-in flags as int8: 1 yes, 0 an explicit no, -1 unknown."""
    out = np.full(n, -1, dtype=np.int8)
    if column is None:
        return out
    text = column.astype("string").str.strip().str.lower()
    out[text.isin(["true", "1", "yes"]).fillna(False).to_numpy(dtype=bool)] = 1
    out[text.isin(["false", "0", "no"]).fillna(False).to_numpy(dtype=bool)] = 0
    return out
