"""ROC-AUC and average precision computed by the project equal scikit-learn's, ties included.

models.metrics computes both itself (the bootstraps call them hundreds of times a
training, where sklearn's input checks cost 20 times the arithmetic); these tests hold
them to sklearn's definitions on inputs with and without tied scores.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from models.metrics import pr_auc, roc_auc


@pytest.mark.parametrize("n", [2, 3, 17, 2452, 20000])
@pytest.mark.parametrize("decimals", [None, 1, 0])  # None: distinct scores; 0: mostly tied
def test_equal_to_sklearn(n, decimals):
    rng = np.random.default_rng(n)
    y = rng.random(n) < 0.2
    y[:2] = [True, False]  # both classes
    s = rng.random(n) + 0.4 * y
    if decimals is not None:
        s = np.round(s, decimals)
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert pr_auc(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


def test_known_values_and_input_order_does_not_matter():
    y, s = np.array([0, 0, 1, 1, 0, 1]), np.array([0.1, 0.4, 0.35, 0.8, 0.8, 0.9])
    # pairs (positive above negative): 0.35 beats 0.1; 0.8 beats 0.1, 0.4, ties 0.8;
    # 0.9 beats all three: (1 + 2.5 + 3) / 9
    assert roc_auc(y, s) == pytest.approx(6.5 / 9)
    # distinct scores from the top: 0.9 (1 of 1 right), 0.8 (2 of 3), 0.4, 0.35 (3 of 5)
    assert pr_auc(y, s) == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    order = np.random.default_rng(0).permutation(6)
    assert (roc_auc(y[order], s[order]), pr_auc(y[order], s[order])) == pytest.approx(
        (roc_auc(y, s), pr_auc(y, s)))


def test_a_single_class_gives_nan():
    assert np.isnan(roc_auc([1, 1, 1], [0.1, 0.2, 0.3]))
    assert np.isnan(pr_auc([0, 0], [0.1, 0.2]))
