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

On Spark the sample's sweeps are MLlib's, whose implicit-preference objective
differs from implicit's in two ways (:mod:`.spark_als`): the confidence is
``1 + alpha * r`` and each member's λ is ``regParam`` times its number of
entries. :func:`fold_in_mllib` solves that system (the one MLlib's last
half-sweep solves for the sample's members) with the same solver, one call per
number of entries.

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
                  num_threads: int = 0, *, n_rows: int | None = None) -> np.ndarray:
    """Every row's least-squares user factors against fixed ``item_factors``.

    Parameters
    ----------
    conf : csr_matrix of float32, shape (n_members, n_items), or callable
        Confidences as the fit was given them, sorted indices; or a function
        ``rows -> csr_matrix`` giving those of a slice of rows (then ``n_rows`` says how
        many there are), so that only a chunk's confidences exist at a time.
    item_factors : ndarray of float32, shape (n_items, factors)
    regularization : float
        ALS's λ.
    alpha : float
        ALS's scale of the confidences, as the fit was given it (1.0 when
        ``conf`` is already scaled).
    num_threads : int
        implicit's OpenMP threads (0: all cores).
    n_rows : int, optional
        The number of rows when ``conf`` is a function.

    Returns
    -------
    ndarray of float32, shape (n_members, factors)
    """
    item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
    if callable(conf):
        if n_rows is None:
            raise ConfigError("conf is a function of rows: pass n_rows, the number of rows.")
        rows_of = conf
    else:
        n_rows = conf.shape[0]

        def rows_of(rows):
            return conf[rows]
    out = np.zeros((n_rows, item_factors.shape[1]), dtype=np.float32)
    if n_rows == 0:
        return out
    solve = _cg_solver(item_factors.shape[1], num_threads)
    for start in range(0, n_rows, FOLD_IN_ROWS):
        chunk = rows_of(slice(start, min(start + FOLD_IN_ROWS, n_rows))).astype(np.float32)
        if chunk.shape[1] != item_factors.shape[0]:
            raise ConfigError(f"the confidences have {chunk.shape[1]} item columns, the item "
                              f"factors {item_factors.shape[0]} rows; pass the matrix the "
                              "factors fit.")
        if alpha != 1.0:
            chunk.data *= np.float32(alpha)
        chunk.sort_indices()
        rows = out[start : start + chunk.shape[0]]  # a view: solved in place
        solve(chunk, rows, item_factors, regularization, num_threads=num_threads)
    return out


def fold_in_mllib(conf, item_factors: np.ndarray, reg_param: float, alpha: float,
                  num_threads: int = 0) -> np.ndarray:
    """Every row's user factors as Spark MLlib's implicit ALS solves them against fixed
    ``item_factors``: confidence ``1 + alpha * r``, λ ``reg_param`` x the row's entries.

    Parameters
    ----------
    conf : csr_matrix of float32, shape (n_members, n_items)
        The ratings MLlib was given (positive), sorted indices.
    item_factors : ndarray of float32, shape (n_items, factors)
    reg_param : float
        MLlib's ``regParam``.
    alpha : float
        MLlib's ``alpha``.
    num_threads : int
        implicit's OpenMP threads (0: all cores).

    Returns
    -------
    ndarray of float32, shape (n_members, factors)
        Zeros for rows without entries (MLlib has no factors for them).
    """
    item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
    if conf.shape[1] != item_factors.shape[0]:
        raise ConfigError(f"the ratings have {conf.shape[1]} item columns, the item factors "
                          f"{item_factors.shape[0]} rows; pass the matrix the factors fit.")
    solve = _cg_solver(item_factors.shape[1], num_threads)
    out = np.zeros((conf.shape[0], item_factors.shape[1]), dtype=np.float32)
    entries = np.diff(conf.indptr)
    order = np.argsort(entries, kind="stable")
    counts = entries[order]
    bounds = np.flatnonzero(np.diff(counts)) + 1
    for group in np.split(order, bounds):  # the rows with one number of entries each
        n = int(entries[group[0]]) if len(group) else 0
        if n == 0:
            continue
        for start in range(0, len(group), FOLD_IN_ROWS):
            rows = group[start : start + FOLD_IN_ROWS]
            chunk = conf[rows].astype(np.float32)
            chunk.data = np.float32(1.0) + np.float32(alpha) * chunk.data
            chunk.sort_indices()
            solved = np.zeros((len(rows), item_factors.shape[1]), dtype=np.float32)
            solve(chunk, solved, item_factors, float(reg_param) * n, num_threads=num_threads)
            out[rows] = solved
    return out


def _cg_solver(factors: int, num_threads: int):
    """implicit's conjugate-gradient user solve, ``solve(conf, users, item_factors,
    regularization, num_threads=...)`` in place, at :data:`FOLD_IN_CG_STEPS` steps from
    zero (the regularization is the call's, not the model's)."""
    from implicit.cpu.als import AlternatingLeastSquares

    als = AlternatingLeastSquares(factors=factors, num_threads=num_threads, use_cg=True)
    als.cg_steps = FOLD_IN_CG_STEPS
    return als.solver
