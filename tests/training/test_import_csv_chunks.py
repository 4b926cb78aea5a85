"""A CSV import read a chunk of lines at a time writes what reading it whole writes.

The importer converts and writes ``chunk_lines`` lines at a time, so a file of tens
of millions of lines imports in the memory of one chunk. These tests import the same
files with chunks of a few lines and with one chunk, and check the tables, the
problems listed and the ids read, across chunk boundaries.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import DataError, DataValidationError
from training.importers import CsvMapping, import_csv

MAPPING = CsvMapping("customer", "date", "sku", quantity_col="qty", price_col="unit",
                     category_col="cat", basket_col="order")


def _orders(n: int, seed: int = 0) -> str:
    """``n`` order lines with repeated and varied prices, categories that disagree per
    item, returns, guests and blank lines, so every per-item rule is exercised."""
    rng = np.random.default_rng(seed)
    rows = ["customer,date,sku,qty,unit,cat,order"]
    for i in range(n):
        if i % 17 == 5:
            rows.append("")  # a blank line
        customer = "" if i % 23 == 0 else f"c{rng.integers(1, 30)}"
        sku = f"s{rng.integers(1, 12)}"
        qty = int(rng.choice([-2, 1, 1, 2, 3]))
        unit = float(rng.choice([1.0, 1.5, 2.25, 2.25, 4.0, 9.99]))
        cat = rng.choice(["fruit", "veg", ""])
        rows.append(f"{customer},2024-01-{1 + i % 28:02d} 10:00,{sku},{qty},{unit},{cat},o{i // 3}")
    return "\n".join(rows) + "\n"


def _tables(out) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (pd.read_parquet(out / "transactions.parquet"), pd.read_parquet(out / "items.parquet"))


@pytest.mark.parametrize("chunk_lines", [7, 50])
def test_chunks_write_the_tables_of_one_read(tmp_path, chunk_lines):
    path = tmp_path / "orders.csv"
    path.write_text(_orders(400))
    whole = import_csv(path, tmp_path / "whole", MAPPING)
    chunked = import_csv(path, tmp_path / "chunked", MAPPING, chunk_lines=chunk_lines)
    assert chunked.to_dict() | {"out_dir": ""} == whole.to_dict() | {"out_dir": ""}
    (tx, items), (tx1, items1) = _tables(tmp_path / "chunked"), _tables(tmp_path / "whole")
    pd.testing.assert_frame_equal(tx, tx1)
    pd.testing.assert_frame_equal(items, items1)
    # the median unit price over the lines with a positive quantity, as pandas gives it
    lines = pd.read_csv(path, dtype={"customer": str}).dropna(subset=["customer"])
    want = lines[lines["qty"] > 0].groupby("sku")["unit"].median()
    assert items.set_index("item_id")["price"].to_dict() == pytest.approx(want.to_dict())
    assert whole.skipped == {"empty member id in column 'customer'": 18}


@pytest.mark.parametrize("chunk_lines", [7, 50])
def test_chunks_give_each_item_the_name_most_of_its_lines_give(tmp_path, chunk_lines):
    """Names that disagree across an item's lines (a description edited mid-year) and
    lines with none, across chunk boundaries: the most common non-empty name, ties to the
    alphabetically first, as one read gives it; without a category column, the category."""
    rng = np.random.default_rng(3)
    lines = _orders(400).splitlines()
    names = ["", *(str(rng.choice(["RED MUG", "RED MUG ", "Red mug", ""])) for _ in lines[1:])]
    named = [f"{line},{name}" if line else line for line, name in zip(lines, names)]
    named[0] = lines[0] + ",desc"
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(named) + "\n")
    mapping = CsvMapping("customer", "date", "sku", quantity_col="qty", price_col="unit",
                         name_col="desc")
    import_csv(path, tmp_path / "whole", mapping)
    import_csv(path, tmp_path / "chunked", mapping, chunk_lines=chunk_lines)
    (_, items), (_, items1) = _tables(tmp_path / "chunked"), _tables(tmp_path / "whole")
    pd.testing.assert_frame_equal(items, items1)
    read = pd.read_csv(path, dtype=str, keep_default_na=False)
    read["desc"] = read["desc"].str.strip()  # the reader strips values, as for every column
    read = read[(read["customer"] != "") & (read["desc"] != "")]
    counts = read.groupby(["sku", "desc"]).size().rename("n").reset_index()
    want = counts.sort_values(["sku", "n", "desc"], ascending=[True, False, True]
                              ).drop_duplicates("sku").set_index("sku")["desc"]
    got = items.set_index("item_id")
    assert got["name"].to_dict() == want.to_dict()
    assert (got["category"] == got["name"]).all()


def test_problems_of_every_chunk_are_listed_once_with_their_total(tmp_path):
    text = _orders(60).splitlines()
    bad = [3, 4, 40, 55]  # bad times in the first chunk and in later ones
    for at in bad:
        text[at] = text[at].replace("2024-01-", "2024-13-")
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(DataValidationError) as caught:
        import_csv(path, tmp_path / "out", MAPPING, chunk_lines=10)
    (problem,) = caught.value.problems
    assert problem.column == "date" and problem.count == sum(
        1 for at in bad if text[at].split(",")[0])  # guests are skipped before the times
    assert problem.rows == tuple(at + 1 for at in bad if text[at].split(",")[0])[:5]
    assert not (tmp_path / "out").exists()


def test_ids_written_as_decimals_are_read_as_numbers_only_when_every_chunk_has_them(tmp_path):
    header = "customer,date,sku,qty,unit,cat,order\n"
    decimals = "".join(f"{17850 + i}.0,2024-01-0{1 + i % 9},{i % 3}.0,1,2.5,fruit,{i}\n"
                       for i in range(9))
    path = tmp_path / "orders.csv"
    path.write_text(header + decimals)
    summary = import_csv(path, tmp_path / "all", MAPPING, chunk_lines=2)
    tx, items = _tables(tmp_path / "all")
    assert tx["member_id"].iloc[0] == "17850" and tx["item_id"].iloc[0] == "0"
    assert sorted(items["item_id"]) == ["0", "1", "2"]
    assert len([n for n in summary.notes if "written as decimals" in n]) == 2  # member, item
    # one item id in the last chunk that is not a decimal: that column is kept as written
    path.write_text(header + decimals + "17860.0,2024-01-09,85123A,1,2.5,fruit,9\n")
    import_csv(path, tmp_path / "mixed", MAPPING, chunk_lines=2)
    tx, items = _tables(tmp_path / "mixed")
    assert tx["member_id"].iloc[-1] == "17860" and tx["item_id"].iloc[0] == "0.0"
    assert sorted(items["item_id"]) == ["0.0", "1.0", "2.0", "85123A"]


def test_monthly_files_import_as_their_lines_in_one_file(tmp_path):
    """A shop's exports a month a file: read in the order given, as one file holding them."""
    lines = _orders(90).splitlines()
    header, body = lines[0], lines[1:]
    parts = [body[:40], body[40:41], body[41:]]
    paths = []
    for k, part in enumerate(parts):
        paths.append(tmp_path / f"orders-{k}.csv")
        paths[-1].write_text("\n".join([header, *part]) + "\n")
    (tmp_path / "all.csv").write_text("\n".join(lines) + "\n")
    summary = import_csv(paths, tmp_path / "months", MAPPING, chunk_lines=7)
    import_csv(tmp_path / "all.csv", tmp_path / "one", MAPPING)
    for got, want in zip(_tables(tmp_path / "months"), _tables(tmp_path / "one")):
        pd.testing.assert_frame_equal(got, want)
    assert summary.notes[0] == "3 files read in the order given, into one table"
    from click.testing import CliRunner

    from training.cli.imports import import_group

    result = CliRunner().invoke(import_group, [
        "csv", *map(str, paths), str(tmp_path / "cli"), "--member-col", "customer",
        "--time-col", "date", "--item-col", "sku", "--quantity-col", "qty",
        "--price-col", "unit"])
    assert result.exit_code == 0, result.output
    assert "3 files read" in result.output


def test_a_problem_names_its_file_and_a_missing_file_stops_before_writing(tmp_path):
    good, bad = tmp_path / "2024-01.csv", tmp_path / "2024-02.csv"
    good.write_text(_orders(20))
    bad.write_text(_orders(20).replace("2024-01-03", "2024-13-03"))
    with pytest.raises(DataValidationError) as caught:
        import_csv([good, bad], tmp_path / "out", MAPPING)
    assert [p.file for p in caught.value.problems] == ["2024-02.csv"]
    with pytest.raises(DataError, match="2024-03.csv does not exist"):
        import_csv([good, tmp_path / "2024-03.csv"], tmp_path / "out", MAPPING)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["csv_ids", "item_stats", "flat_csv"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"training.importers.{name}"))
    assert result.attempted > 0 and result.failed == 0
