"""The ``offers`` command line: one entry point for data, training and serving.

Each command lives in a ``training/cli_*.py`` module; this module builds the
group, sets up logging and turns the project's errors into clean messages
(exit status 1) instead of tracebacks.
"""

from __future__ import annotations

import logging
import sys

import click

from features.errors import OffersError


class OffersGroup(click.Group):
    """A click group that reports the project's errors as messages, not tracebacks."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except OffersError as exc:  # DataValidationError included: it lists every problem
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)


@click.group(cls=OffersGroup)
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="offer-recommender")
def main(verbose: int) -> None:
    """Personalised offers for loyalty and subscription programs."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _register() -> None:
    from training.cli_events import events_group
    from training.cli_exports import recommend, score
    from training.cli_import import import_group
    from training.cli_kpis import kpis
    from training.cli_offers import campaign, decide, lift
    from training.cli_serve import apikey, serve
    from training.cli_synth import synth
    from training.cli_train import train
    from training.cli_validate import validate
    from training.cli_versions import report, rollback, versions

    for command in (
        import_group, synth, validate, kpis, train, versions, rollback, report, score, recommend,
        serve, apikey, events_group, decide, campaign, lift,
    ):
        main.add_command(command)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
