"""The edge-artifact measure on constructed examples."""

import torch

from patchcore.analysis import border_mask, edge_artifact


def test_border_mask_counts():
    m = border_mask(10, 12, 2)
    assert m.sum() == 10 * 12 - 6 * 8
    assert m[0].all() and m[:, -1].all() and not m[2:8, 2:10].any()


def test_uniform_error_gives_ratio_one_and_edge_lines_raise_it():
    g = torch.Generator().manual_seed(0)
    gt = torch.rand(1, 1, 32, 32, generator=g)
    noisy = gt + 0.05 * torch.randn(gt.shape, generator=g)
    even = edge_artifact(noisy, gt, band=3)
    assert 0.8 < even["ratio"] < 1.25
    lined = noisy.clone()
    lined[..., :, 0] += 0.5  # a bright line along the left edge, as in Roy et al. Fig. 1
    art = edge_artifact(lined, gt, band=3)
    assert art["ratio"] > 2 * even["ratio"]
    assert art["interior_rmse"] == even["interior_rmse"]
