"""The flat CSV importer: known answers on hand-made files, and every error it explains."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from features.errors import ConfigError, DataError, DataValidationError
from features.loading import load_dataset
from training.cli.imports import import_group
from training.importers import WHITESPACE, CsvFormat, CsvMapping, import_csv

ORDERS = (
    "\ufeffcustomer,date,sku,qty,unit,cat,order\n"
    "c1,2024-01-05 10:00,A,2,1.5,fruit,o1\n"
    "\n"
    "c1,2024-01-05 10:00,B,1,3,veg,o1\n"
    ",2024-01-06,A,1,1.5,fruit,o2\n"
    "c2,2024-01-07T09:00:00+02:00,A,4,2.0,fruit,o3\n"
    "c2,2024-01-08,A,1,9,snacks,o4\n"
    "c3,2024-01-09,B,-1,3,veg,o5\n"
)
FULL = CsvMapping(
    member_col="customer",
    time_col="date",
    item_col="sku",
    quantity_col="qty",
    price_col="unit",
    category_col="cat",
    basket_col="order",
)
TOTALS = "customer,date,sku,total\nc1,2024-01-02,A,3.5\nc2,2024-01-03,A,4.5\nc2,2024-01-04,B,1\n"
BY_TOTAL = CsvMapping("customer", "date", "sku", amount_col="total")


def write(tmp_path, text, name="orders.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_unit_prices_bom_blank_lines_guests_and_time_zones(tmp_path):
    summary = import_csv(write(tmp_path, ORDERS), tmp_path / "out", FULL)

    tx = pd.read_parquet(tmp_path / "out" / "transactions.parquet")
    assert list(tx.columns) == ["member_id", "timestamp", "item_id", "quantity", "amount",
                                "basket_id"]
    assert tx["member_id"].tolist() == ["c1", "c1", "c2", "c2", "c3"]
    assert tx["timestamp"].tolist() == [
        pd.Timestamp("2024-01-05 10:00"),
        pd.Timestamp("2024-01-05 10:00"),
        pd.Timestamp("2024-01-07 07:00"),  # +02:00 converted to UTC
        pd.Timestamp("2024-01-08"),
        pd.Timestamp("2024-01-09"),
    ]
    assert tx["quantity"].tolist() == [2.0, 1.0, 4.0, 1.0, -1.0]
    assert tx["amount"].tolist() == [3.0, 3.0, 8.0, 9.0, -3.0]  # price x quantity
    assert tx["basket_id"].tolist() == ["o1", "o1", "o3", "o4", "o5"]

    items = pd.read_parquet(tmp_path / "out" / "items.parquet")
    assert items.to_dict("records") == [
        # A: categories fruit, fruit, snacks -> fruit; unit prices 1.5, 2.0, 9 -> median 2.0
        {"item_id": "A", "category": "fruit", "price": 2.0},
        # B: the return (quantity -1) does not count towards the price
        {"item_id": "B", "category": "veg", "price": 3.0},
    ]
    assert summary.rows == {"transactions": 5, "items": 2}
    assert summary.skipped == {"empty member id in column 'customer'": 1}


def test_amounts_without_quantity_or_category(tmp_path):
    summary = import_csv(write(tmp_path, TOTALS), tmp_path / "out", BY_TOTAL)

    tx = pd.read_parquet(tmp_path / "out" / "transactions.parquet")
    assert tx["quantity"].tolist() == [1.0, 1.0, 1.0]
    assert tx["amount"].tolist() == [3.5, 4.5, 1.0]
    assert "basket_id" not in tx.columns
    items = pd.read_parquet(tmp_path / "out" / "items.parquet")
    assert items.to_dict("records") == [
        {"item_id": "A", "category": "A", "price": 4.0},  # no category: its own category
        {"item_id": "B", "category": "B", "price": 1.0},
    ]
    assert any("quantity 1" in note for note in summary.notes)
    assert any("assumed every item is its own category" in line for line in summary.lines())


CLV_ONLY = (
    "customer,date,amount\n"
    "c1,2024-01-02,30\nc1,2024-02-02,-45\n"  # a refund larger than the purchase
    "c2,2024-01-03,12.5\nc3,2024-01-04,-5\n"  # c3: only a return
)


def test_clv_only_export_without_item_or_category(tmp_path):
    """Issue 13: customer, date, amount is enough; refunds load as dropped returns."""
    mapping = CsvMapping("customer", "date", amount_col="amount")
    summary = import_csv(write(tmp_path, CLV_ONLY), tmp_path / "out", mapping)
    items = pd.read_parquet(tmp_path / "out" / "items.parquet")
    assert items["item_id"].tolist() == ["any purchase"]
    assert items["category"].tolist() == ["any purchase"]
    text = "\n".join(summary.lines())
    assert "no item column" in text and "2 return line(s)" in text
    ds = load_dataset(tmp_path / "out")
    assert ds.cleaning.dropped["transactions"] == {"returns": 2}
    assert ds.transactions["amount"].tolist() == [30.0, 12.5]


def test_cli_imports_without_item_and_category_columns(tmp_path):
    path = write(tmp_path, CLV_ONLY)
    result = CliRunner().invoke(import_group, [
        "csv", str(path), str(tmp_path / "out"), "--member-col", "customer",
        "--time-col", "date", "--amount-col", "amount"])
    assert result.exit_code == 0, result.output
    assert "note: no item column" in result.output
    assert "note: no category column: assumed" in result.output


def test_amount_with_quantity_gives_unit_price(tmp_path):
    text = "m,t,i,n,total\n1,2024-02-01,X,4,10\n2,2024-02-02,X,1,3\n3,2024-02-03,X,0,0\n"
    mapping = CsvMapping("m", "t", "i", quantity_col="n", amount_col="total")
    import_csv(write(tmp_path, text), tmp_path / "out", mapping)
    items = pd.read_parquet(tmp_path / "out" / "items.parquet")
    assert items["price"].tolist() == [2.75]  # median of 10/4 and 3/1; the 0-quantity line ignored
    tx = pd.read_parquet(tmp_path / "out" / "transactions.parquet")
    assert tx["member_id"].tolist() == ["1", "2", "3"]  # ids stay strings


def test_date_format(tmp_path):
    text = "m,t,i,total\n1,31/01/2024 14:05,X,2\n2,01/02/2024 08:00,X,2\n"
    mapping = CsvMapping("m", "t", "i", amount_col="total", date_format="%d/%m/%Y %H:%M")
    import_csv(write(tmp_path, text), tmp_path / "out", mapping)
    tx = pd.read_parquet(tmp_path / "out" / "transactions.parquet")
    assert tx["timestamp"].tolist() == [pd.Timestamp("2024-01-31 14:05"),
                                        pd.Timestamp("2024-02-01 08:00")]


def test_output_loads(tmp_path):
    import_csv(write(tmp_path, ORDERS), tmp_path / "out", FULL)
    ds = load_dataset(tmp_path / "out", now="2025-01-01")
    assert ds.cleaning.rows_in == {"transactions": 5, "items": 2}
    assert ds.cleaning.dropped == {"transactions": {"returns": 1}}  # c3's line
    assert sorted(ds.members["member_id"]) == ["c1", "c2"]
    assert set(ds.items["item_id"]) == {"A", "B"}
    assert ds.transactions["amount"].sum() == 23.0


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.csv does not exist"):
        import_csv(tmp_path / "nope.csv", tmp_path / "out", BY_TOTAL)


def test_missing_column_lists_the_file_columns(tmp_path):
    mapping = CsvMapping("Customer", "date", "item", amount_col="total")
    with pytest.raises(DataError) as info:
        import_csv(write(tmp_path, TOTALS), tmp_path / "out", mapping)
    text = str(info.value)
    assert "--member-col 'Customer' (did you mean 'customer'?)" in text
    assert "--item-col 'item'" in text
    assert "The file has the columns: 'customer', 'date', 'sku', 'total'." in text
    assert not (tmp_path / "out").exists()


def test_semicolon_file_is_explained(tmp_path):
    with pytest.raises(DataError, match="looks semicolon-separated"):
        import_csv(write(tmp_path, "customer;date;sku;total\n1;2024-01-01;A;1\n"),
                   tmp_path / "out", BY_TOTAL)


def test_bad_times_name_lines_and_values(tmp_path):
    text = "customer,date,sku,total\nc1,2024-01-02,A,1\nc1,05/01/2024,A,1\n\nc2,,A,1\n"
    with pytest.raises(DataValidationError) as info:
        import_csv(write(tmp_path, text), tmp_path / "out", BY_TOTAL)
    [problem] = info.value.problems
    assert problem.column == "date"
    assert problem.rows == (3, 5)  # the header is line 1; the blank line 4 still counts
    assert problem.values == ("05/01/2024", "")
    assert problem.count == 2
    assert "--date-format" in str(info.value)
    assert not (tmp_path / "out").exists()


def test_bad_date_format_string_and_values(tmp_path):
    text = "m,t,i,total\n1,2024-01-31,X,2\n"
    mapping = CsvMapping("m", "t", "i", amount_col="total", date_format="%d/%m/%Y")
    with pytest.raises(DataValidationError, match="with --date-format '%d/%m/%Y'"):
        import_csv(write(tmp_path, text), tmp_path / "out", mapping)


@pytest.mark.parametrize("column", ["qty", "unit"])
def test_non_numeric_numbers(tmp_path, column):
    text = "customer,date,sku,qty,unit\nc1,2024-01-02,A,1,2\nc1,2024-01-03,A,x,\u20ac2\n"
    mapping = CsvMapping("customer", "date", "sku", quantity_col="qty", price_col="unit")
    with pytest.raises(DataValidationError) as info:
        import_csv(write(tmp_path, text), tmp_path / "out", mapping)
    by_column = {p.column: p for p in info.value.problems}
    assert set(by_column) == {"qty", "unit"}  # every problem is listed, not just the first
    assert by_column[column].rows == (3,)
    assert by_column[column].values == ({"qty": "x", "unit": "\u20ac2"}[column],)
    assert "not numbers" in by_column[column].message


def test_non_numeric_amount_and_empty_item(tmp_path):
    text = 'customer,date,sku,total\nc1,2024-01-02,A,1\nc1,2024-01-03,,"1,50"\nc2,2024-01-04,B,\n'
    with pytest.raises(DataValidationError) as info:
        import_csv(write(tmp_path, text), tmp_path / "out", BY_TOTAL)
    by_column = {p.column: p for p in info.value.problems}
    assert by_column["sku"].rows == (3,)
    assert by_column["total"].rows == (3, 4)
    assert by_column["total"].values == ("1,50", "")


@pytest.mark.parametrize(
    ("amount", "price", "message"),
    [("total", "unit", "Both an amount column"), (None, None, "Neither an amount column")],
)
def test_exactly_one_of_amount_and_price(tmp_path, amount, price, message):
    mapping = CsvMapping("customer", "date", "sku", amount_col=amount, price_col=price)
    with pytest.raises(ConfigError, match=message):
        import_csv(write(tmp_path, TOTALS), tmp_path / "out", mapping)


def test_not_utf8(tmp_path):
    path = write(tmp_path, "customer,date,sku,total\nJos\xe9,2024-01-01,A,1\n".encode("cp1252"))
    with pytest.raises(DataError, match=r"not UTF-8 encoded \(line 2: byte 0xe9"):
        import_csv(path, tmp_path / "out", BY_TOTAL)


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "is empty"), ("customer,date,sku,total\n", "no order lines"),
     ("customer,date,sku,total\n,2024-01-01,A,1\n", "no order line has a member id")],
)
def test_nothing_to_import(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        import_csv(write(tmp_path, text), tmp_path / "out", BY_TOTAL)


def test_existing_output_needs_overwrite(tmp_path):
    path = write(tmp_path, TOTALS)
    import_csv(path, tmp_path / "out", BY_TOTAL)
    with pytest.raises(DataError, match="--overwrite"):
        import_csv(path, tmp_path / "out", BY_TOTAL)
    import_csv(path, tmp_path / "out", BY_TOTAL, overwrite=True)


def test_cli_success_and_clean_errors(tmp_path):
    path = write(tmp_path, TOTALS)
    base = ["csv", str(path), str(tmp_path / "out"), "--member-col", "customer",
            "--time-col", "date", "--item-col", "sku"]
    runner = CliRunner()

    ok = runner.invoke(import_group, [*base, "--amount-col", "total"])
    assert ok.exit_code == 0, ok.output
    assert "transactions: 3 rows" in ok.output

    neither = runner.invoke(import_group, base)
    assert neither.exit_code == 2
    assert "Neither an amount column" in neither.output

    exists = runner.invoke(import_group, [*base, "--amount-col", "total"])
    assert exists.exit_code == 1
    assert "pass --overwrite" in exists.output
    assert "Traceback" not in exists.output

    bad_col = runner.invoke(import_group, [*base, "--amount-col", "price", "--overwrite"])
    assert bad_col.exit_code == 1
    assert "--amount-col 'price'" in bad_col.output


UCI = (
    "InvoiceNo,StockCode,Quantity,InvoiceDate,UnitPrice,CustomerID\n"
    "536365,85123A,6,2010-12-01 08:26,2.55,17850\n"
    "536365,71053,6,2010-12-01 08:26,3.39,17850\n"
    "C536379,85123A,-6,2010-12-01 09:41,2.55,17850\n"  # a cancelled order: 'C' and negative
    "C536383,71053,-1,2010-12-01 09:49,3.39,15311\n"  # 15311 only returned
    "536384,71053,2,2010-12-01 09:53,3.39,\n"  # a guest order
)


def test_uci_online_retail_cancellations_load_as_counted_returns(tmp_path):
    mapping = CsvMapping("CustomerID", "InvoiceDate", "StockCode", quantity_col="Quantity",
                         price_col="UnitPrice", basket_col="InvoiceNo")
    summary = import_csv(write(tmp_path, UCI), tmp_path / "out", mapping)
    assert any("2 return line(s)" in note for note in summary.notes)
    ds = load_dataset(tmp_path / "out")
    assert ds.cleaning.dropped["transactions"] == {"returns": 2}
    assert ds.transactions["member_id"].astype(str).unique().tolist() == ["17850"]
    assert sorted(ds.items["category"]) == ["71053", "85123A"]  # each item its own category


UCI_NAMED = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID\n"
    "536365,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,2010-12-01 08:26,2.55,17850\n"
    "536366,85123A,CREAM HANGING HEART T-LIGHT HOLDER,6,2010-12-02 08:26,2.55,17850\n"
    "536367,85123A,WHITE HANGING HEART T-LIGHT HOLDER,2,2010-12-03 08:26,2.55,13047\n"
    "536365,71053,,6,2010-12-01 08:26,3.39,17850\n"  # never described
)


def test_product_names_name_the_items_and_without_categories_their_categories(tmp_path):
    """--name-col: each item's most common description is its name, shown by offers and
    recommendations, and its category when the export has none; an item no line describes
    keeps its id, and the import says how many."""
    mapping = CsvMapping("CustomerID", "InvoiceDate", "StockCode", quantity_col="Quantity",
                         price_col="UnitPrice", basket_col="InvoiceNo", name_col="Description")
    summary = import_csv(write(tmp_path, UCI_NAMED), tmp_path / "out", mapping)
    items = load_dataset(tmp_path / "out").items.set_index("item_id")
    heart = "WHITE HANGING HEART T-LIGHT HOLDER"
    assert items.loc["85123A", ["name", "category"]].tolist() == [heart, heart]
    assert pd.isna(items.loc["71053", "name"]) and items.loc["71053", "category"] == "71053"
    assert ("no category column: assumed every item is its own category, called by its "
            "name (column 'Description')") in summary.notes
    assert "1 item(s) with no name in column 'Description': shown by their id" in summary.notes
    # With a category column the name is only the name.
    text = UCI_NAMED.replace("CustomerID\n", "CustomerID,Dept\n", 1).replace(
        "\n5", ",HOME\n5").rstrip("\n") + ",HOME\n"
    with_dept = CsvMapping(**{**mapping.__dict__, "category_col": "Dept"})
    import_csv(write(tmp_path, text, "dept.csv"), tmp_path / "dept", with_dept)
    items = load_dataset(tmp_path / "dept").items.set_index("item_id")
    assert items.loc["85123A", ["name", "category"]].tolist() == [heart, "HOME"]
    # A name column the file lacks is named in the error, as every mapped column is.
    result = CliRunner().invoke(import_group, [
        "csv", str(tmp_path / "orders.csv"), str(tmp_path / "cli"), "--member-col",
        "CustomerID", "--time-col", "InvoiceDate", "--item-col", "StockCode",
        "--price-col", "UnitPrice", "--name-col", "Desc"])
    assert result.exit_code == 1
    assert "column(s) not found: --name-col 'Desc'. The file has the columns: " in result.output


EUROPEAN = (
    "Kunde;Datum;Artikel;Menge;Preis\n"
    "K1;05.01.2024;A;2;1,50\n"
    "K1;05.01.2024;B;1;1.234,00\n"
    "K2;07.01.2024;A;4;2\n"
    "K3;09.01.2024;B;-1;1 234,00\n"
)


def test_a_european_export_semicolons_decimal_commas_windows_1252(tmp_path):
    """A German shop's export: ';' between fields, ',' before decimals, '.' or a space
    between thousands, and Windows-1252 text."""
    path = write(tmp_path, EUROPEAN.replace("K3", "Jürgen").encode("cp1252"))
    mapping = CsvMapping("Kunde", "Datum", "Artikel", quantity_col="Menge", price_col="Preis",
                         date_format="%d.%m.%Y")
    fmt = CsvFormat(encoding="cp1252", delimiter=";", decimal=",")
    summary = import_csv(path, tmp_path / "out", mapping, fmt=fmt)
    assert summary.rows["transactions"] == 4
    tx = pd.read_parquet(tmp_path / "out" / "transactions.parquet")
    assert tx["amount"].tolist() == [3.0, 1234.0, 8.0, -1234.0]
    assert tx["member_id"].tolist()[-1] == "Jürgen"
    runner = CliRunner()
    result = runner.invoke(import_group, [
        "csv", str(path), str(tmp_path / "cli"), "--member-col", "Kunde", "--time-col", "Datum",
        "--item-col", "Artikel", "--quantity-col", "Menge", "--price-col", "Preis",
        "--encoding", "cp1252", "--delimiter", ";", "--decimal", ",",
        "--date-format", "%d.%m.%Y"])
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(tmp_path / "cli" / "transactions.parquet")["amount"].sum() == 11.0


def test_format_mistakes_are_explained(tmp_path):
    """Each way to get the format wrong says what to pass instead, and writes nothing."""
    mapping = CsvMapping("Kunde", "Datum", "Artikel", quantity_col="Menge", price_col="Preis",
                         date_format="%d.%m.%Y")
    path = write(tmp_path, EUROPEAN)
    with pytest.raises(DataError, match="pass --delimiter ';'"):
        import_csv(path, tmp_path / "out", mapping)
    with pytest.raises(DataValidationError, match="pass --decimal ','"):
        import_csv(path, tmp_path / "out", mapping, fmt=CsvFormat(delimiter=";"))
    with pytest.raises(DataError, match="--encoding cp1252"):
        import_csv(write(tmp_path, EUROPEAN.replace("K3", "Jürgen").encode("cp1252")),
                   tmp_path / "out", mapping, fmt=CsvFormat(delimiter=";", decimal=","))
    for bad, message in ((CsvFormat(encoding="klingon"), "not a known text encoding"),
                         (CsvFormat(delimiter=";;"), "must be one character"),
                         (CsvFormat(delimiter=",", decimal=","), "both ','")):
        with pytest.raises(ConfigError, match=message):
            import_csv(path, tmp_path / "out", mapping, fmt=bad)
    assert not (tmp_path / "out").exists()
    result = CliRunner().invoke(import_group, [
        "csv", str(path), str(tmp_path / "out"), "--member-col", "Kunde", "--time-col", "Datum",
        "--price-col", "Preis", "--decimal", ";"])
    assert result.exit_code == 2 and "Invalid value for '--decimal'" in result.output


def test_whole_number_ids_written_as_decimals_are_read_as_numbers(tmp_path):
    """pandas and spreadsheets write an integer id column with gaps as 17850.0; the ids
    then would not match the shop's own (an app asks for member 17850)."""
    text = ("CustomerID,InvoiceDate,StockCode,Quantity,UnitPrice,InvoiceNo\n"
            "17850.0,2010-12-01 08:26,85123.0,6,2.55,536365.0\n"
            ",2010-12-01 08:28,85123.0,1,2.55,536366.0\n"
            "13047.0,2010-12-01 08:34,71053.0,6,3.39,536367.0\n"
            "13047.0,2010-12-02 09:00,84406B,2,2.75,536368.0\n")
    mapping = CsvMapping("CustomerID", "InvoiceDate", "StockCode", quantity_col="Quantity",
                         price_col="UnitPrice", basket_col="InvoiceNo")
    summary = import_csv(write(tmp_path, text), tmp_path / "out", mapping)
    tx = pd.read_parquet(tmp_path / "out" / "transactions.parquet")
    assert tx["member_id"].tolist() == ["17850", "13047", "13047"]
    assert tx["basket_id"].tolist() == ["536365", "536367", "536368"]
    assert tx["item_id"].tolist() == ["85123.0", "71053.0", "84406B"]  # not all decimals: kept
    assert [n.split(" in column")[0] for n in summary.notes[:2]] == ["member ids", "order ids"]


