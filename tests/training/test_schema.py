"""The artifact schema: the member table is written and read through it, list columns intact."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from features.errors import ArtifactError
from training import artifacts
from training.artifacts import schema


def member_rows(**overrides) -> pd.DataFrame:
    """Two members with every non-optional column, values of the right kinds."""
    rows = {}
    for column in schema.MEMBER_COLUMNS:
        if column.optional:
            continue
        rows[column.name] = {
            "id": ["m1", "m2"], "float": [1.5, np.nan], "integer": [3, 5],
            "coded": ["Champions", None], "text": ["545", None],
            "list": [["a"], []],
        }[column.kind]
    rows.update(
        churn_reason_codes=[["RECENCY_HIGH", "LOW_FREQUENCY"], []],
        churn_reasons=[["no purchase for 60 days, 3x the usual", "few visits; rarely"], []],
        top_categories=[["wine, beer and spirits", "bread", "fruit; veg"], []],
    )
    rows.update(overrides)
    return pd.DataFrame(rows)


def write_version(root, frame=None, *, raw: pd.DataFrame | None = None) -> str:
    """A version holding only a member table: through the schema, or ``raw`` as it is."""
    writer = artifacts.start_version(root)
    if raw is None:
        artifacts.write_members(writer, member_rows() if frame is None else frame)
    else:
        writer.save_frame(schema.MEMBERS, raw)
    writer.commit({"as_of": "2026-01-01"})
    return writer.version


def test_conforming_keeps_float_columns_that_are_already_float64_without_a_copy():
    """The training's member table is conformed in place of a copy (3M members: the
    copy and consolidation of the float columns was +0.7 GB at the step's peak)."""
    frame = member_rows()
    floats = [c.name for c in schema.MEMBER_COLUMNS if c.kind == "float" and c.name in frame]
    frame[floats] = frame[floats].astype("float64")
    conformed = schema.conform_members(frame)
    assert floats and all(np.shares_memory(conformed[c].to_numpy(), frame[c].to_numpy())
                          for c in floats)
    assert conformed[floats].equals(frame[floats])


def test_round_trip_keeps_lists_and_types(tmp_path):
    version = write_version(tmp_path)
    opened = artifacts.open_version(tmp_path)
    assert opened.manifest["format"] == schema.FORMAT_VERSION == artifacts.FORMAT_VERSION
    found = pq.read_schema(tmp_path / version / "members.parquet")
    assert found.names == [c.name for c in schema.MEMBER_COLUMNS]
    assert str(found.field("top_categories").type) == "list<element: string>"
    members = artifacts.read_members(opened)
    # Names holding the old separators (", " and "; ") come back whole, in order.
    assert list(members.loc[0, "top_categories"]) == ["wine, beer and spirits", "bread",
                                                      "fruit; veg"]
    assert list(members.loc[0, "churn_reasons"]) == ["no purchase for 60 days, 3x the usual",
                                                     "few visits; rarely"]
    assert list(members.loc[1, "churn_reason_codes"]) == []
    assert members["r_score"].tolist() == [3, 5] and members["cluster_label"].isna().tolist() \
        == [False, True]


def test_optional_columns_the_data_lacks_are_written_as_typed_nulls(tmp_path):
    frame = member_rows(tier=["gold", None])  # a shop with tiers but no consent flags
    version = write_version(tmp_path, frame)
    found = pq.read_schema(tmp_path / version / "members.parquet")
    assert str(found.field("email_opt_in").type) == "bool"
    assert str(found.field("points_balance").type) == "double"
    members = artifacts.read_members(artifacts.open_version(tmp_path))
    assert members["email_opt_in"].isna().all() and members["points_balance"].isna().all()
    assert members["tier"].tolist()[0] == "gold"


def test_writing_refuses_unknown_and_missing_columns_and_joined_lists():
    with pytest.raises(ArtifactError, match=r"\['churn_risk'\]"):
        schema.conform_members(member_rows().drop(columns="churn_risk"))
    with pytest.raises(ArtifactError, match=r"\['shoe_size'\].*schema does not know"):
        schema.conform_members(member_rows(shoe_size=[1, 2]))
    with pytest.raises(ArtifactError, match="'top_categories'.*holds text"):
        schema.conform_members(member_rows(top_categories=["a, b", ""]))
    with pytest.raises(ArtifactError, match="'churn_risk'.*not numbers"):
        schema.conform_members(member_rows(churn_risk=["high", "low"]))


def test_reading_refuses_a_missing_column_instead_of_filling_nan(tmp_path):
    raw = schema.conform_members(member_rows()).drop(columns="p_redeem_base")
    raw = raw.assign(**{name: raw[name].map(list) for name in schema.columns_of("list")})
    version = write_version(tmp_path, raw=raw)
    opened = artifacts.open_version(tmp_path)
    with pytest.raises(ArtifactError, match=rf"version {version}.*'p_redeem_base'.*retrain"):
        artifacts.read_members(opened)


def test_reading_refuses_a_wrong_type(tmp_path):
    # A format-1 style table: lists joined into strings.
    raw = schema.conform_members(member_rows())
    raw["top_categories"] = raw["top_categories"].map(", ".join)
    raw = raw.assign(**{name: raw[name].map(list) for name in ("churn_reasons",
                                                                "churn_reason_codes")})
    version = write_version(tmp_path, raw=raw)
    with pytest.raises(ArtifactError, match=rf"version {version}.*'top_categories' is "
                                            r"(large_)?string.*retrain"):
        artifacts.read_members(artifacts.open_version(tmp_path))


def test_a_format_1_version_is_refused_with_retrain(tmp_path):
    version = write_version(tmp_path)
    path = tmp_path / version / "manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "format": 1}))
    with pytest.raises(ArtifactError, match="artifact format 1, this program reads 2; retrain"):
        artifacts.open_version(tmp_path)
