"""The drift metrics against the same numbers computed another way (numpy, scipy)."""

import math

import numpy as np
import pytest
import torch

from tests.helpers import reference_drift
from trainers.similarity_metrics import (
    drift_metrics,
    mean_abs_change,
    neighbour_spearman,
    off_diagonal,
    rigid_share,
    row_kl,
)


def unit_rows(n, d, seed):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return (x / x.norm(dim=-1, keepdim=True)).float()


@pytest.mark.parametrize("tau", [0.01, 0.1, 1.0])
def test_metrics_match_an_independent_computation(tau):
    H = unit_rows(9, 16, seed=0)
    G = unit_rows(9, 16, seed=1) * 0.3 + H  # related to H, not equal to it
    G = G / G.norm(dim=-1, keepdim=True)
    change, kl, rho = reference_drift(G, H, tau)
    metrics = drift_metrics(G, H, tau)
    assert metrics["mean_abs_change"] == pytest.approx(change, rel=1e-5)
    assert metrics["row_kl"] == pytest.approx(kl, rel=1e-4, abs=1e-7)
    assert metrics["spearman"] == pytest.approx(rho, rel=1e-6)
    assert 0 < rho < 1 and change > 0 and kl > 0


def test_no_drift_when_learned_equals_hand_crafted():
    H = unit_rows(7, 8, seed=3)
    metrics = drift_metrics(H.clone(), H, 0.01)
    assert {k: metrics[k] for k in ("mean_abs_change", "row_kl", "spearman")} == {
        "mean_abs_change": 0.0, "row_kl": 0.0, "spearman": pytest.approx(1.0)}
    assert math.isnan(metrics["rigid_share"])  # no drift: no share of it


def test_a_reversed_neighbour_order_has_spearman_minus_one():
    # three classes on a circle: each row has two neighbours, and G swaps their order
    angles = torch.tensor([0.0, 0.5, 1.5])
    H = torch.stack([angles.cos(), angles.sin()], dim=1)
    G = torch.stack([(-angles).cos(), (-angles).sin()], dim=1)[[0, 2, 1]]
    assert neighbour_spearman(H, H) == pytest.approx(1.0)
    assert neighbour_spearman(G, H) == pytest.approx(-1.0)


def test_per_image_features_average_over_images():
    H = unit_rows(6, 8, seed=0)
    G = torch.stack([unit_rows(6, 8, seed=s) for s in (1, 2, 3)])
    for metric in (mean_abs_change, neighbour_spearman):
        assert metric(G, H) == pytest.approx(np.mean([metric(g, H) for g in G]), rel=1e-6)
    assert row_kl(G, H, 0.1) == pytest.approx(np.mean([row_kl(g, H, 0.1) for g in G]), rel=1e-6)


def test_off_diagonal_leaves_out_exactly_the_diagonal():
    S = torch.arange(16.0).view(4, 4)
    assert off_diagonal(S).tolist() == [[1, 2, 3], [4, 6, 7], [8, 9, 11], [12, 13, 14]]


def test_two_classes_have_no_ranking_and_shapes_must_agree():
    H = unit_rows(2, 4, seed=0)
    assert math.isnan(drift_metrics(H, H, 0.01)["spearman"])
    with pytest.raises(ValueError, match="at least 3 classes"):
        neighbour_spearman(H, H)
    with pytest.raises(ValueError, match=r"\(n, D\)"):
        mean_abs_change(unit_rows(3, 4, seed=0), H)


def test_row_kl_of_equal_rows_is_not_shown_below_zero():
    from trainers.similarity_metrics import row_kl

    x = torch.randn(8, 16, generator=torch.Generator().manual_seed(1))
    H = x / x.norm(dim=-1, keepdim=True)
    G = torch.nn.functional.normalize(H * 3.0 + 1e-7, dim=-1)
    assert row_kl(G, H, 0.05) >= 0.0


def random_rotation(d, seed):
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed),
                                       dtype=torch.float64))
    return q.float()


def test_a_rotation_of_all_classes_is_all_rigid_and_invisible_to_the_similarities():
    H = unit_rows(6, 16, seed=0)
    G = H @ random_rotation(16, seed=1)
    assert (G - H).norm() > 1.0  # the features moved far
    assert rigid_share(G, H) == pytest.approx(1.0, abs=1e-5)
    assert mean_abs_change(G, H) < 1e-5  # and no similarity changed


def test_rigid_share_matches_scipy_procrustes():
    from scipy.linalg import orthogonal_procrustes

    H = unit_rows(9, 16, seed=0)
    G = unit_rows(9, 16, seed=1) * 0.5 + H @ random_rotation(16, seed=2)
    G = G / G.norm(dim=-1, keepdim=True)
    g, h = G.double().numpy(), H.double().numpy()
    R, _ = orthogonal_procrustes(g, h)
    expected = 1 - np.sum((g @ R - h) ** 2) / np.sum((g - h) ** 2)
    assert 0.2 < expected < 0.99
    assert rigid_share(G, H) == pytest.approx(expected, rel=1e-6)
    per_image = torch.stack([G, H @ random_rotation(16, seed=3)])
    assert rigid_share(per_image, H) == pytest.approx((expected + 1.0) / 2, rel=1e-5)
