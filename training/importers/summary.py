"""What an importer wrote: the small record both importers return."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ImportSummary:
    """Rows written per table, and what the importer had to fill in or skip.

    Parameters
    ----------
    out_dir : Path
        The data directory written.
    rows : dict of str to int
        Rows written per file, keyed by table name (``"transactions"``) or by
        side-file path relative to ``out_dir`` (``"extras/campaigns"``).
    placeholder_items : int
        Item rows invented for transaction lines whose item was not in the
        source's product list (category ``"UNKNOWN"``).
    skipped : dict of str to int
        Source lines left out, by reason.
    notes : list of str
        Other things worth telling the user, one sentence each.
    """

    out_dir: Path
    rows: dict[str, int] = field(default_factory=dict)
    placeholder_items: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary, one fact per line."""
        out = [f"wrote {self.out_dir}"]
        out += [f"  {name}: {n:,} rows" for name, n in self.rows.items()]
        if self.placeholder_items:
            out.append(
                f"  {self.placeholder_items:,} placeholder item(s) with category 'UNKNOWN' "
                "for lines whose product is not in the product list"
            )
        out += [f"  skipped {n:,} line(s): {reason}" for reason, n in self.skipped.items()]
        out += [f"  note: {note}" for note in self.notes]
        return out

    def to_dict(self) -> dict:
        return {
            "out_dir": str(self.out_dir),
            "rows": dict(self.rows),
            "placeholder_items": self.placeholder_items,
            "skipped": dict(self.skipped),
            "notes": list(self.notes),
        }
