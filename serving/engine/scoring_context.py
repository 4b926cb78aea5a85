"""What scoring reads, as one immutable value: :class:`ScoringContext`, and the scores it gives.

The scoring functions (:mod:`serving.engine.scoring`) take a
:class:`ScoringContext` instead of the engine: the template arrays, the model
bundle, the catalog, the per-member inputs, the two clips of the engine's
config and a few arrays derived from the templates once (the value options of
every template, which of them are valid, the tier-upgrade templates, whether
any template has a birthday or anniversary rule, the version's ``as_of`` day).
:class:`~serving.engine.engine.OfferEngine` builds one at construction
(:func:`build_scoring_context`, then
:func:`~serving.engine.scoring.with_static_scores`), and a test or a bench can
build one without an engine.

Nothing in a context is written after it is built, with one exception that
owns itself: the channel-and-dates memo (:class:`LastAnswer`), which keeps the
last answer of :func:`~serving.engine.scoring.channel_dates`. Thread safety:

- the context is a frozen dataclass; its arrays are never written by scoring,
  and the precomputed member-only scores (``static``) are flagged read-only,
  so threads (and forked campaign workers, copy-on-write) share them freely;
- :class:`LastAnswer` holds one ``(key, value)`` tuple and replaces it with a
  single attribute assignment: a reader sees either the old pair or the new
  one, never a key with another key's value; two threads missing at once
  both compute the same read-only mask, and the last write wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from serving.engine.catalog.schema import Catalog
from serving.engine.member_context import MemberContext
from serving.engine.response_model import build_template_response
from serving.engine.template_arrays import TemplateArrays
from serving.engine.uplift import build_template_uplift


@dataclass
class Scored:
    """Scores of n members x T templates; ``ev`` is ``-inf`` where not eligible.

    ``ev`` includes the channel's send cost once combined by
    :func:`~serving.engine.scoring.score_members`; in
    :func:`~serving.engine.scoring.static_scores` output it does not.
    """

    eligible: np.ndarray
    p: np.ndarray
    cost: np.ndarray
    ev: np.ndarray
    amount: np.ndarray
    category: np.ndarray
    item: np.ndarray
    share: np.ndarray

    def take(self, index) -> Scored:
        """The rows ``index`` of every array."""
        return Scored(*(getattr(self, f)[index] for f in SCORED_FIELDS))

    def rows(self, row: int) -> Scored:
        """Row ``row`` of every array as a (1, T) view (no copy, unlike :meth:`take`)."""
        return Scored(*(getattr(self, f)[row:row + 1] for f in SCORED_FIELDS))


SCORED_FIELDS = ("eligible", "p", "cost", "ev", "amount", "category", "item", "share")


class LastAnswer:
    """A memo of one entry: the last ``(key, value)`` stored; see the module docstring.

    >>> memo = LastAnswer()
    >>> memo.put(("2026-01-01T00:00:00", "app"), 1)
    >>> memo.get(("2026-01-01T00:00:00", "app")), memo.get(("2026-01-01T00:00:00", "sms"))
    (1, None)
    """

    __slots__ = ("_entry",)

    def __init__(self):
        self._entry: tuple | None = None

    def get(self, key) -> Any:
        """The value stored under ``key`` if it was the last one stored, else None."""
        entry = self._entry  # one read: the key and value below belong together
        if entry is not None and entry[0] == key:
            return entry[1]
        return None

    def put(self, key, value) -> None:
        """Keep ``value`` under ``key``, forgetting the previous entry (one assignment)."""
        self._entry = (key, value)


@dataclass(frozen=True, eq=False)
class ScoringContext:
    """Everything the scoring functions read; built once, never written (see the module doc).

    Attributes
    ----------
    templates : TemplateArrays
        The catalog's templates resolved against ``bundle``.
    bundle : ModelBundle
        The member table (numeric facts, consent), category affinities, item prices.
    catalog : Catalog
        Economics, consent rules and the retention section.
    member_context : MemberContext
        Per-member inputs (mask codes, basket, responsiveness, targets).
    p_max, lift_cap : float
        Upper clips of P(redeem) and of a member's category lift (``EngineConfig``).
    options : ndarray of float64, shape (T, D)
        Value amounts each template may take: its depths, else its amount in column 0.
    option_valid : ndarray of bool, shape (T, D)
        Which of ``options`` are real (depths are NaN padded).
    upgrade_types : ndarray of bool, shape (T,)
        Tier-upgrade templates (their trip is at least the member's tier gap).
    has_calendar_rules : bool
        Whether any template has a birthday or anniversary rule.
    as_of_day : datetime64[s]
        Midnight of the version's ``as_of`` (birthdays and tenure count from it).
    response : TemplateResponse or None
        The trained response model resolved against the templates
        (:mod:`serving.engine.response_model`); None: the version has none.
    uplift : TemplateUplift or None
        The members' predicted uplift resolved against the templates
        (:mod:`serving.engine.uplift`); None: every offer is ranked by expected value.
    static : Scored or None
        Member-only scores of every member plus one last row for unknown members
        (read-only arrays), or None when they are computed per call.
    channel_dates_memo : LastAnswer
        The last answer of :func:`~serving.engine.scoring.channel_dates`.
    """

    templates: TemplateArrays
    bundle: Any
    catalog: Catalog
    member_context: MemberContext
    p_max: float
    lift_cap: float
    options: np.ndarray
    option_valid: np.ndarray
    upgrade_types: np.ndarray
    has_calendar_rules: bool
    as_of_day: np.datetime64
    response: Any = None
    uplift: Any = None
    static: Scored | None = None
    channel_dates_memo: LastAnswer = field(default_factory=LastAnswer, repr=False)


def build_scoring_context(bundle, catalog: Catalog, member_context: MemberContext,
                          templates: TemplateArrays, *, p_max: float,
                          lift_cap: float) -> ScoringContext:
    """A :class:`ScoringContext` without precomputed scores (``static`` None).

    Parameters
    ----------
    bundle : ModelBundle
    catalog : Catalog
    member_context : MemberContext
        From :func:`~serving.engine.member_context.build_member_context` on ``bundle``.
    templates : TemplateArrays
        From :func:`~serving.engine.template_arrays.build_template_arrays` on
        ``catalog`` and ``bundle``.
    p_max, lift_cap : float
        See :class:`~serving.engine.engine.EngineConfig`.
    """
    T = templates
    has_depths = np.isfinite(T.depths[:, 0])
    derived = {
        "options": np.where(has_depths[:, None], T.depths, T.amount[:, None]),
        "option_valid": np.where(has_depths[:, None], np.isfinite(T.depths),
                                 np.arange(T.depths.shape[1])[None, :] == 0),
        "upgrade_types": np.array([t == "tier_upgrade" for t in T.types], dtype=bool),
    }
    for values in derived.values():
        values.flags.writeable = False
    # The data's offer type each template is scored as (its own, or the catalog's response_type).
    data_types = tuple(c.response_type or t for c, t in zip(catalog.offers, T.types))
    return ScoringContext(
        templates=T, bundle=bundle, catalog=catalog, member_context=member_context,
        p_max=float(p_max), lift_cap=float(lift_cap), **derived,
        has_calendar_rules=bool(np.isfinite(T.birthday_within).any()
                                or np.isfinite(T.anniversary_within).any()),
        as_of_day=np.datetime64(bundle.as_of.normalize().to_datetime64(), "s"),
        response=build_template_response(
            getattr(bundle, "response", None), data_types,
            tuple(catalog_t.value.kind for catalog_t in catalog.offers), T.amount,
            tuple(catalog_t.p_redeem is not None for catalog_t in catalog.offers)),
        uplift=build_template_uplift(getattr(bundle, "uplift", None), data_types, T.retention),
    )
