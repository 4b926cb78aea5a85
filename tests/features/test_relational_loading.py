"""DuckDB reads, checks and cleans the data itself (issue 11): the pandas loader is the oracle.

:func:`features.relational.load_relational` must give the same cleaned lines
(as sets of rows), the same cleaning report and small tables, and on bad input
the same problems (file, column, rows, values, message) as
:func:`features.loading.load_dataset`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.cleaning import CleaningPolicy
from features.errors import DataValidationError
from features.loading import load_dataset
from features.relational import connect, load_relational, member_features
from features.relational.events import EVENT_ROW
from tests.conftest import TX_HEADER
from tests.features.test_cleaning import DIRTY
from tests.features.test_relational import assert_same_frame
from training.synth.generate import generate
from training.synth.shapes import DataShape

NOW = "2025-01-01"
LINE_COLUMNS = ["member_id", "item_id", "ts_us", "quantity", "amount", "discount"]


def pandas_lines(ds) -> pd.DataFrame:
    tx = ds.transactions
    coupons = {"coupon_discount": tx["coupon_discount"].to_numpy(dtype=float, na_value=np.nan)
               } if "coupon_discount" in tx else {}
    return pd.DataFrame({
        "member_id": tx["member_id"].astype("str").to_numpy(dtype=object),
        "item_id": tx["item_id"].astype("str").to_numpy(dtype=object),
        "ts_us": tx["timestamp"].astype("datetime64[us]").astype("int64").to_numpy(),
        "basket_id": tx["basket_id"].to_numpy(),
        "quantity": tx["quantity"].to_numpy(dtype=float),
        "amount": tx["amount"].to_numpy(dtype=float),
        "discount": tx["discount"].to_numpy(dtype=float),
        **coupons,
    })


def sorted_lines(frame: pd.DataFrame) -> pd.DataFrame:
    """The lines' columns (the optional ``coupon_discount`` too, when there), sorted."""
    columns = LINE_COLUMNS + [c for c in ("coupon_discount",) if c in frame]
    return frame[columns].sort_values(columns).reset_index(drop=True)


def baskets(frame: pd.DataFrame) -> pd.DataFrame:
    """Each basket (a member's lines under one basket id) by what it holds, sorted.

    Basket ids differ between the loaders (codes vs hashes); the baskets must not.
    """
    key = frame["item_id"].astype(str) + "@" + frame["ts_us"].astype(str)
    per = frame.assign(key=key).groupby(["member_id", "basket_id"]).agg(
        lines=("amount", "size"), amount=("amount", "sum"), quantity=("quantity", "sum"),
        first=("ts_us", "min"), last=("ts_us", "max"), low=("key", "min"), high=("key", "max"),
    )
    return per.reset_index(level="basket_id", drop=True).reset_index().sort_values(
        ["member_id", "first", "low", "high", "lines", "amount"], ignore_index=True)


def assert_same_load(data_dir, now=NOW, policy=None, member_order=True):
    """Both loaders agree on ``data_dir``: lines, baskets, report and small tables.

    ``member_order=False``: members seen only in the lines may come in another
    order (a Parquet dictionary column: pandas orders them by the dictionary,
    DuckDB by first appearance).
    """
    want = load_dataset(data_dir, now=now, policy=policy)
    got = load_relational(connect(), data_dir, now=now, policy=policy)
    lines = got.transactions.to_pyarrow().to_pandas()
    expected = pandas_lines(want)
    assert len(lines) == len(expected) > 0
    assert ("coupon_discount" in lines) == ("coupon_discount" in expected)
    pd.testing.assert_frame_equal(sorted_lines(lines), sorted_lines(expected), check_dtype=False)
    pd.testing.assert_frame_equal(baskets(lines), baskets(expected), check_dtype=False)
    assert got.cleaning == want.cleaning
    if member_order:
        pd.testing.assert_frame_equal(got.members, want.members)
    else:
        pd.testing.assert_frame_equal(got.members.sort_values("member_id", ignore_index=True),
                                      want.members.sort_values("member_id", ignore_index=True))
    pd.testing.assert_frame_equal(got.items, want.items)
    events = got.offer_events.to_pyarrow().to_pandas()
    ev = want.offer_events
    expected_events = pd.DataFrame({
        c: ev[c].astype("str").to_numpy(dtype=object) for c in ev.columns if c != "timestamp"})
    expected_events["ts_us"] = ev["timestamp"].astype("datetime64[us]").astype("int64").to_numpy()
    if ev.empty:  # the pandas loader's empty frame has every column; the view the required
        expected_events = expected_events[["member_id", "offer_id", "event", "ts_us"]]
    assert sorted(events.columns) == sorted([*expected_events.columns, EVENT_ROW])
    # In the file's order (EVENT_ROW, the order events come back to pandas in), the
    # pandas loader's rows in its order: ties of a stable sort fall the same way.
    events = events.sort_values(EVENT_ROW, ignore_index=True)
    assert events[EVENT_ROW].is_unique
    by = list(expected_events.columns)
    pd.testing.assert_frame_equal(events[by].astype({"ts_us": "int64"}),
                                  expected_events[by].reset_index(drop=True), check_dtype=False)
    if want.offers is None:
        assert got.offers is None
    else:
        pd.testing.assert_frame_equal(got.offers, want.offers)
    assert got.last_timestamp == want.last_timestamp.floor("us")
    return got, want


