"""Features: the input data contract, loading, member and item features, and program KPIs.

The lowest layer; it imports nothing of ours. What it holds:

- the contract and its checks: :mod:`.contract` (tables, columns, types),
  :mod:`.reading`, :mod:`.validation`, :mod:`.cleaning`, and the one loader
  :func:`features.loading.load_dataset` returning a :class:`~features.dataset.Dataset`;
- feature builders, pure functions of frames with the cutoff passed
  explicitly: :mod:`.member_features` (with :mod:`.purchase_features`,
  :mod:`.profile_features`), :mod:`.item_features`;
- measurement of the program: :mod:`.kpis` (retention, churn, repeat rate,
  ...), :mod:`.lift` (treated vs held-out members per campaign) and
  :mod:`.arm_lift` (the arms of an A/B test from the decision log);
- plumbing every layer uses: :mod:`.errors` (the project's one exception
  tree), :mod:`.storage` (atomic writes), :mod:`.frame_sink` (chunked
  CSV/Parquet writes and directories of Parquet parts), :mod:`.files` (TOML settings and
  member-id lists), :mod:`.code_groups`.

Imports: nothing of ours (the lowest layer).
"""
