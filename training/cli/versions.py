"""``offers versions``, ``offers rollback`` and ``offers report``: manage trained versions."""

from __future__ import annotations

import webbrowser

import click

from training import artifacts

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
