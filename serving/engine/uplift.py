"""Expected *incremental* profit of an offer, from the version's validated uplift models.

A version whose uplift model for an offer type validated better than random
and than targeting by P(redeem) (training step "uplift") holds every member's
predicted uplift in spend for that type (``uplift_scores.parquet``, see
:data:`training.artifacts.schema.UPLIFT_SCORES`). For the catalog templates
of a matching type (matched as the response model's types are,
:func:`~serving.engine.response_model.matching_types`) the engine then ranks
and budgets by the money the offer *changes*, not the money that comes with a
redemption::

    EV_incremental(m, t) = margin * uplift_spend(m, type(t)) + p * (business_value(t) - cost(m, t))

instead of ``p * (margin * incremental_share * trip + business_value - cost)``:
a member who would buy anyway ("sure thing") has an uplift near 0 and only
costs the discount; one who buys less when contacted has a negative uplift.
Retention templates keep their own formula (they cost the churn the offer
prevents), and so do members the version does not know and templates of types
without a validated model; decisions ranked on uplift carry the reason code
:data:`INCREMENTAL_CODE`.

Imports: :mod:`training.artifacts`, :mod:`serving.engine`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from serving.engine.response_model import matching_types
from training.artifacts.uplift import read_uplift_spend

logger = logging.getLogger(__name__)

#: Reason code of a decision ranked by expected incremental profit (a validated uplift model).
INCREMENTAL_CODE = "INCREMENTAL_PROFIT"


@dataclass(frozen=True, eq=False)
class MemberUplift:
    """Each member's predicted uplift in spend per trained offer type, in member table order.

    Attributes
    ----------
    types : tuple of str
        The data's offer types with a validated model.
    spend : ndarray of float64, shape (n_members, n_types)
        Expected extra spend in the outcome window if sent (NaN: member not scored).
    """

    types: tuple[str, ...]
    spend: np.ndarray


@dataclass(frozen=True, eq=False)
class TemplateUplift:
    """:class:`MemberUplift` resolved against a catalog's templates.

    Attributes
    ----------
    members : MemberUplift
    column : ndarray of int64, shape (T,)
        Each template's column of ``members.spend``; -1 when it is not ranked on uplift.
    """

    members: MemberUplift
    column: np.ndarray

    def spend(self, rows: np.ndarray) -> np.ndarray:
        """(n, T) predicted uplift in spend of member table ``rows`` (-1: unknown) per
        template; NaN where the template or member is not ranked on uplift."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.full((len(rows), len(self.column)), np.nan)
        known, used = rows >= 0, self.column >= 0
        if known.any() and used.any():
            block = self.members.spend[rows[known]][:, self.column[used]]
            out[np.ix_(known, used)] = block
        return out

    def used(self, row: int, t: int) -> bool:
        """Whether template ``t`` is ranked on uplift for member table ``row``."""
        col = int(self.column[t])
        return row >= 0 and col >= 0 and bool(np.isfinite(self.members.spend[row, col]))


def load_member_uplift(opened, member_ids: np.ndarray) -> MemberUplift | None:
    """The version's uplift scores aligned with ``member_ids``; None when it has none.

    ``opened`` is a verified :class:`~training.artifacts.store.OpenedVersion`.
    """
    wide = read_uplift_spend(opened)
    if wide is None:
        return None
    wide = wide.reindex(pd.Index(np.asarray(member_ids, dtype=str)))
    spend = wide.to_numpy(dtype="float64", na_value=np.nan)
    spend.flags.writeable = False
    return MemberUplift(types=tuple(str(c) for c in wide.columns), spend=spend)


def build_template_uplift(members: MemberUplift | None, types: tuple[str, ...],
                          retention: np.ndarray) -> TemplateUplift | None:
    """Resolve template ``types`` to uplift columns; retention templates (``retention``
    True) are never ranked on uplift. None when nothing is."""
    if members is None:
        return None
    index = {t: i for i, t in enumerate(members.types)}
    column = np.array([index[m] if m is not None else -1
                       for m in matching_types(members.types, types)], dtype=np.int64)
    column[np.asarray(retention, dtype=bool)] = -1
    if not (column >= 0).any():
        logger.info("no catalog template matches the uplift models' offer types %s",
                    list(members.types))
        return None
    column.flags.writeable = False
    return TemplateUplift(members=members, column=column)
