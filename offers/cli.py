"""The ``offers`` command line: one entry point for data, training and serving.

The commands live beside the code they drive: data and training commands in
:mod:`training.cli`, serving commands in :mod:`serving.cli`. This module, the
composition root of the layers (nothing imports it), builds the group, sets up
logging and turns the project's errors into clean messages (exit status 1)
instead of tracebacks.
"""

from __future__ import annotations

import logging
import sys

import click

from features.errors import OffersError


class OffersGroup(click.Group):
    """A click group that reports errors in one style: ``error: ...`` and exit status 1.

    The project's errors, a command's :class:`click.ClickException` and a file
    that cannot be read or written all print one line, never a traceback.
    Usage errors (a bad option or argument) stay click's: usage, message, exit 2.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError:
            raise
        except click.ClickException as exc:
            fail(exc.format_message())
        except OffersError as exc:  # DataValidationError included: it lists every problem
            fail(str(exc))
        except OSError as exc:  # a file or directory that cannot be read or written
            where = f" {exc.filename}" if exc.filename else ""
            fail(f"{exc.strerror or exc}{':' if where else ''}{where}")


def fail(message: str) -> None:
    """Print ``error: message`` on stderr and exit with status 1."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.group(cls=OffersGroup)
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.version_option(package_name="offer-recommender")
def main(verbose: int) -> None:
    """Personalised offers for loyalty and subscription programs."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _register() -> None:
    from serving.cli import COMMANDS as SERVING_COMMANDS
    from training.cli import COMMANDS as TRAINING_COMMANDS

    for command in TRAINING_COMMANDS + SERVING_COMMANDS:
        main.add_command(command)


_register()

if __name__ == "__main__":  # pragma: no cover
    main()
