"""``offers synth``: write a synthetic data directory with planted structure."""

from __future__ import annotations

import click

from features.errors import OffersError
from training.progress import track
from training.synth import spec
from training.synth.generate import generate

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
@click.option("--overwrite", is_flag=True, help="Replace OUT_DIR if it exists and is not empty.")
def synth(out_dir: str, n_members: int, seed: int, start, end, overwrite: bool) -> None:
    """Generate a synthetic loyalty-program data directory in OUT_DIR.

    Writes transactions, items, members and offer_events tables in the data
    contract, plus the planted structure (segments, churn dates, affinities,
    offers) under OUT_DIR/truth/ for checking models against. See
    docs/synthetic.md.
    """
    desc = f"synth: chunks of {spec.MEMBER_CHUNK} members"
    try:
        generate(out_dir, n_members, seed, start and start.date(), end.date(),
                 overwrite=overwrite, progress=lambda chunks: track(chunks, desc))
    except OffersError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Wrote {n_members} synthetic members to {out_dir} "
               f"(planted structure in {out_dir}/truth/).")
