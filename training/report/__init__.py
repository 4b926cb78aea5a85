"""The data scientist's HTML report of a training run (``report.html`` in each version).

:func:`render_report` turns a :class:`~training.pipeline.TrainingRun` into one
self-contained page (plots embedded): data and cleaning counts, KPIs, each
model's validation metrics against its baselines, step times;
:func:`~.arms.plot_arm_lift` draws an A/B test's arms (``offers lift --arms``).

Imports: :mod:`features`, :mod:`models` and :mod:`training`.
"""

from training.report.render import render_report

__all__ = ["render_report"]
