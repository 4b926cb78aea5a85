"""Shared fixtures: small data directories written from literal tables."""

from __future__ import annotations

from pathlib import Path

import pytest

TX_HEADER = "member_id,timestamp,item_id,quantity,amount,basket_id"
ITEMS_CSV = "item_id,category,department\nA,coffee,drinks\nB,tea,drinks\nC,bread,bakery\n"


def write_dir(root: Path, files: dict[str, str | bytes]) -> Path:
    """Write ``{filename: content}`` into ``root`` and return it."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def make_data_dir(tmp_path):
    """Build a data directory; ``transactions``/``items`` default to a small valid pair."""

    def make(name="data", transactions=None, items=ITEMS_CSV, **files):
        if transactions is None:
            transactions = (
                f"{TX_HEADER}\n"
                "1,2024-01-02T10:00:00,A,1,3.5,b1\n"
                "1,2024-01-09T10:00:00,B,2,4.0,b2\n"
                "2,2024-01-03T11:00:00,C,1,2.0,b3\n"
            )
        content = {"transactions.csv": transactions, **files}
        if items is not None:
            content["items.csv"] = items
        return write_dir(tmp_path / name, content)

    return make
