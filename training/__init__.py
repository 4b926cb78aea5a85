"""Training: the pipeline behind ``offers train``, importers, synthetic data, the report.

- :mod:`.pipeline` loads, builds features, fits every model with its
  validation and writes one new version through the artifact contract
  (its member table assembled by :mod:`.member_table`);
- :mod:`.artifacts`: the artifact contract (the version store and the
  schema of what a version holds), the one part of this layer that
  :mod:`serving` may import;
- :mod:`.importers` (Complete Journey, flat CSV exports), :mod:`.synth`
  (synthetic programs with planted truth), :mod:`.report` (the HTML report),
  :mod:`.exports` (scores and recommendations of a version), :mod:`.config`,
  :mod:`.progress`, :mod:`.engines` (the features step on pandas or DuckDB),
  and :mod:`.cli`, the data and training commands.

Imports: :mod:`features` and :mod:`models` only (and, inside this package,
:mod:`training.artifacts`, which itself imports only features and models).
"""
