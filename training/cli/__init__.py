"""The data and training commands of ``offers``: import, synth, validate, kpis, lift, features,
train, versions, compare, rollback, report, score, recommend.

Each module holds the click commands of one family; :data:`COMMANDS` lists them
for the one entry point (:mod:`offers.cli`), which also adds the serving
commands (:mod:`serving.cli`). Heavy imports happen inside the commands, so
``offers --help`` stays fast.

Imports: :mod:`features`, :mod:`models` and :mod:`training`.
"""

from training.cli.exports import recommend, score
from training.cli.feature_export import features
from training.cli.imports import import_group
from training.cli.kpis import kpis
from training.cli.lift import lift
from training.cli.synth import synth
from training.cli.train import train
from training.cli.validate import validate
from training.cli.versions import compare, report, rollback, versions

COMMANDS = (import_group, synth, validate, kpis, lift, features, train, versions, compare,
            rollback, report, score, recommend)

__all__ = ["COMMANDS"]