def problems(loader, data_dir) -> list[str]:
    with pytest.raises(DataValidationError) as info:
        loader(data_dir)
    return [str(p) for p in info.value.problems]


def assert_same_problems(data_dir) -> list[str]:
    want = problems(lambda d: load_dataset(d, now=NOW), data_dir)
    got = problems(lambda d: load_relational(connect(), d, now=NOW), data_dir)
    assert got == want
    return got


# --- valid directories: the same lines and report --------------------------------------------

VALID = {
    "default": {},
    "dirty lines (every cleaning rule)": {"transactions": DIRTY},
    "returns however signed, 'C' order prefixes, a member with only returns": {
        "transactions": f"{TX_HEADER}\n1,2024-01-02,A,2,7.0,536365\n"
        "1,2024-01-03,A,-2,-7.0,C536365\n1,2024-01-04,B,1,-4.0,b3\n1,2024-01-05,A,1,-20.0,b4\n2,2024-01-06,C,-1,-2.0,b5\n"
        "3,2024-01-06,C,1,2.0,b6\n"},
    "time zones, spaces, quoted cells, no basket ids": {
        "transactions": "member_id,timestamp,item_id,quantity,amount\n"
        '1,2024-01-02T10:00:00+02:00, A,1, 3.5\n"1",2024-01-02T10:00:00Z,B,1,1\n'
        "1,2024-01-02T10:00:00Z,C,2,4\n 2 ,2024-01-03,C,1,2\n"},
    "offer events with retries and future rows, members file": {
        "offer_events.csv": "member_id,offer_id,event,timestamp,event_id\n"
        "1,o1,sent,2024-01-01,e1\n1,o1,sent,2024-01-01,e1\n1,o1,redeemed,2031-01-01,e2\n"
        "2,o1,sent,2024-01-02,e3\n2,o1,viewed,2024-01-03,e3\n3,o2, holdout ,2024-01-02,\n"
        "3,o2,sent,2024-01-02,\n",
        "members.csv": "member_id,tier\n2,gold\n9,silver\n"},
}


@pytest.mark.parametrize("files", list(VALID.values()), ids=list(VALID))
def test_valid_csv_directories_load_the_same(make_data_dir, files):
    assert_same_load(make_data_dir(**files))


def test_the_quantity_limit_policy_applies(make_data_dir):
    got, _ = assert_same_load(make_data_dir(transactions=DIRTY),
                              policy=CleaningPolicy(max_line_quantity=20000))
    assert 17000.0 in got.transactions.quantity.to_pyarrow().to_pylist()


def test_parquet_with_integer_float_and_dictionary_columns(tmp_path):
    root = tmp_path / "pq"
    root.mkdir()
    tx = pd.DataFrame({
        "member_id": pd.Categorical(["10", "10", "7", " 7", "8"]),
        "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-03",
                                     "2024-01-04"]).tz_localize("Europe/Paris"),
        "item_id": [1.0, 2.0, 1.0, 2.0, 1.0],  # ids written as floats
        "quantity": [1, 1, 250, 1, -1],
        "amount": [1.0, 2.0, 3.0, np.nan, 5.0],
        "basket_id": [5, 5, 6, 6, 7],
        "discount": [np.nan, -0.5, 0.0, 0.0, 0.0],
    })
    tx.loc[3, "amount"] = 4.0
    tx.to_parquet(root / "transactions.parquet")
    pd.DataFrame({"item_id": [1, 2], "category": ["a", "b"]}).to_parquet(root / "items.parquet")
    got, want = assert_same_load(root, member_order=False)
    assert want.cleaning.dropped["transactions"] == {"returns": 1}
    assert want.cleaning.fixed["transactions"] == {"quantity_reset": 1, "discount_sign": 1}


# Synthetic programs in the data shapes of other shops (training.synth.shapes).
SHAPES = {
    "default": DataShape(),
    "returns as negative lines": DataShape(returns_share=0.1),
    "no categories, one item, no offers": DataShape(n_items=1, no_categories=True,
                                                    no_offers=True, returns_share=0.05),
    "one-time buyers, few weeks": DataShape(one_time_share=0.7, weeks=5),
}


