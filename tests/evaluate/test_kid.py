"""KID against torch-fidelity's definition and a hand-computed case."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cfkit.evaluate.metrics.kid import kid_subsets, polynomial_mmd2


def test_kid_equals_torch_fidelity():
    from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 32)), rng.normal(0.3, 1.2, size=(70, 32))
    ours = kid_subsets(x, y, subsets=20, subset_size=25, seed=7)
    theirs = kid_features_to_metric(
        torch.from_numpy(x),
        torch.from_numpy(y),
        kid_subsets=20,
        kid_subset_size=25,
        kid_degree=3,
        kid_gamma=None,
        kid_coef0=1,
        kid_kernel="poly",
        kid_kernel_poly_degree=3,
        kid_kernel_poly_gamma=None,
        kid_kernel_poly_coef0=1,
        rng_seed=7,
        verbose=False,
    )
    assert ours.mean() == pytest.approx(theirs[KEY_METRIC_KID_MEAN], rel=1e-10)
    assert ours.std() == pytest.approx(theirs[KEY_METRIC_KID_STD], rel=1e-10)
    assert ours.mean() > 0


def test_unbiased_mmd_by_hand():
    # d = 2, k(a, b) = (a.b / 2 + 1)^3
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.array([[1.0, 1.0], [0.0, 0.0]])
    k = lambda a, b: (a @ b / 2 + 1) ** 3  # noqa: E731
    kxx = k(x[0], x[1])  # off-diagonal terms only (unbiased)
    kyy = k(y[0], y[1])
    kxy = sum(k(a, b) for a in x for b in y)
    expected = (2 * kxx + 2 * kyy) / 2 - 2 * kxy / 4
    assert polynomial_mmd2(x, y) == pytest.approx(expected, rel=1e-12)
    assert polynomial_mmd2(x, x) == pytest.approx(((2 * kxx) * 2) / 2 - 2 * (2 * 1.5**3 + 2 * kxx) / 4)


def test_kid_is_near_zero_for_one_distribution_and_clearly_positive_for_a_visible_shift():
    """The same-distribution bound is set against the KID of a shift: a bound looser than that would pass
    an implementation that cannot tell the two apart."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))  # independent draws, one distribution
    shifted = rng.normal(0.2, 1.0, size=(400, 16))  # every feature moved by 0.2 sd
    same = kid_subsets(x, y, subsets=20, subset_size=100, seed=0).mean()
    shift = kid_subsets(x, shifted, subsets=20, subset_size=100, seed=0).mean()
    assert shift > 0.05  # ~0.11
    assert abs(same) < shift / 5  # ~0.01: sampling noise of an unbiased estimate whose expectation is 0
