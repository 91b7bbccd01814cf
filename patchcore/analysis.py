"""Measures used by the figures: the edge artifact of Roy et al. Fig. 1."""

import torch


def border_mask(h, w, band, device=None):
    """Boolean ``(h, w)`` mask of the pixels within ``band`` pixels of the image border."""
    rows = torch.arange(h, device=device)
    cols = torch.arange(w, device=device)
    near_r = (rows < band) | (rows >= h - band)
    near_c = (cols < band) | (cols >= w - band)
    return near_r[:, None] | near_c[None, :]


def edge_artifact(x, gt, band=4):
    """Error in a band along the image border against the interior.

    Zero padding of the shifted grid creates foreground/background transitions that show as
    lines along the image edges (Roy et al., Fig. 1); this measures them.

    Args:
        x, gt: ``(..., H, W)`` reconstruction and ground truth on the same scale.
        band: width of the border band in pixels.

    Returns:
        dict with ``border_rmse``, ``interior_rmse`` and their ``ratio`` (border / interior;
        about 1 when errors are spread evenly, larger with edge artifacts).
    """
    mask = border_mask(x.shape[-2], x.shape[-1], band, device=x.device)
    sq = (x - gt).pow(2).reshape(-1, x.shape[-2], x.shape[-1])
    border = sq[:, mask].mean().sqrt()
    interior = sq[:, ~mask].mean().sqrt()
    return {"border_rmse": float(border), "interior_rmse": float(interior),
            "ratio": float(border / interior.clamp_min(1e-12))}
