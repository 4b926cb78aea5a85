"""``offers score`` and ``offers recommend``: files for other tools from a trained version."""

from __future__ import annotations

import click

from features.files import read_member_ids
from features.frame_sink import FrameSink
from training.artifacts import schema
from training.artifacts.horizons import answered_by
from training.artifacts.store import open_version
from training.cli.checks import horizon_days, out_sink
from training.exports import member_score_chunks, recommend_chunks

OUT_HELP = ("Output file, .csv or .parquet by its extension; or DIR/ (ending with /) for a "
            "directory of Parquet parts (part-00000.parquet, ...) written chunk by chunk.")


@click.command()
@click.argument("artifacts_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--out", required=True, type=click.Path(), callback=out_sink, help=OUT_HELP)
@click.option("--version", default=None, help="Version to use (default: current).")
@click.option("--horizon-days", "horizons", multiple=True, callback=horizon_days,
              metavar="N", help="Also write churn_risk_<N>d (P(no purchase in the N days after "
              "the version's as-of date)), expected_spend_<N>d (the member's median spend) and "
              "mean_spend_<N>d (the mean: sum it over members for revenue): the models "
              "validated at the version's horizons, placed on each member's BG/NBD curve; "
              "repeat for several horizons (1 to 3650 days).")
def score(artifacts_dir: str, out: str, version: str | None, horizons: tuple[int, ...]) -> None:
    """Write one row per member: segment, cluster, recency, frequency, monetary, churn risk, CLV."""
    opened = open_version(artifacts_dir, version)
    chunks = member_score_chunks(opened, horizons)
    revenue = dict.fromkeys(horizons, 0.0)  # the members' mean spend summed, per horizon
    with FrameSink(out) as sink:
        for chunk in chunks:  # one batch of members at a time
            sink.write(chunk)
            for days in horizons:
                revenue[days] += float(chunk[f"mean_spend_{days}d"].sum())
    click.echo(f"wrote {sink.rows} members to {out}")
    if horizons:  # which model answers at each horizon (its file checked by the chunks)
        params = opened.load_json(schema.HORIZON_MODEL)
        for days in horizons:
            said = answered_by(params, days)
            click.echo(f"  at {days} days: churn risk from the {said['churn_risk']}; "
                       f"spend from the {said['expected_spend']}; "
                       f"mean spend from the {said['mean_spend']}")
            click.echo(f"  at {days} days: these members' mean spend sums to "
                       f"{revenue[days]:,.0f} (the revenue they are forecast to bring)")


@click.command()
@click.argument("artifacts_dir", type=click.Path(file_okay=False, exists=True))
@click.option("--members", "members_file", type=click.Path(dir_okay=False),
              help="File of member ids (member_id column, or one id per line).")
@click.option("--all", "all_members", is_flag=True, help="Every member the model knows.")
@click.option("--k", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--exclude-purchased", is_flag=True, help="Only items the member never bought.")
@click.option("--level", type=click.Choice(["item", "category"]), default="item",
              show_default=True)
@click.option("--out", required=True, type=click.Path(), callback=out_sink, help=OUT_HELP)
@click.option("--version", default=None, help="Version to use (default: current).")
def recommend(artifacts_dir, members_file, all_members, k, exclude_purchased, level, out, version):
    """Write top-k recommendations per member in long form (member_id, rank, item_id, score)."""
    if bool(members_file) == bool(all_members):
        raise click.UsageError("give exactly one of --members FILE or --all.")
    ids = None if all_members else read_member_ids(members_file)
    chunks = recommend_chunks(open_version(artifacts_dir, version), ids, k=k,
                              exclude_purchased=exclude_purchased, level=level)
    members = 0
    with FrameSink(out) as sink:
        for chunk in chunks:  # one batch of members at a time: memory stays flat
            sink.write(chunk)
            members += chunk["member_id"].nunique()
    click.echo(f"wrote {sink.rows} rows for {members} members to {out}")
