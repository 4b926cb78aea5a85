"""The synthetic data generator: contract, determinism and planted structure."""

from __future__ import annotations

import datetime as dt
import filecmp
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from features.contract import EVENT_TYPES, TABLES, TIMESTAMP
from features.errors import ConfigError, DataError
from features.loading import load_dataset
from training.cli.synth import synth
from training.synth import spec
from training.synth.generate import generate

N = 2000
CHUNK = 700  # three row groups per table


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "data"
    return generate(out, N, seed=7, chunk_size=CHUNK)


@pytest.fixture(scope="module")
def tables(synth_dir):
    return {name: pd.read_parquet(synth_dir / f"{name}.parquet") for name in TABLES}


@pytest.fixture(scope="module")
def truth(synth_dir):
    return {name: pd.read_parquet(synth_dir / "truth" / f"{name}.parquet")
            for name in ("members", "affinity", "favourite_items", "offers")}


@pytest.fixture(scope="module")
def lines(tables, truth):
    """Transactions with the item's category and the member's planted truth."""
    items = tables["items"].set_index("item_id")
    tx = tables["transactions"]
    tm = truth["members"].set_index("member_id")
    member = tx["member_id"].astype(str)
    return tx.assign(
        category=tx["item_id"].astype(str).map(items["category"]),
        segment_name=member.map(tm["segment_name"].astype(str)),
        churn_date=member.map(tm["churn_date"]),
    )


#: Contract columns the generator leaves out: it plants no coupon use at the till (the
#: optional ``coupon_discount`` that the Complete Journey importer writes), nor who the
#: members are (the optional age, income and household columns).
NOT_GENERATED = {"transactions": ("coupon_discount",),
                 "members": ("age", "income", "household_size", "kids_count")}


def test_tables_follow_the_contract(synth_dir):
    for name, table in TABLES.items():
        schema = pq.read_schema(synth_dir / f"{name}.parquet")
        columns = [c for c in table.columns if c.name not in NOT_GENERATED.get(name, ())]
        assert schema.names == [c.name for c in columns], name
        for column in columns:
            field = schema.field(column.name)
            if column.kind == TIMESTAMP:
                assert pa.types.is_timestamp(field.type), (name, column.name)
            if column.kind == "id" and column.name != "basket_id":
                value_type = getattr(field.type, "value_type", field.type)
                assert pa.types.is_string(value_type), (name, column.name)


def test_ids_are_dictionary_encoded_and_unified_across_row_groups(synth_dir, tables):
    tx_file = pq.ParquetFile(synth_dir / "transactions.parquet")
    assert tx_file.metadata.num_row_groups == 3
    assert pa.types.is_dictionary(tx_file.schema_arrow.field("member_id").type)
    members = tables["members"]["member_id"]
    assert members.tolist()[:2] == ["M0000001", "M0000002"]
    for name in ("transactions", "offer_events"):
        member_id = tables[name]["member_id"]
        assert isinstance(member_id.dtype, pd.CategoricalDtype), name
        # Categories from every row group, in member order, members without rows included.
        assert member_id.cat.categories.tolist() == members.tolist(), name
    item_id = tables["transactions"]["item_id"]
    assert isinstance(item_id.dtype, pd.CategoricalDtype)
    assert item_id.cat.categories.tolist() == tables["items"]["item_id"].tolist()
    assert tables["items"]["item_id"].str.fullmatch(r"I\d{5}").all()
    assert tables["items"]["item_id"].is_unique and members.is_unique
    assert tables["offer_events"]["event_id"].is_unique


def test_values_are_plausible_and_inside_the_window(tables):
    tx = tables["transactions"]
    assert 60 < len(tx) / N < 150
    assert tx["timestamp"].min() >= pd.Timestamp("2025-01-01")
    assert tx["timestamp"].max() < pd.Timestamp("2026-01-01")
    assert (tx["quantity"] >= 1).all() and (tx["amount"] > 0).all()
    assert (tx["discount"] >= 0).all() and (tx["discount"] > 0).mean() > 0.05
    assert tx.groupby("basket_id")["member_id"].nunique().max() == 1
    events = tables["offer_events"]
    assert set(events["event"].unique()) == set(EVENT_TYPES)
    assert events["timestamp"].max() < pd.Timestamp("2026-01-01")
    members = tables["members"]
    assert (members["joined_at"] < pd.Timestamp("2026-01-01")).all()
    assert 0 < members["birthday"].isna().mean() < 0.1
    assert set(members["tier"].unique()) == {t for t, _ in spec.TIERS}