def test_a_compressed_export_imports_as_the_plain_file(tmp_path):
    import gzip
    import zipfile

    plain = write(tmp_path, TOTALS)
    (tmp_path / "orders.csv.gz").write_bytes(gzip.compress(TOTALS.encode()))
    with zipfile.ZipFile(tmp_path / "orders.zip", "w") as archive:
        archive.writestr("orders.csv", TOTALS)
    import_csv(plain, tmp_path / "plain", BY_TOTAL)
    want = pd.read_parquet(tmp_path / "plain" / "transactions.parquet")
    for name in ("orders.csv.gz", "orders.zip"):
        import_csv(tmp_path / name, tmp_path / name.replace(".", "_"), BY_TOTAL)
        got = pd.read_parquet(tmp_path / name.replace(".", "_") / "transactions.parquet")
        pd.testing.assert_frame_equal(got, want)
    # the line of a byte the encoding cannot read is found in the decompressed text
    latin = "customer,date,sku,total\nc1,2024-01-01,A,1\nJos\xe9,2024-01-01,A,1\n"
    (tmp_path / "latin.csv.gz").write_bytes(gzip.compress(latin.encode("cp1252")))
    with pytest.raises(DataError, match=r"not UTF-8 encoded \(line 3: byte 0xe9"):
        import_csv(tmp_path / "latin.csv.gz", tmp_path / "out", BY_TOTAL)


