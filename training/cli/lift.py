"""``offers lift``: did the offers change behaviour? Treated vs held-out members per campaign."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from features.storage import write_frame_atomic
from training.cli.checks import out_file, plot_file


@click.command()
@click.argument("data_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--holdouts", "holdout_files", multiple=True,
              type=click.Path(exists=True),
              help="Holdouts file(s), or DIR.holdouts/ of Parquet parts, written by "
                   "`offers campaign` (repeatable).")
@click.option("--window-days", default=28.0, show_default=True, type=click.FloatRange(min=1))
@click.option("--out", type=click.Path(dir_okay=False), callback=out_file,
              help="Also write the table (.csv/.parquet).")
@click.option("--arms", "arms_log", type=click.Path(dir_okay=False, exists=True),
              help="Instead: compare the arms of an A/B test ([ab_test]) from this decision "
                   "log (`offers events export --decisions`), against DATA_DIR's redemptions.")
@click.option("--plot", type=click.Path(dir_okay=False), callback=plot_file,
              help="With --arms: also draw the arms with their intervals (.png/.svg/.pdf).")
def lift(data_dir, holdout_files, window_days, out, arms_log, plot) -> None:
    """Compare redemption, spend and retention of treated vs held-out members per campaign
    (or, with --arms, the redemption rate of an A/B test's arms)."""
    from features.lift import campaign_lift
    from features.loading import load_dataset

    if plot and not arms_log:
        raise click.UsageError("--plot needs --arms (it draws the arms of an A/B test).")
    if arms_log:
        _arms(load_dataset(data_dir), arms_log, window_days, out, plot)
        return

    holdouts = None
    if holdout_files:
        holdouts = pd.concat([
            pd.read_parquet(f) if f.endswith(".parquet") or Path(f).is_dir()
            else pd.read_csv(f, dtype=str)
            for f in holdout_files
        ], ignore_index=True)
    table = campaign_lift(load_dataset(data_dir), holdouts, window_days=window_days)
    if out:
        write_frame_atomic(table, out)
    shown = table[["campaign_id", "send_date", "treated", "control", "redemption_rate",
                   "spend_lift", "spend_lift_ci_low", "spend_lift_ci_high", "spend_change_lift",
                   "retention_lift", "retention_ci_low", "retention_ci_high"]]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        click.echo(shown.round(3).to_string(index=False))
    click.echo(f"comparison: {', '.join(sorted(table['comparison'].unique()))}")


def _arms(dataset, arms_log: str, window_days: float, out: str | None, plot: str | None) -> None:
    from features.arm_lift import arm_lift, read_arm_log

    table, mixed = arm_lift(read_arm_log(arms_log), dataset.offer_events,
                            window_days=window_days)
    if out:
        write_frame_atomic(table, out)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        click.echo(table.round(4).to_string(index=False))
    if mixed:
        click.echo(f"left out: {mixed} members logged in more than one arm")
    if plot:
        from training.report.arms import plot_arm_lift

        click.echo(f"plot: {plot_arm_lift(table, plot)}")
