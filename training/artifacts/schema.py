"""What an artifact version holds: the one format :mod:`training` writes and :mod:`serving` reads.

A version (:mod:`training.artifacts.store`) is a directory of named files.
This module names them and fixes the member table's columns and types; the
pipeline writes the member table only through :func:`write_members` and every
reader reads it only through :func:`read_members`, so both sides agree or the
reader refuses the version (:class:`~features.errors.ArtifactError`) instead of
guessing. Change a column, a type or a file name: raise :data:`FORMAT_VERSION`.

Files of a version (``<name>.<suffix>``):

- ``members.parquet``: the member table, one row per member (:data:`MEMBER_COLUMNS`);
- ``items.parquet``: item metadata and item features;
- ``cluster_profiles.parquet``: the behavioural clusters' mean features;
- :data:`METRIC_TABLES` (``.parquet``): validation tables shown in the report;
- ``rec_item_category.npy``: each recommender item's category name;
- ``rec__<key>.npy``: the blended recommender's arrays (:data:`RECOMMENDER_PREFIX`);
- ``pre_*.npy``: each member's ranked items and categories (optional: older
  versions lack them and are scored live; see :mod:`training.artifacts.precomputed`);
- :data:`MODELS` (``.joblib``): fitted scikit-learn style models;
- ``response_features.parquet`` and ``response_model.json``: the offer-response model's
  member features and the model as numbers (:data:`RESPONSE_FEATURES`, :data:`RESPONSE_MODEL`);
- ``uplift_scores.parquet``: each member's predicted uplift per offer type (:data:`UPLIFT_SCORES`;
  optional: only versions with a validated uplift model);
- ``horizon_model.json`` and ``horizon_summary.parquet``: the BG/NBD and Gamma-Gamma
  parameters and each member's purchase summary as of ``as_of``, behind churn risk and
  expected spend at any horizon (:data:`HORIZON_MODEL`, :data:`HORIZON_SUMMARY`; absent
  when those models could not be fitted);
- ``metrics.json``, ``cleaning.json``, ``report.html`` and ``manifest.json``.

Member-table column kinds and their Parquet types:

========== ==================== =============================================
kind       Parquet              read into
========== ==================== =============================================
id         string, no nulls     ``member_id``
float      double               numbers; null (NaN) when unknown
integer    int64                small whole numbers (scores, cluster ids)
coded      string               few distinct names (segment, tier); null: unknown
text       string               free text; null when unknown
consent    bool                 opt-in flags; null when the shop did not say
list       list<string>         ordered names; an empty list when none
========== ==================== =============================================

Columns marked ``optional`` come from the shop's members file (a shop
without tiers has no ``tier``): they are written as typed nulls when the data
lacks them, so every version holds every column.

Imports: :mod:`features` only (and pyarrow).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from features.errors import ArtifactError

#: The artifact format this program writes and reads (manifest ``format``). 2: list columns
#: and the member-table schema below (1 joined lists into strings).
FORMAT_VERSION = 2

MEMBERS = "members"
ITEMS = "items"
CLUSTER_PROFILES = "cluster_profiles"
#: Validation tables of the models, as written by the pipeline and shown in the report.
METRIC_TABLES = (
    "recommend_metrics", "churn_metrics", "churn_calibration", "churn_lift", "value_metrics",
    "uplift_validation", "uplift_curves", "horizon_metrics", "response_calibration",
    "response_brier", "value_calibration", "clv_by_recency", "horizon_sums",
)  # fmt: skip
#: Category name of each recommender item column (array of str, shape (n_items,)).
ITEM_CATEGORY = "rec_item_category"
#: Array files of the blended recommender are named ``rec__<key>.npy``.
RECOMMENDER_PREFIX = "rec__"
#: Pickled models (``<name>.joblib``): loaded only after their hash is checked.
MODELS = ("rfm", "clusters", "churn", "value", "offer_response")
#: The learned offer-response model's member features as of ``as_of`` (``member_id`` plus
#: ``OfferResponseModel.member_columns_``): what the offer engine feeds the model. Only in
#: versions whose ``offer_response`` is a learned model.
RESPONSE_FEATURES = "response_features"
#: The same model as plain numbers (JSON, :mod:`models.offer_response.export`): serving never
#: unpickles, so this, not ``offer_response.joblib``, is what the engine reads.
RESPONSE_MODEL = "response_model"
#: Each member's predicted uplift as of ``as_of`` per offer type whose uplift model validated
#: better than random (``models.uplift.UPLIFT_SCORE_COLUMNS``): the offer engine ranks offers of
#: those types by expected incremental profit. Only in versions with such a model.
UPLIFT_SCORES = "uplift_scores"
#: BG/NBD + Gamma-Gamma parameters (JSON, :func:`training.horizon_step.fit_purchase_cycle`).
HORIZON_MODEL = "horizon_model"
#: ``member_id`` + :data:`models.lifecycle.bgnbd.SUMMARY_COLUMNS` as of ``as_of``.
HORIZON_SUMMARY = "horizon_summary"
METRICS = "metrics"
CLEANING = "cleaning"
REPORT = "report.html"

_ARROW = {
    "id": pa.string(), "float": pa.float64(), "integer": pa.int64(), "coded": pa.string(),
    "text": pa.string(), "consent": pa.bool_(), "list": pa.list_(pa.string()),
}
_STRING = (pa.types.is_string, pa.types.is_large_string)
_ACCEPT = {  # what a reader accepts per kind (pandas may write large_string)
    "id": _STRING, "coded": _STRING, "text": _STRING,
    "float": (pa.types.is_floating,), "integer": (pa.types.is_integer,),
    "consent": (pa.types.is_boolean,),
    "list": (lambda t: (pa.types.is_list(t) or pa.types.is_large_list(t))
             and any(ok(t.value_type) for ok in _STRING),),
}


@dataclass(frozen=True)
class Column:
    """One member-table column: its name, kind (see the module docstring) and meaning."""

    name: str
    kind: str
    doc: str
    optional: bool = False

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW[self.kind]


_C = Column
#: The member table, in file order. Feature columns are described in
#: :func:`features.member_features.build_member_features`.
MEMBER_COLUMNS: tuple[Column, ...] = (
    _C("member_id", "id", "the member's id"),
    _C("segment", "coded", "RFM segment name (Champions, At risk, ...)"),
    _C("rfm_score", "text", "recency, frequency and monetary quintile scores as digits ('545')"),
    _C("r_score", "integer", "recency quintile score, 1 (long ago) to 5 (recent)"),
    _C("f_score", "integer", "frequency quintile score, 1 to 5"),
    _C("m_score", "integer", "monetary quintile score, 1 to 5"),
    _C("cluster", "integer", "behavioural cluster id, kept stable across retrains"),
    _C("cluster_label", "coded", "the cluster's readable name"),
    _C("recency_days", "float", "days since the last basket (null: never bought)"),
    _C("frequency", "float", "distinct baskets before as_of"),
    _C("monetary_total", "float", "spend before as_of"),
    _C("monetary_mean_basket", "float", "spend per basket"),
    _C("tenure_days", "float", "days since joining (or the first purchase)"),
    _C("interpurchase_mean_days", "float", "mean gap between purchase days"),
    _C("expected_days_to_next", "float", "usual cycle minus recency; negative: overdue"),
    _C("overdue_ratio", "float", "recency over the usual cycle; above 1: later than usual"),
    _C("top_category", "text", "category with the member's largest spend"),
    _C("top_department", "text", "department with the member's largest spend"),
    _C("tier", "coded", "loyalty tier recorded by the shop", optional=True),
    _C("points_balance", "float", "loyalty points balance", optional=True),
    _C("plan", "coded", "paid plan name", optional=True),
    _C("plan_status", "coded", "paid plan status (active, cancelled, ...)", optional=True),
    _C("email_opt_in", "consent", "agreed to e-mail offers", optional=True),
    _C("sms_opt_in", "consent", "agreed to SMS offers", optional=True),
    _C("push_opt_in", "consent", "agreed to app push offers", optional=True),
    _C("days_to_next_birthday", "float", "0..365 days from as_of", optional=True),
    _C("referrals", "float", "members referred", optional=True),
    _C("offers_sent", "float", "offers sent before as_of", optional=True),
    _C("offers_redeemed", "float", "offers redeemed before as_of", optional=True),
    _C("churn_risk", "float", "P(no purchase within the churn horizon); null: never bought"),
    _C("expected_spend", "float", "expected spend within the horizon (0: never bought)"),
    _C("clv", "float", "expected spend over the next 12 months"),
    _C("p_redeem_base", "float", "P(redeem) of a reference whole-basket offer"),
    _C("churn_reason_codes", "list", "codes of the main churn drivers, strongest first"),
    _C("churn_reasons", "list", "sentence of each code in churn_reason_codes, same order"),
    _C("top_categories", "list", "the recommender's top categories, best first"),
)
del _C
COLUMNS: dict[str, Column] = {c.name: c for c in MEMBER_COLUMNS}
MEMBER_ARROW_SCHEMA = pa.schema([pa.field(c.name, c.arrow_type) for c in MEMBER_COLUMNS])


def columns_of(*kinds: str) -> tuple[str, ...]:
    """Names of the member-table columns of ``kinds``, in file order."""
    return tuple(c.name for c in MEMBER_COLUMNS if c.kind in kinds)


# ------------------------------------------------------------------ writing
def conform_members(frame: pd.DataFrame, *, partial: bool = False,
                    arrow_lists: bool = False) -> pd.DataFrame:
    """The member table in file order with every column coerced to its kind.

    Parameters
    ----------
    frame : DataFrame
        One row per member with :data:`MEMBER_COLUMNS` (optional ones may be absent).
        A list column may hold lists (tuples, arrays) of str, or be an Arrow-backed
        ``list<string>`` Series (no Python list per member: the fast way).
    partial : bool, default False
        Also fill absent non-optional columns with typed nulls: for hand-built
        tables in tests and benchmarks, never for a version.
    arrow_lists : bool, default False
        Return the list columns as Arrow-backed ``list<string>`` Series instead of
        object arrays (what :func:`pandas.read_parquet` gives): one Arrow array per
        column, not a Python object per member and string. The training run keeps
        its member table so (1M members: ~600 MiB less, written without a Python pass).

    Returns
    -------
    DataFrame
        Float columns float64, integers ``Int64``, strings ``string``, consent
        ``boolean``, list columns object arrays of lists of str (or Arrow lists).

    Raises
    ------
    ArtifactError
        Naming a column the schema does not know, a missing non-optional
        column, or a value that does not fit its column's kind.
    """
    unknown = [c for c in frame.columns if c not in COLUMNS]
    if unknown:
        raise ArtifactError(f"the member table has column(s) {unknown} that the artifact schema "
                            "does not know; add them to training/artifacts/schema.py "
                            "(and raise FORMAT_VERSION) or drop them.")
    missing = [c.name for c in MEMBER_COLUMNS if c.name not in frame.columns
               and not (c.optional or partial)]
    if missing:
        raise ArtifactError(f"the member table lacks column(s) {missing} of the artifact schema.")
    n = len(frame)
    out = {}
    for column in MEMBER_COLUMNS:
        values = frame[column.name] if column.name in frame.columns else None
        try:
            out[column.name] = (_as_lists(values, n, arrow=True)
                                if arrow_lists and column.kind == "list"
                                else _coerce(column.kind, values, n))
        except (TypeError, ValueError) as exc:
            raise ArtifactError(f"member table column {column.name!r} does not fit kind "
                                f"{column.kind!r}: {exc}") from None
    if out["member_id"].isna().any():
        raise ArtifactError("the member table has a null member_id.")
    # copy=False: a frame from a dict copies and consolidates every column by default
    # (3M members: +0.7 GB for the float columns alone, at the member table's peak).
    return pd.DataFrame(out, index=pd.RangeIndex(n), copy=False)


def write_members(writer, frame: pd.DataFrame) -> None:
    """Write ``frame`` as ``members.parquet`` of ``writer``'s version (see :func:`conform_members`).

    Parameters
    ----------
    writer : training.artifacts.store.VersionWriter
    frame : DataFrame
    """
    table = members_to_arrow(conform_members(frame, arrow_lists=True))
    pq.write_table(table, writer.file(f"{MEMBERS}.parquet"))


def members_to_arrow(conformed: pd.DataFrame) -> pa.Table:
    """A conformed member frame (either form of list columns) as an Arrow table of
    :data:`MEMBER_ARROW_SCHEMA`."""
    arrays = [_arrow_column(conformed[c.name], c) for c in MEMBER_COLUMNS]
    return pa.Table.from_arrays(arrays, schema=MEMBER_ARROW_SCHEMA)


def _arrow_column(values: pd.Series, column) -> pa.Array:
    if column.kind != "list":
        return pa.array(values, type=column.arrow_type, from_pandas=True)
    if _arrow_text_lists(values):
        cells = pa.array(values)
        return cells.combine_chunks() if isinstance(cells, pa.ChunkedArray) else cells
    return pa.array(values.tolist(), type=column.arrow_type, from_pandas=True)


def _coerce(kind: str, values: pd.Series | None, n: int):
    """``values`` (None: absent) as the pandas form of ``kind``; raises TypeError/ValueError."""
    if kind == "list":
        return _as_lists(values, n)
    if values is None:
        dtype = {"float": "float64", "integer": "Int64", "consent": "boolean"}.get(kind, "string")
        return pd.Series(pd.array([None] * n, dtype=dtype))
    values = values.reset_index(drop=True)
    if kind == "float":
        if not (pd.api.types.is_numeric_dtype(values) or values.isna().all()):
            raise TypeError(f"holds {values.dtype} values, not numbers")
        return values.astype("float64")
    if kind == "integer":
        return values.astype("Int64")  # refuses fractions
    if kind == "consent":
        return _as_consent(values)
    text = values.astype("string")
    if kind == "id":
        return text
    return text.mask((text == "").fillna(False))  # "" is unknown too


def _as_lists(values: pd.Series | None, n: int, *, arrow: bool = False) -> pd.Series:
    """Lists of str as an object Series of str arrays (what Parquet reads back), or with
    ``arrow`` an Arrow-backed list Series; null: empty."""
    arrow_type = _ARROW["list"]
    if values is None:
        cells = pa.array([[]] * n, type=arrow_type)
    elif _arrow_text_lists(values):
        cells = pa.array(values)  # already Arrow lists: no Python list per member
        if isinstance(cells, pa.ChunkedArray):
            cells = cells.combine_chunks()
        cells = pc.if_else(pc.is_null(cells), pa.scalar([], type=arrow_type), cells)
    else:
        cells = values.tolist()
        text = next((v for v in cells if isinstance(v, (str, bytes))), None)
        if text is not None:  # Arrow would take a string for a list of its characters
            raise TypeError(f"holds text ({text!r}), not lists of strings")
        try:
            cells = pa.array(cells, type=arrow_type, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise TypeError(f"does not hold lists of strings ({exc})") from None
        cells = pc.if_else(pc.is_null(cells), pa.scalar([], type=arrow_type), cells)
    if arrow:
        return pd.Series(pd.arrays.ArrowExtensionArray(cells))
    return pd.Series(cells.to_pandas(), dtype=object)


def _arrow_text_lists(values: pd.Series) -> bool:
    """Whether ``values`` is an Arrow-backed column of lists of str (Arrow's own string type)."""
    dtype = values.dtype
    return (isinstance(dtype, pd.ArrowDtype) and dtype.pyarrow_dtype == _ARROW["list"])


def _as_consent(values: pd.Series) -> pd.Series:
    """True / False / NA from bools or from 'true'/'1'/'yes' and 'false'/'0'/'no' text."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype("boolean")
    text = values.astype("string").str.strip().str.lower()
    out = pd.Series(pd.array([None] * len(values), dtype="boolean"))
    out[text.isin(["true", "1", "yes"]).fillna(False).to_numpy(dtype=bool)] = True
    out[text.isin(["false", "0", "no"]).fillna(False).to_numpy(dtype=bool)] = False
    return out


# ------------------------------------------------------------------ reading
def check_member_schema(found: pa.Schema, version: str) -> None:
    """Refuse a member table that lacks a schema column or holds one of another type.

    Raises
    ------
    ArtifactError
        Naming ``version``, the column, and that the version must be retrained.
    """
    names = set(found.names)
    for column in MEMBER_COLUMNS:
        if column.name not in names:
            raise ArtifactError(
                f"version {version}: its member table (members.parquet) has no column "
                f"{column.name!r} "
                f"(artifact format {FORMAT_VERSION}); retrain with this program.")
        actual = found.field(column.name).type
        if not any(ok(actual) for ok in _ACCEPT[column.kind]):
            raise ArtifactError(
                f"version {version}: members.parquet column {column.name!r} is {actual}, the "
                f"schema says {column.arrow_type} ({column.kind}); retrain with this program.")


def read_members(version) -> pd.DataFrame:
    """The member table of an opened version, checked against the schema.

    Parameters
    ----------
    version : training.artifacts.store.ArtifactVersion

    Returns
    -------
    DataFrame
        Every :data:`MEMBER_COLUMNS` column; list columns hold arrays of str.

    Raises
    ------
    ArtifactError
        When the version has no member table, or it lacks a column or holds
        a wrong type (:func:`check_member_schema`).
    """
    _check_members_file(version)
    return version.load_frame(MEMBERS)


def read_members_table(version) -> pa.Table:
    """:func:`read_members` as an Arrow table (what the server builds its columns from).

    Raises
    ------
    ArtifactError
        As :func:`read_members`.
    """
    _check_members_file(version)
    return version.load_table(MEMBERS)


def _check_members_file(version) -> None:
    filename = f"{MEMBERS}.parquet"
    if not version.has(filename):
        raise ArtifactError(f"version {version.version} has no {filename}; retrain.")
    check_member_schema(pq.read_schema(version.path / filename), version.version)


def list_column(values: Any) -> np.ndarray:
    """A list column as an object array of tuples of str (None or NaN cells: empty).

    Raises
    ------
    TypeError
        When a cell holds text (a list joined into a string) or a scalar.
    """
    out = np.empty(len(values), dtype=object)
    out[:] = [_as_tuple(v) for v in values]
    return out


def _as_tuple(value) -> tuple[str, ...]:
    if isinstance(value, np.ndarray):  # what Parquet gives: already str
        return tuple(value.tolist())
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        what = "text" if isinstance(value, (str, bytes)) else type(value).__name__
        raise TypeError(f"holds {what} ({value!r}), not lists of strings")
    return tuple(str(v) for v in value)
