"""The report's section "Churn and spend at other horizons" (step "horizons").

Imports: :mod:`training.report.html` only.
"""

from __future__ import annotations

import pandas as pd

from training.report.html import HtmlReport


def horizons_section(rep: HtmlReport, run) -> None:
    """Validation per horizon of the churn and spend models and of BG/NBD + Gamma-Gamma."""
    found = run.metrics.get("horizons")
    if not found:
        return
    rep.heading("Churn and spend at other horizons")
    if not found.get("trained"):
        rep.text(f"No purchase-cycle model (BG/NBD, Gamma-Gamma): {found.get('reason')} "
                 "`offers score --horizon-days` and the profile's horizon_days are "
                 "unavailable for this version.", note=True)
        return
    bg, gg = found["params"]["bgnbd"], found["params"]["gamma_gamma"]
    rep.text(
        "`offers score --horizon-days N` and the profile's `horizon_days=N` answer with BG/NBD "
        f"(r={bg['r']:.3g}, alpha={bg['alpha']:.3g} days, a={bg['a']:.3g}, b={bg['b']:.3g}) "
        f"and Gamma-Gamma (p={gg['p']:.3g}, q={gg['q']:.3g}, gamma={gg['gamma']:.3g}). Each "
        "horizon h is validated on its own later period: models fitted before as_of - h, "
        "judged on the h days after; churn and spend models retrained at h for comparison.")
    if found.get("sample_fraction", 1.0) < 1.0:
        n = found["members_before_as_of"]
        rep.text(f"The parameters and the validation come from a seeded sample of "
                 f"{found['sample_fraction']:.1%} of the {n:,} members who bought before "
                 "as_of (the parameters describe the population); every member is scored.",
                 note=True)
    table = run.tables.get("horizon_metrics")
    if table is not None and len(table):
        for task in ("churn", "value"):
            part = table[table["task"] == task].dropna(axis=1, how="all").drop(columns="task")
            rep.table(part.reset_index(drop=True), float_format="{:,.3f}")
    left_out = found.get("left_out") or {}
    if left_out:
        rep.table(pd.DataFrame({"horizon_days": list(left_out),
                                "not validated because": list(left_out.values())}))
