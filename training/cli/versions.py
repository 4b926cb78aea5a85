"""``offers versions``, ``offers compare``, ``offers rollback`` and ``offers report``: manage
trained versions."""

from __future__ import annotations

import json
import math
import webbrowser

import click

from training import artifacts
from training.report.comparison import NOISE, comparison_rows

KEY_METRICS = (
    ("recommend", "blend_ndcg@10", "ndcg@10"),
    ("churn", "roc_auc", "churn auc"),
    ("value", "spearman", "clv spearman"),
    ("offer_response", "roc_auc", "offer auc"),
)


def key_metrics(manifest: dict) -> dict[str, float | None]:
    """The few metrics shown per version, from a manifest's ``metrics`` section."""
    metrics = manifest.get("metrics", {})
    return {label: metrics.get(section, {}).get(name) for section, name, label in KEY_METRICS}


@click.command()
@click.argument("artifacts_dir", type=click.Path(file_okay=False))
def versions(artifacts_dir: str) -> None:
    """List the trained versions in ARTIFACTS_DIR with their key metrics (* = current)."""
    current = artifacts.current_version(artifacts_dir)
    found = artifacts.list_versions(artifacts_dir)
    if not found:
        click.echo(f"{artifacts_dir} has no trained versions; run `offers train` first.")
        return
    labels = [label for _, _, label in KEY_METRICS]
    click.echo(f"  {'version':<30} {'as_of':<11} {'members':>8} " + " ".join(
        f"{label:>12}" for label in labels))
    for manifest in found:
        mark = "*" if manifest["version"] == current else " "
        values = key_metrics(manifest)
        cells = " ".join(
            f"{values[label]:>12.4f}" if values[label] is not None else f"{'-':>12}"
            for label in labels
        )
        members = manifest.get("row_counts", {}).get("members", "")
        as_of = str(manifest.get("as_of", ""))[:10]
        click.echo(f"{mark} {manifest['version']:<30} {as_of:<11} {members:>8} {cells}")


@click.command()
@click.argument("artifacts_dir", type=click.Path(file_okay=False, exists=True))
@click.argument("chosen", nargs=-1, metavar="[OLD [NEW]]")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def compare(artifacts_dir: str, chosen: tuple[str, ...], fmt: str) -> None:
    """Compare two versions' validation metrics; a change no larger than its noise (twice
    the standard error of the difference) is "within noise".

    \b
    offers compare DIR            the current version (else the newest) against the one
                                  trained before it
    offers compare DIR OLD        the current version against OLD
    offers compare DIR OLD NEW    NEW against OLD
    """
    if len(chosen) > 2:
        raise click.UsageError(f"give at most two versions (OLD NEW), not {len(chosen)}.")
    found = {m["version"]: m for m in artifacts.list_versions(artifacts_dir)}
    names = list(found)
    if not names:
        raise click.ClickException(f"{artifacts_dir} has no trained versions; run `offers "
                                   "train` first.")
    for name in chosen:
        if name not in found:
            raise click.ClickException(
                f"{artifacts_dir} has no version {name!r}; `offers versions {artifacts_dir}` "
                f"lists them ({', '.join(names[-3:]) or 'none yet'}{', ...' * (len(names) > 3)}).")
    current = artifacts.current_version(artifacts_dir)
    new = chosen[1] if len(chosen) == 2 else (current if current in found else names[-1])
    if len(chosen) >= 1:
        old = chosen[0]
    else:
        earlier = names[:names.index(new)]
        if not earlier:
            raise click.ClickException(
                f"{artifacts_dir} has no version before {new}; train another, or name two.")
        old = earlier[-1]
    rows = comparison_rows(found[new].get("metrics", {}), found[old].get("metrics", {}))
    if fmt == "json":
        click.echo(json.dumps({"old": old, "new": new, "metrics": [
            {"metric": r["metric"], "old": _number(r["previous"]),
             "new": _number(r["this version"]), "change": _number(r["change"]),
             "noise": _number(r[NOISE]), "verdict": r[""] or None}
            for r in rows]}, indent=2))
        return
    click.echo(f"{new} (as of {str(found[new].get('as_of'))[:10]}) against "
               f"{old} (as of {str(found[old].get('as_of'))[:10]})")
    click.echo(f"  {'metric':<30} {'old':>9} {'new':>9} {'change':>9} {'noise':>9}")
    for r in rows:
        cells = " ".join(_cell(r[c]) for c in ("previous", "this version", "change", NOISE))
        click.echo(f"  {r['metric']:<30} {cells}  {r['']}")
    click.echo("noise: twice the standard error of the difference, from resamples of each "
               "version's validation members; a change within it says nothing either way.")


def _number(value) -> float | None:
    """``value`` for JSON: NaN (an undefined metric) as null."""
    return None if value is None or math.isnan(value) else float(value)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return f"{'-':>9}"
    return f"{value:>9.4f}"


@click.command()
@click.argument("artifacts_dir", type=click.Path(file_okay=False, exists=True))
@click.option(
    "--to", "version", default=None, help="Version to make current (default: the previous one)."
)
def rollback(artifacts_dir: str, version: str | None) -> None:
    """Point ARTIFACTS_DIR/current at an earlier version (verified before switching)."""
    chosen = artifacts.rollback(artifacts_dir, version)
    click.echo(f"current -> {chosen}")


@click.command()
@click.argument("artifacts_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--version", default=None, help="Version whose report to show (default: current).")
@click.option("--open", "open_browser", is_flag=True, help="Open the report in a web browser.")
def report(artifacts_dir: str, version: str | None, open_browser: bool) -> None:
    """Print the path of a version's HTML report (and open it with --open)."""
    opened = artifacts.open_version(artifacts_dir, version)
    path = (opened.path / "report.html").resolve()
    if not opened.has("report.html"):
        raise click.ClickException(f"version {opened.version} has no report.html")
    click.echo(str(path))
    if open_browser:
        webbrowser.open(path.as_uri())
