"""The plot of an A/B test's arms (``offers lift --arms --plot FILE``): redemption rate per
arm with its interval."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from training.report.html import figure


def plot_arm_lift(table: pd.DataFrame, path: str | Path, confidence: float = 0.95) -> Path:
    """Bars of the redemption rate per arm with confidence intervals, saved as ``path``."""
    fig = figure(5.0, 3.2)
    ax = fig.axes[0]
    rate = table["redemption_rate"].to_numpy()
    err = [rate - table["ci_low"].to_numpy(), table["ci_high"].to_numpy() - rate]
    ax.bar(table["arm"].astype(str), rate, yerr=err, capsize=6, color="#4c72b0")
    for x, (r, n) in enumerate(zip(rate, table["members"])):
        ax.annotate(f"{r:.1%}\nn={n}", (x, r), textcoords="offset points", xytext=(0, 8),
                    ha="center", fontsize=8)
    ax.set_ylabel("members who redeemed")
    ax.set_title(f"A/B test: redemption rate per arm ({confidence:.0%} interval)")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path
