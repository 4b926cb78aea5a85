"""``offers synth``: write a synthetic data directory with planted structure."""

from __future__ import annotations

import click

from features.errors import OffersError
from training.progress import track
from training.synth import spec
from training.synth.generate import generate
from training.synth.shapes import DataShape

DATE = click.DateTime(formats=["%Y-%m-%d"])


@click.command("synth")
@click.argument("out_dir", type=click.Path(file_okay=False, writable=True))
@click.option("--members", "n_members", type=click.IntRange(1, spec.MAX_MEMBERS), required=True,
              help="How many members to generate (about 100 transaction lines each per year).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed; the same seed and options give byte-identical files.")
@click.option("--start", type=DATE, default=None,
              help="First day of the window (YYYY-MM-DD).  [default: one year before --end]")
@click.option("--end", type=DATE, default=spec.DEFAULT_END.isoformat(), show_default=True,
              help="Last day of the window, inclusive (YYYY-MM-DD).")
@click.option("--items", "n_items", type=click.IntRange(min=1), default=None,
              help="Keep only this many items (1: a single item, like a CLV-only export).")
@click.option("--no-categories", is_flag=True, help="Every item is its own category.")
@click.option("--weeks", type=click.IntRange(1, 520), default=None,
              help="Only the last N weeks of history (when --start is not given).")
@click.option("--one-time-share", type=click.FloatRange(0, 1), default=0.0,
              help="Share of members who keep only their first basket.")
@click.option("--returns-share", type=click.FloatRange(0, 1), default=0.0,
              help="Share of lines returned later, as negative quantity and amount.")
@click.option("--no-offers", is_flag=True, help="Write no offer_events table.")
@click.option("--member-bands", is_flag=True,
              help="Give the members file age, income and household bands (35-44, 50-74K).")
@click.option("--overwrite", is_flag=True, help="Replace OUT_DIR if it exists and is not empty.")
def synth(out_dir: str, n_members: int, seed: int, start, end, n_items: int | None,
          no_categories: bool, weeks: int | None, one_time_share: float, returns_share: float,
          no_offers: bool, member_bands: bool, overwrite: bool) -> None:
    """Generate a synthetic loyalty-program data directory in OUT_DIR.

    Writes transactions, items, members and offer_events tables in the data
    contract, plus the planted structure (segments, churn dates, affinities,
    offers) under OUT_DIR/truth/ for checking models against. The shape
    options write other shops' data shapes (docs/synthetic.md).
    """
    shape = DataShape(n_items=n_items, no_categories=no_categories, weeks=weeks,
                      one_time_share=one_time_share, returns_share=returns_share,
                      no_offers=no_offers, member_bands=member_bands)
    desc = f"synth: chunks of {spec.MEMBER_CHUNK} members"
    try:
        generate(out_dir, n_members, seed, start and start.date(), end.date(),
                 overwrite=overwrite, progress=lambda chunks: track(chunks, desc), shape=shape)
    except OffersError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Wrote {n_members} synthetic members to {out_dir} "
               f"(planted structure in {out_dir}/truth/).")
