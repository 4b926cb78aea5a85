"""Synthetic loyalty programs with planted structure (``offers synth``, docs/synthetic.md).

:func:`generate` writes a data directory in the input contract plus ``truth/``
(what a model should recover), member by member in chunks, so 1M members fit
in little memory. :mod:`.spec` holds the planted segments and rates,
:mod:`.members`, :mod:`.catalog` and :mod:`.activity` draw the tables.

Imports: :mod:`features` and :mod:`training` only.
"""

from training.synth.generate import generate
from training.synth.spec import SynthConfig

__all__ = ["SynthConfig", "generate"]