def test_segments_buy_their_preferred_categories(lines):
    for segment in spec.SEGMENTS:
        in_segment = lines["segment_name"] == segment.name
        preferred = lines["category"].isin(segment.preferred)
        inside, outside = preferred[in_segment].mean(), preferred[~in_segment].mean()
        assert inside > 0.45 and inside > outside + 0.2, (segment.name, inside, outside)


def test_segment_purchase_rates_differ(truth):
    rate = truth["members"].groupby("segment_name", observed=True)["baskets_per_month"].mean()
    assert rate["young_urban"] > 1.5 * rate["home_pet"]


def test_churned_members_stop_buying(lines, truth):
    churned = truth["members"]["churn_date"].notna().mean()
    assert 0.12 < churned < 0.35
    assert not (lines["timestamp"] >= lines["churn_date"]).any()
    last = lines.groupby("member_id", observed=True)["timestamp"].max()
    tm = truth["members"].set_index("member_id")
    stays = tm.index[tm["churn_date"].isna()]
    # Members who never churn keep buying until the end of the window.
    assert (last.reindex(stays).dropna() > pd.Timestamp("2025-10-01")).mean() > 0.8


def test_december_is_the_peak_month(lines):
    per_month = lines.groupby(lines["timestamp"].dt.month).size()
    assert per_month.idxmax() == 12
    assert per_month[12] > 1.3 * per_month[[2, 3, 4, 5, 6, 7, 8, 9]].mean()


def test_members_rebuy_their_favourite_items(lines, truth):
    fav = truth["favourite_items"].astype({"member_id": str, "item_id": str})
    pairs = set(zip(fav["member_id"], fav["item_id"]))
    bought = list(zip(lines["member_id"].astype(str), lines["item_id"].astype(str)))
    hit = np.fromiter((p in pairs for p in bought), bool, len(bought))
    # Favourites of the top 3 categories are 9 of 4800 items but a large share of lines.
    assert hit.mean() > 0.2
    repeat = lines.duplicated(["member_id", "item_id"]).mean()
    assert repeat > 0.3


def test_tier_follows_spend(tables, truth):
    spend = truth["members"].set_index("member_id")["spend"]
    tier = tables["members"].set_index("member_id")["tier"].astype(str)
    thresholds = dict(spec.TIERS)
    low = spend.reindex(tier.index) < tier.map(thresholds)
    assert not low.any()
    assert spend[tier == "platinum"].min() >= thresholds["platinum"]


def test_offers_point_to_their_category_and_respect_consent(tables, truth):
    offers = truth["offers"]
    assert (offers["offer_id"].str.split("-", n=1).str[1] == offers["category"]).all()
    assert offers["category"].isin(spec.CATEGORIES).all()
    events = tables["offer_events"]
    assert set(events["offer_id"].astype(str)) <= set(offers["offer_id"])
    members = tables["members"].set_index("member_id")
    sent = events[events["event"] == "sent"]
    opted = np.array([members.loc[sent["member_id"].astype(str), f"{c}_opt_in"].to_numpy()
                      for c in spec.OFFER_CHANNELS]).T
    channel = sent["channel"].map({c: i for i, c in enumerate(spec.OFFER_CHANNELS)})
    assert opted[np.arange(len(sent)), channel.to_numpy(int)].all()