@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
def test_synthetic_shapes_load_the_same(tmp_path, shape):
    data = generate(tmp_path / "data", 60, seed=3, shape=shape)
    assert_same_load(data, now="2100-01-01")


@pytest.fixture(scope="module")
def synth_csv(synth_data, tmp_path_factory):
    """The shared synthetic program with its transactions as CSV (the streamed CSV path)."""
    root = tmp_path_factory.mktemp("synth-csv")
    for path in Path(synth_data).glob("*.parquet"):
        frame = pd.read_parquet(path)
        if path.stem == "transactions":
            frame.to_csv(root / "transactions.csv", index=False)
        else:
            frame.to_parquet(root / path.name)
    return root


def test_synthetic_csv_loads_the_same_and_gives_the_same_features(synth_csv):
    got, want = assert_same_load(synth_csv, now="2100-01-01")
    as_of = want.last_timestamp - pd.Timedelta(days=30)
    from features.member_features import build_member_features

    assert_same_frame(member_features(got.transactions, got, as_of),
                      build_member_features(want, as_of))


# --- bad input: the same problems -----------------------------------------------------------

BAD = {
    "missing items file": {"items": None},
    "missing column": {"transactions": "member_id,timestamp,item_id,quantity\n1,2024-01-01,A,1\n"},
    "header only": {"transactions": f"{TX_HEADER}\n"},
    "header only, missing column": {"transactions": "member_id,timestamp\n"},
    "empty file": {"transactions": ""},
    "unparsable timestamps": {
        "transactions": f"{TX_HEADER}\n1,2024-01-02,A,1,3.5,b1\n1,yesterday,B,1,1,b2\n"
        "2,2024-13-45,C,1,1,b3\n"},
    "not numbers": {
        "transactions": f"{TX_HEADER}\n1,2024-01-02,A,1,3.5,b1\n1,2024-01-03,B,1,$4,b2\n"
        "1,2024-01-03,B,inf,nan,b2\n"},
    "unknown items": {
        "transactions": f"{TX_HEADER}\n1,2024-01-02,A,1,3.5,b1\n1,2024-01-03,ZZ,1,2,b2\n"
        "2,2024-01-03,ZZ,1,2,b3\n2,2024-01-03,YY,1,2,b3\n"},
    "a missing item id beside an unknown one (bug: it was counted as unknown)": {
        "transactions": f"{TX_HEADER}\n1,2024-01-02,A,1,3.5,b1\n1,2024-01-03,,1,2,b2\n"
        "2,2024-01-03,ZZ,1,2,b3\n"},
    "missing required values": {
        "transactions": f"{TX_HEADER}\n,2024-01-02,A,1,3.5,b1\n1,2024-01-03,B,1,2,b2\n"
        "2,2024-01-04, ,1,,b3\n2,,C,1,1,b3\n"},
    "every problem at once, items too": {
        "transactions": f"{TX_HEADER}\n1,never,A,1,x,b1\n1,2024-01-01,Q,1,1,b1\n",
        "items": "item_id,category\nA,x\nA,y\n"},
    "short rows padded": {"transactions": f"{TX_HEADER}\n1,2024-01-02,A,1\n"},
    "not UTF-8": {"transactions.csv":
                  f"{TX_HEADER}\n1,2024-01-02,caf\xe9,1,3.5,b1\n".encode("latin-1")},
    "nothing left after cleaning": {"transactions": f"{TX_HEADER}\n1,2024-01-02,A,0,0,b1\n"},
    "offer events: missing column": {
        "offer_events.csv": "member_id,offer_id,timestamp\n1,o1,2024-01-02\n"},
    "offer events: bad and missing values": {
        "offer_events.csv": "member_id,offer_id,event,timestamp\n1,o1,sent,someday\n"
        "1,,sent,2024-01-02\n,o2,clicked,2024-01-02\n"},
    "offer events: header only": {"offer_events.csv": "member_id,offer_id,event,timestamp\n"},
    "bad offer events and members beside bad lines": {
        "transactions": f"{TX_HEADER}\n1,2024-01-02,A,1,x,b1\n",
        "offer_events.csv": "member_id,offer_id,event,timestamp\n1,o1,clicked,2024-01-02\n",
        "members.csv": "member_id,email_opt_in\n1,yes\n2,maybe\n"},
}


@pytest.mark.parametrize("files", list(BAD.values()), ids=list(BAD))
def test_bad_csv_directories_give_the_same_problems(make_data_dir, files):
    files = dict(files)
    data = make_data_dir(**files)  # a "transactions.csv" entry replaces the default lines
    assert assert_same_problems(data)


