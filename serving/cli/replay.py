"""``offers replay``: what a new catalog or model version would have earned on logged decisions."""

from __future__ import annotations

import json

import click


@click.command("replay")
@click.argument("artifacts_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--catalog", type=click.Path(dir_okay=False, exists=True),
              help="The new offer catalog (YAML/JSON, docs/catalog.md); default: the shipped one.")
@click.option("--version", default=None, help="Model version to replay (default: current).")
@click.option("--logs", required=True, type=click.Path(dir_okay=False, exists=True),
              help="Decision log from `offers events export --decisions` (.csv/.parquet/.jsonl).")
@click.option("--events", type=click.Path(exists=True),
              help="offer_events with the redemptions (a data directory or .csv/.parquet), "
                   "unless the log has a reward column.")
@click.option("--window-days", default=14.0, show_default=True, type=click.FloatRange(0),
              help="A redemption counts for a decision this many days after it.")
@click.option("--interval", type=click.Choice(["normal", "bootstrap"]), default="normal",
              show_default=True, help="Confidence interval method.")
@click.option("--level", default=0.95, show_default=True, type=click.FloatRange(0.5, 0.999),
              help="Confidence level of the intervals.")
@click.option("--max-unsupported", default=0.05, show_default=True,
              type=click.FloatRange(0, 1),
              help="Refuse when more than this share of decisions has no overlap.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def replay(artifacts_dir, catalog, version, logs, events, window_days, interval, level,
           max_unsupported, as_json) -> None:
    """Estimate the redemption rate per decision of a new catalog or version (IPS, SNIPS,
    doubly robust, with confidence intervals) from logged decisions; refuses when the logs
    cannot support it (no propensities, no overlap)."""
    from serving.engine import OfferEngine, load_bundle, load_catalog
    from serving.replay.replay import read_events
    from serving.replay.replay import replay as run_replay
    from serving.store.decisions import read_decisions

    frame = read_decisions(logs)
    event_frame = read_events(events) if events else None
    new_catalog = load_catalog(catalog)  # a catalog that does not validate stops here
    engine = OfferEngine(load_bundle(artifacts_dir, version), new_catalog)
    result = run_replay(engine, frame, events=event_frame, window_days=window_days,
                        interval=interval, level=level, max_unsupported=max_unsupported)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    click.echo(f"replayed {result.n_used} of {result.n_logged} logged decisions "
               f"(new policy agrees on {result.agreement:.0%}; effective sample size "
               f"{result.ess:.0f})")
    click.echo(f"logged policy: {result.logged_value:.4f} redemptions per decision")
    click.echo(f"{'estimator':<10}{'estimate':>10}{'low':>10}{'high':>10}")
    for e in result.estimates:
        click.echo(f"{e.method:<10}{e.value:>10.4f}{e.low:>10.4f}{e.high:>10.4f}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}")
