"""A small builder for self-contained HTML reports (plots embedded as PNG data URIs).

It knows nothing about models: :mod:`training.report.render` decides what goes in.
Figures are drawn with matplotlib's object API (``matplotlib.figure.Figure``),
so no global backend or pyplot state is touched.
"""

from __future__ import annotations

import base64
import html
import io

import pandas as pd
from matplotlib.figure import Figure

STYLE = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.4; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { margin-top: 2em; border-bottom: 1px solid #bbb; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
.note { color: #555; font-size: 13px; }
.better { color: #0a7d32; } .worse { color: #b3261e; }
figure { display: inline-block; margin: .5em 1em .5em 0; }
"""


def figure(width: float = 6.0, height: float = 3.6) -> Figure:
    """A new figure with one axes (``fig.axes[0]``)."""
    fig = Figure(figsize=(width, height), dpi=100, layout="tight")
    fig.add_subplot()
    return fig


class HtmlReport:
    """Accumulates sections and renders one self-contained HTML page."""

    def __init__(self, title: str):
        self.title = title
        self.parts: list[str] = []

    def heading(self, text: str, level: int = 2) -> None:
        self.parts.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def text(self, text: str, note: bool = False, flag: bool = False) -> None:
        """A paragraph; ``note`` in small grey, ``flag`` in red (a model that loses to its
        baseline)."""
        cls = ' class="worse"' if flag else (' class="note"' if note else "")
        self.parts.append(f"<p{cls}>{html.escape(text)}</p>")

    def table(
        self, frame: pd.DataFrame, float_format: str = "{:,.3f}", index: bool = False
    ) -> None:
        shown = frame.copy()
        for col in shown.columns:
            if pd.api.types.is_float_dtype(shown[col].dtype):
                shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else float_format.format(v))
        self.parts.append(shown.to_html(index=index, border=0, escape=True, na_rep=""))

    def figure(self, fig: Figure, caption: str = "") -> None:
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self.parts.append(
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"{cap}</figure>"
        )

    def render(self) -> str:
        body = "\n".join(self.parts)
        return (
            "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(self.title)}</title><style>{STYLE}</style></head>"
            f"<body><h1>{html.escape(self.title)}</h1>\n{body}\n</body></html>\n"
        )