#: A space-aligned text export, as the CDNOW data are published: leading spaces, runs of
#: spaces between fields, zero-padded ids, dates as YYYYMMDD, a blank line.
ALIGNED = (" customer_id  date number_of_cds  dollar_value\n"
           " 00001 19970101  1   11.77\n"
           " 00002 19970112  1   12.00\n"
           "\n"
           " 00002 19970112  5   77.00\n"
           " 00003 19970102  2   20.76\n")


def test_a_space_aligned_export_imports_with_delimiter_whitespace(tmp_path):
    path = write(tmp_path, ALIGNED)
    mapping = CsvMapping("customer_id", "date", quantity_col="number_of_cds",
                         amount_col="dollar_value", date_format="%Y%m%d")
    with pytest.raises(DataError, match="looks separated by spaces: pass --delimiter whitespace"):
        import_csv(path, tmp_path / "out", mapping)
    tabbed = write(tmp_path, ALIGNED.replace("  ", "\t"), name="tabbed.txt")
    with pytest.raises(DataError, match="looks tab-separated: pass --delimiter tab"):
        import_csv(tabbed, tmp_path / "out", mapping)
    assert not (tmp_path / "out").exists()
    summary = import_csv(path, tmp_path / "out", mapping, fmt=CsvFormat(delimiter=WHITESPACE))
    assert summary.rows["transactions"] == 4
    tx = pd.read_parquet(tmp_path / "out" / "transactions.parquet")
    assert tx["member_id"].tolist() == ["00001", "00002", "00002", "00003"]
    assert tx["amount"].tolist() == [11.77, 12.0, 77.0, 20.76]
    assert tx["timestamp"].iloc[1] == pd.Timestamp("1997-01-12")
    # The command line takes 'whitespace', 'space' or ' ' for it; a bare space in the
    # library is refused with the name to use.
    for given in ("whitespace", "space", " "):
        result = CliRunner().invoke(import_group, [
            "csv", str(path), str(tmp_path / f"cli{given.strip()}"), "--member-col",
            "customer_id", "--time-col", "date", "--quantity-col", "number_of_cds",
            "--amount-col", "dollar_value", "--date-format", "%Y%m%d", "--delimiter", given])
        assert result.exit_code == 0, result.output
    with pytest.raises(ConfigError, match="'whitespace' for columns separated by spaces"):
        CsvFormat(delimiter=" ").validate()