def test_bad_parquet_values_give_the_same_problems_with_row_numbers(tmp_path):
    root = tmp_path / "pq"
    root.mkdir()
    pd.DataFrame({
        "member_id": pd.array(["a", " ", "b", None, "c"], dtype="str"),
        "timestamp": pd.to_datetime(["2024-01-01", None, "2024-01-03", "2024-01-04",
                                     "2024-01-05"]),
        "item_id": ["1", "2", "1", "9", "2"],
        "quantity": [1.0, np.inf, 1.0, np.nan, 1.0],
        "amount": [1.0, 2.0, 3.0, 4.0, 5.0],
    }).to_parquet(root / "transactions.parquet")
    pd.DataFrame({"item_id": ["1", "2"], "category": ["x", "y"]}).to_parquet(
        root / "items.parquet"
    )
    found = assert_same_problems(root)
    assert any("row 2 (' ')" in p and "row 4 ('nan')" in p for p in found)
    assert any("1 item id(s) are not in the items table" in p and "row 4 ('9')" in p
               for p in found)


def test_unreadable_parquet_is_a_problem_not_a_crash(make_data_dir):
    data = make_data_dir(transactions=None)
    (data / "transactions.csv").unlink()
    (data / "transactions.parquet").write_bytes(b"PAR1 not really parquet")
    (msg,) = problems(lambda d: load_relational(connect(), d, now=NOW), data)
    assert msg.startswith("transactions.parquet: cannot be read as Parquet: ")


def test_two_loads_on_one_connection_keep_their_own_lines(make_data_dir, synth_csv):
    con = connect()
    small = load_relational(con, make_data_dir(), now=NOW)
    big = load_relational(con, synth_csv, now="2100-01-01")
    assert small.transactions.count().to_pyarrow().as_py() == 3
    n_big = big.transactions.count().to_pyarrow().as_py()
    assert n_big == big.cleaning.rows_out["transactions"] > 3


def test_not_a_directory(tmp_path):
    (msg,) = problems(lambda d: load_relational(connect(), d), tmp_path / "nope")
    assert "is not a directory" in msg


# --- out of core: the loader and the features spill under a memory limit ----------------------

COPIES = 20


@pytest.fixture(scope="module")
def big_dir(synth_data, tmp_path_factory):
    """The synthetic program repeated under new member ids: ~1.2M lines of Parquet."""
    root = tmp_path_factory.mktemp("big")
    tx = pd.read_parquet(Path(synth_data) / "transactions.parquet")
    step = int(tx["basket_id"].max()) + 1
    copies = [
        tx.assign(member_id=tx["member_id"].astype("str") + f"~{k}",
                  basket_id=tx["basket_id"] + k * step)
        for k in range(COPIES)
    ]
    pd.concat(copies, ignore_index=True).to_parquet(root / "transactions.parquet")
    for name in ("items", "offers"):
        pd.read_parquet(Path(synth_data) / f"{name}.parquet").to_parquet(root / f"{name}.parquet")
    return root, len(tx) * COPIES


@pytest.mark.slow
def test_loading_and_features_spill_under_a_memory_limit_far_below_the_data(big_dir, tmp_path):
    """36 MB for ~1.2M lines: DuckDB must spill (it fails when it may not) and agrees."""
    import duckdb

    root, n_lines = big_dir
    free = load_relational(connect(), root, now="2100-01-01")
    as_of = free.last_timestamp - pd.Timedelta(days=30)
    want = member_features(free.transactions, free, as_of)
    con = connect(memory_limit="36MB", temp_directory=tmp_path / "spill", threads=1)
    limited = load_relational(con, root, now="2100-01-01")
    assert limited.cleaning == free.cleaning
    assert limited.cleaning.rows_in["transactions"] == n_lines
    con.raw_sql("SET max_temp_directory_size = '0KB'")  # no spilling: too little memory
    with pytest.raises(duckdb.OutOfMemoryException):
        member_features(limited.transactions, limited, as_of)
    con.raw_sql("SET max_temp_directory_size = '10GB'")
    assert_same_frame(member_features(limited.transactions, limited, as_of), want)


@pytest.mark.slow
def test_a_complete_journey_sample_as_csv_loads_the_same_and_gives_the_same_features(
    tmp_path, complete_journey
):
    from features.member_features import build_member_features

    source = complete_journey[0]
    tx = pd.read_parquet(source / "transactions.parquet")
    members = tx["member_id"].astype("str")
    tx[members.isin(members.unique()[:80])].to_csv(tmp_path / "transactions.csv", index=False)
    for name in ("items", "members", "offer_events"):
        pd.read_parquet(source / f"{name}.parquet").to_parquet(tmp_path / f"{name}.parquet")
    got, want = assert_same_load(tmp_path, now="2100-01-01")
    assert want.cleaning.dropped["transactions"]  # the sample has lines to clean
    features = build_member_features(want, "2017-10-01")
    assert (features["coupon_lines"] > 0).any()  # the coupon columns are compared too
    assert_same_frame(member_features(got.transactions, got, "2017-10-01"), features)