def test_redemption_rises_with_affinity(tables, truth):
    events = tables["offer_events"].astype({"member_id": str, "offer_id": str, "event": str})
    viewed = events[events["event"] == "viewed"][["member_id", "offer_id"]]
    redeemed = events[events["event"] == "redeemed"][["member_id", "offer_id"]]
    viewed = viewed.merge(redeemed.assign(redeemed=True), how="left")
    viewed["redeemed"] = viewed["redeemed"].fillna(False).astype(bool)
    category = viewed["offer_id"].map(truth["offers"].set_index("offer_id")["category"])
    affinity = truth["affinity"].set_index("member_id")
    values = affinity.to_numpy()[affinity.index.get_indexer(viewed["member_id"]),
                                 affinity.columns.get_indexer(category)]
    high = values > np.median(values)
    assert viewed["redeemed"][high].mean() > 2 * viewed["redeemed"][~high].mean()
    # Redemptions come only after a view.
    assert len(redeemed.merge(viewed[["member_id", "offer_id"]])) == len(redeemed)


def test_truth_is_kept_apart_from_the_tables(synth_dir):
    top = {p.name for p in synth_dir.iterdir()}
    assert top == {f"{name}.parquet" for name in TABLES} | {"truth"}
    truth_files = {p.name for p in (synth_dir / "truth").iterdir()}
    assert {"members.parquet", "offers.parquet", "segments.json"} <= truth_files
    # truth/members and truth/offers hold more than the tables of the same name (segments,
    # send dates); no other truth file may be mistaken for a table.
    shared = {"members.parquet", "offers.parquet"}
    assert not truth_files & {f"{name}.parquet" for name in TABLES} - shared
    segments = json.loads((synth_dir / "truth" / "segments.json").read_text())
    assert [s["name"] for s in segments["segments"]] == [s.name for s in spec.SEGMENTS]
    assert segments["config"]["n_members"] == N


def test_same_seed_gives_identical_files(tmp_path):
    a = generate(tmp_path / "a", 300, seed=3)
    b = generate(tmp_path / "b", 300, seed=3)
    c = generate(tmp_path / "c", 300, seed=4)
    files = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    match, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
    assert mismatch == [] and errors == [] and len(match) == len(files)
    assert not filecmp.cmp(a / "transactions.parquet", c / "transactions.parquet", shallow=False)


def test_refuses_a_non_empty_directory_without_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="--overwrite"):
        generate(out, 50, seed=1)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    generate(out, 50, seed=1, overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "transactions.parquet").exists()


def test_an_interrupted_run_leaves_nothing(tmp_path):
    def interrupt_after_first_chunk(chunks):
        for chunk in chunks:
            if chunk == 1:
                raise KeyboardInterrupt
            yield chunk

    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path / "out", 120, seed=1, chunk_size=50,
                 progress=interrupt_after_first_chunk)
    assert list(tmp_path.iterdir()) == []


