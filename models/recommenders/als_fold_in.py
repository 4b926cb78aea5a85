"""ALS on a member sample, then every member's factors in one half-sweep (issue 11).

The item factors of implicit-feedback ALS are a property of the catalogue, not
of each member: a seeded sample of a few hundred thousand members pins them
down as well as a million do. So at scale the final ALS factorises only a
sample's rows of the confidence matrix (:func:`sample_rows`) and then gives
every member, sampled or not, the least-squares user factors against those
fixed item factors (:func:`fold_in_users`)::

    x_u = (YᵀY + Yᵀ(C_u - I)Y + λI)⁻¹ YᵀC_u p(u)

solved by implicit's conjugate-gradient solver (the one its sweeps use,
``AlternatingLeastSquares(use_cg=True).solver``) from zero for
:data:`FOLD_IN_CG_STEPS` steps, in row chunks so that only a chunk's copy of the
confidences is made. At 12 steps the result is the exact (Cholesky) solve to float32
precision (64 factors, Complete Journey: median relative difference 1.8e-6, largest
6.8e-6) at 2.3x less CPU; the exact solve cost ~284 s of a 3M-member train
(bench/RESULTS.md). Costs: the fit's sweeps scale with the sample, the fold-in
with all members.

Imports: :mod:`features` and :mod:`models` only.
"""

from __future__ import annotations

import logging

import numpy as np

from features.errors import ConfigError

from ..member_sample import check_limit, member_sample

logger = logging.getLogger(__name__)

#: Members solved per call of the fold-in (bounds the chunk's copy of the confidences).
FOLD_IN_ROWS = 1 << 16
#: Conjugate-gradient steps of the fold-in from zero (12: the exact solve to float32
#: precision at 64 factors; implicit's sweeps use 3 from the previous factors).
FOLD_IN_CG_STEPS = 12


def sample_rows(member_ids, max_members: int | None, random_state=0) -> np.ndarray | None:
    """Rows (sorted) of a seeded sample of about ``max_members`` of ``member_ids``;
    ``None`` when there are not more members than that (or no cap).

    The draw is :func:`models.member_sample.member_sample` at
    ``max_members / len(member_ids)`` (a Bernoulli draw: about, not exactly,
    ``max_members`` rows), so it depends only on the seed and the ids.

    >>> sample_rows(np.array(["a", "b", "c"]), 5) is None
    True
    >>> len(sample_rows(np.array([str(i) for i in range(1000)]), 100, random_state=1))
    92
    """
    check_limit(max_members, "als_members")
    n = len(member_ids)
    if max_members is None or n <= max_members:
        return None
    keep = member_sample(member_ids, max_members / n, random_state)
    rows = np.flatnonzero(keep)
    if rows.size == 0:  # a tiny cap on few members: fit on one rather than none
        rows = np.array([0])
    logger.info("final ALS fitted on a seeded sample of %d of the %d members, every member "
                "then solved against its item factors", rows.size, n)
    return rows


def fold_in_users(conf, item_factors: np.ndarray, regularization: float, alpha: float = 1.0,
                  num_threads: int = 0) -> np.ndarray:
    """Every row's least-squares user factors against fixed ``item_factors``.

    Parameters
    ----------
    conf : csr_matrix of float32, shape (n_members, n_items)
        Confidences as the fit was given them, sorted indices.
    item_factors : ndarray of float32, shape (n_items, factors)
    regularization : float
        ALS's λ.
    alpha : float
        ALS's scale of the confidences, as the fit was given it (1.0 when
        ``conf`` is already scaled).
    num_threads : int
        implicit's OpenMP threads (0: all cores).

    Returns
    -------
    ndarray of float32, shape (n_members, factors)
    """
    from implicit.cpu.als import AlternatingLeastSquares

    item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
    if conf.shape[1] != item_factors.shape[0]:
        raise ConfigError(f"the confidences have {conf.shape[1]} item columns, the item factors "
                          f"{item_factors.shape[0]} rows; pass the matrix the factors fit.")
    als = AlternatingLeastSquares(factors=item_factors.shape[1], regularization=regularization,
                                  alpha=alpha, num_threads=num_threads, use_cg=True)
    als.cg_steps = FOLD_IN_CG_STEPS
    solve = als.solver
    out = np.zeros((conf.shape[0], item_factors.shape[1]), dtype=np.float32)
    for start in range(0, conf.shape[0], FOLD_IN_ROWS):
        chunk = conf[start : start + FOLD_IN_ROWS].astype(np.float32)
        if alpha != 1.0:
            chunk.data *= np.float32(alpha)
        chunk.sort_indices()
        rows = out[start : start + chunk.shape[0]]  # a view: solved in place
        solve(chunk, rows, item_factors, regularization, num_threads=num_threads)
    return out