def test_progress_sees_every_chunk(tmp_path):
    seen = []

    def record(chunks):
        for chunk in chunks:
            yield chunk
            seen.append(chunk)

    generate(tmp_path / "out", 120, seed=1, chunk_size=50, progress=record)
    assert seen == [0, 1, 2]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_members": 0}, "members=0 should be between 1"),
    ({"n_members": 10, "start": dt.date(2025, 6, 1), "end": dt.date(2025, 5, 1)},
     "end=2025-05-01 is before start=2025-06-01"),
    ({"n_members": 10, "seed": -1}, "seed=-1"),
    ({"n_members": 10, "start": dt.date(2000, 1, 1)}, "at most"),
    ({"n_members": 10, "end": "today"}, "is not in the past"),  # today when it runs
    ({"n_members": 10, "end": "31/12/2025"}, "end='31/12/2025' is not a date"),
    ({"n_members": 2.5}, "n_members=2.5 should be an integer"),
])
def test_bad_arguments_raise_config_error(tmp_path, kwargs, message):
    # "today" is read when the test runs, not when it is collected: a run that crosses
    # midnight would otherwise pass yesterday, which is in the past.
    kwargs = {k: dt.date.today() if v == "today" else v for k, v in kwargs.items()}
    with pytest.raises(ConfigError, match=message):
        generate(tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_custom_window(tmp_path):
    out = generate(tmp_path / "out", 200, seed=2, end="2024-06-30")
    tx = pd.read_parquet(out / "transactions.parquet", columns=["timestamp"])
    assert tx["timestamp"].min() >= pd.Timestamp("2023-07-01")
    assert tx["timestamp"].max() < pd.Timestamp("2024-07-01")


def test_cli_writes_and_reports_errors(tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli"
    result = runner.invoke(synth, [str(out), "--members", "100", "--seed", "5"])
    assert result.exit_code == 0, result.output
    assert (out / "truth" / "segments.json").exists()
    again = runner.invoke(synth, [str(out), "--members", "100"])
    assert again.exit_code == 1 and "--overwrite" in again.output
    bad = runner.invoke(synth, [str(tmp_path / "x"), "--members", "0"])
    assert bad.exit_code == 2 and "--members" in bad.output
    window = runner.invoke(synth, [str(tmp_path / "y"), "--members", "5",
                                   "--start", "2025-06-01", "--end", "2025-05-01"])
    assert window.exit_code == 1 and "before start" in window.output


def test_loads_and_validates_without_cleaning_anything(synth_dir, tables):
    dataset = load_dataset(synth_dir)
    assert dataset.row_counts() == {name: len(tables[name]) for name in TABLES}
    assert dataset.cleaning.dropped == {} and dataset.cleaning.fixed == {}
    assert dataset.members["birthday"].notna().mean() > 0.9


def test_shape_knobs_write_other_shops_data(tmp_path):
    """Issue 13: the generator writes the shapes the data-shapes matrix trains on."""
    from training.synth.shapes import ANY_ITEM, DataShape

    shape = DataShape(n_items=5, no_categories=True, weeks=6, one_time_share=0.5,
                      returns_share=0.1, no_offers=True)
    out = generate(tmp_path / "data", 200, seed=2, end=dt.date(2025, 6, 30), shape=shape)
    tx = pd.read_parquet(out / "transactions.parquet")
    items = pd.read_parquet(out / "items.parquet")
    assert not (out / "offer_events.parquet").exists()
    assert len(items) == 5 and (items["category"] == items["item_id"]).all()
    assert set(tx["item_id"].astype(str)) <= set(items["item_id"])
    assert tx["timestamp"].min() >= pd.Timestamp("2025-05-20")  # the last 6 weeks
    returns = tx[tx["amount"] < 0]
    assert len(returns) > 0 and (returns["quantity"] < 0).all()
    sales = tx[tx["amount"] > 0]
    baskets = sales.groupby("member_id", observed=True)["basket_id"].nunique()
    assert (baskets == 1).mean() > 0.4  # many one-time buyers
    ds = load_dataset(out)
    assert ds.cleaning.dropped["transactions"]["returns"] == len(returns)
    assert json.loads((out / "truth" / "segments.json").read_text())["shape"]["n_items"] == 5
    one = generate(tmp_path / "one", 20, seed=2, end=dt.date(2025, 6, 30),
                   shape=DataShape(n_items=1))
    assert set(pd.read_parquet(one / "items.parquet")["item_id"]) == {ANY_ITEM}


@pytest.mark.parametrize(("shape", "message"), [
    ({"n_items": 0}, "n_items=0"), ({"weeks": 0}, "weeks=0"),
    ({"returns_share": 1.5}, "returns_share=1.5"), ({"one_time_share": -0.1}, "one_time_share"),
])
def test_bad_shape_knobs_raise_config_error(tmp_path, shape, message):
    from training.synth.shapes import DataShape

    with pytest.raises(ConfigError, match=message):
        generate(tmp_path / "data", 10, shape=DataShape(**shape))


def test_cli_shape_options(tmp_path):
    result = CliRunner().invoke(synth, [str(tmp_path / "d"), "--members", "30", "--items", "1",
                                        "--no-offers", "--weeks", "8", "--returns-share", "0.1",
                                        "--member-bands"])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "d" / "offer_events.parquet").exists()
    assert pd.read_parquet(tmp_path / "d" / "items.parquet")["item_id"].tolist() == [
        "any purchase"]
    from training.synth.shapes import MEMBER_BANDS

    members = pd.read_parquet(tmp_path / "d" / "members.parquet")
    for column, bands in MEMBER_BANDS.items():  # as a survey export writes them
        given = members[column].dropna()
        assert set(given) <= {*bands, "unknown"} and len(set(given)) > 2, column
