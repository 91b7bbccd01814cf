"""Synthetic anatomy for the embedded default data (no download possible).

Pure functions of an explicit ``numpy.random.Generator``: the same generator state gives the
same volume. Brain slices come from the MNI152 grey/white-matter templates shipped inside the
nilearn wheel (read offline); knee and abdomen are procedural, built from signed distance
functions of simple shapes (negative inside).

Every function returns ``(slices, H, W)`` float32: MRI in arbitrary magnitude units around
[0, 1], CT in Hounsfield units.
"""

import functools

import numpy as np
from scipy import ndimage


# ---- shared geometry -------------------------------------------------------------------

def _grid(shape):
    """Coordinates ``(y, x)`` in [-1, 1] over an ``(H, W)`` grid (y down, x right)."""
    H, W = shape
    return np.meshgrid(np.linspace(-1, 1, H), np.linspace(-1, 1, W), indexing="ij")


def _ellipse(y, x, cy, cx, ry, rx):
    """Approximate signed distance to an ellipse (negative inside)."""
    return (np.sqrt(((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2) - 1) * min(ry, rx)


def _box(y, x, cy, cx, hy, hx):
    """Signed distance to an axis-aligned box with half sizes ``(hy, hx)``."""
    dy, dx = np.abs(y - cy) - hy, np.abs(x - cx) - hx
    outside = np.sqrt(np.maximum(dy, 0) ** 2 + np.maximum(dx, 0) ** 2)
    return outside + np.minimum(np.maximum(dy, dx), 0)


def _smooth_union(a, b, k=0.05):
    """Smooth minimum of two distance fields (rounded joins between shapes)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0, 1)
    return b * (1 - h) + a * h - k * h * (1 - h)


def _soft(sdf, width=0.006):
    """A soft indicator of ``sdf < 0`` (anti-aliased edge of about ``width``)."""
    return 1 / (1 + np.exp(np.clip(sdf / width, -50, 50)))


def smooth_field(rng, shape, sigma, amplitude):
    """A smooth random field with maximum ``amplitude`` (Gaussian-filtered white noise)."""
    f = ndimage.gaussian_filter(rng.normal(size=shape), sigma)
    return amplitude * f / (np.abs(f).max() + 1e-12)


def _warp(images, rng, amplitude, sigma):
    """Apply one smooth random displacement (pixels) to every slice of ``(S, H, W)``."""
    H, W = images.shape[-2:]
    yy, xx = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    dy = smooth_field(rng, (H, W), sigma, amplitude)
    dx = smooth_field(rng, (H, W), sigma, amplitude)
    return np.stack([ndimage.map_coordinates(im, [yy + dy, xx + dx], order=1, mode="nearest")
                     for im in images])


# ---- brain (MNI152 templates) ----------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _mni152():
    """Grey matter, white matter and T1 head templates, (x, y, z) at 2 mm, from nilearn."""
    from nilearn import datasets

    return tuple(np.asarray(f(resolution=2).get_fdata(), dtype=np.float32)
                 for f in (datasets.load_mni152_gm_template, datasets.load_mni152_wm_template,
                           datasets.load_mni152_template))


def _brain_tissues(z0, slices):
    """Axial tissue maps ``(3, slices, Y, X)``: GM, WM, CSF; anterior at the top."""
    gm, wm, t1 = _mni152()
    sel = slice(z0, z0 + slices)
    gm, wm, t1 = (np.flip(v[:, :, sel].transpose(2, 1, 0), axis=1) for v in (gm, wm, t1))
    head = ndimage.binary_fill_holes(t1 > 0.05)
    csf = np.clip(ndimage.binary_erosion(head, iterations=2) - gm - wm, 0, 1) * (t1 < 0.5)
    return np.stack([gm, wm, csf.astype(np.float32)])


def brain_volume(rng, slices, shape):
    """Axial brain slices around the middle of MNI152 with random contrast and deformation.

    Tissue intensities (GM, WM, CSF) are drawn per volume (T1-like or T2-like ordering), the
    slices are rotated, scaled, shifted and smoothly deformed per volume, and multiplied by a
    smooth bias field.

    Args:
        rng: numpy Generator (one per volume).
        slices: number of consecutive axial slices (2 mm apart).
        shape: output ``(H, W)``; the head fills about 80% of the field of view.
    Returns:
        float32 ``(slices, H, W)`` magnitude, roughly in [0, 1].
    """
    nz = _mni152()[0].shape[2]
    z0 = int(np.clip(nz // 2 - slices // 2 + rng.integers(-4, 5), 0, nz - slices))
    tissues = _brain_tissues(z0, slices)  # (3, S, Y, X)
    if rng.uniform() < 0.5:  # T1-like: WM > GM > CSF
        w = np.array([rng.uniform(0.45, 0.6), rng.uniform(0.75, 0.9), rng.uniform(0.05, 0.15)])
    else:  # T2-like: CSF > GM > WM
        w = np.array([rng.uniform(0.5, 0.65), rng.uniform(0.3, 0.45), rng.uniform(0.85, 1.0)])
    images = np.tensordot(w, tissues, axes=1)  # (S, Y, X)
    images = _resample(images, shape, rng, fill=1.05)
    images = _warp(images, rng, amplitude=0.02 * min(shape), sigma=0.12 * min(shape))
    bias = 1 + smooth_field(rng, shape, 0.3 * min(shape), 0.15)
    return np.clip(images * bias, 0, None).astype(np.float32)


def _resample(images, shape, rng, fill):
    """Map ``(S, Y, X)`` onto ``(S, H, W)`` with random rotation, scale and shift (one per volume).

    ``fill`` is the fraction of the output field of view spanned by the input's longer side.
    """
    Y, X = images.shape[-2:]
    H, W = shape
    angle = np.deg2rad(rng.uniform(-10, 10))
    scale = max(Y, X) / (fill * min(H, W) * rng.uniform(0.9, 1.1))
    shift = rng.uniform(-0.04, 0.04, size=2) * np.array([H, W])
    yy, xx = np.meshgrid(np.arange(H) - H / 2 - shift[0], np.arange(W) - W / 2 - shift[1],
                         indexing="ij")
    c, s = np.cos(angle), np.sin(angle)
    src_y = scale * (c * yy - s * xx) + Y / 2
    src_x = scale * (s * yy + c * xx) + X / 2
    return np.stack([ndimage.map_coordinates(im, [src_y, src_x], order=1, cval=0.0)
                     for im in images])


# ---- knee (coronal proton-density-like, procedural) ------------------------------------

_KNEE = dict(background=0.0, skin=0.55, fat=0.9, muscle=0.32, cortex=0.04, marrow=0.72,
             cartilage=0.55, fluid=0.85)


def _knee_slice(y, x, t, p):
    """One coronal knee slice at through-plane position ``t`` in [-1, 1] for parameters ``p``."""
    taper = np.sqrt(max(1 - t ** 2, 0.05))  # bones and leg narrow towards the edge slices
    cx = p["cx"]
    leg = _ellipse(y, x, 0.0, cx, 1.6, p["leg"] * (0.8 + 0.2 * taper))
    femur_shaft = _box(y, x, -0.7, cx, 0.55, p["shaft"] * taper)
    condyles = np.minimum(
        _ellipse(y, x, p["joint"] - 0.17, cx - p["sep"], 0.17 * taper, p["condyle"] * taper),
        _ellipse(y, x, p["joint"] - 0.17, cx + p["sep"], 0.17 * taper, p["condyle"] * taper))
    femur = _smooth_union(femur_shaft, condyles, 0.12)
    plateau = _box(y, x, p["joint"] + 0.14, cx, 0.1, (p["sep"] + p["condyle"]) * taper)
    tibia_shaft = _box(y, x, 0.8, cx, 0.6, p["shaft"] * 1.1 * taper)
    tibia = _smooth_union(plateau, tibia_shaft, 0.2)
    bone = np.minimum(femur, tibia)
    near_joint = _soft(np.abs(y - p["joint"]) - 0.14, 0.02)
    cartilage = _soft(bone - p["cart"]) * near_joint * (1 - _soft(bone))
    fluid = _soft(_ellipse(y, x, p["joint"] - 0.35, cx, 0.08, 0.05 * taper)) * (1 - _soft(bone))
    inside = _soft(leg)
    subcut = 1 - _soft(leg + p["fat"])
    skin = 1 - _soft(leg + 0.012)
    septa = _soft(np.abs(p["septa"]) - 0.04, 0.01)  # thin fat septa between muscle bundles
    soft_tissue = (_KNEE["muscle"] * (1 - septa) + _KNEE["fat"] * septa)
    img = inside * (subcut * _KNEE["fat"] + (1 - subcut) * soft_tissue)
    img = img * (1 - skin * inside) + skin * inside * _KNEE["skin"]
    bone_in = _soft(bone)
    marrow = _soft(bone + p["cortex"])
    img = img * (1 - bone_in) + bone_in * (marrow * _KNEE["marrow"] + (1 - marrow) * _KNEE["cortex"])
    img = img * (1 - cartilage) + cartilage * _KNEE["cartilage"]
    return img * (1 - fluid) + fluid * _KNEE["fluid"]


def knee_volume(rng, slices, shape):
    """Coronal knee slices: femur and tibia (cortex + marrow), cartilage, muscle, fat, skin.

    Sizes and position are drawn per volume; bones narrow smoothly towards the edge slices.

    Args:
        rng: numpy Generator (one per volume).
        slices: number of coronal slices.
        shape: output ``(H, W)``.
    Returns:
        float32 ``(slices, H, W)`` proton-density-like magnitude in about [0, 1].
    """
    y, x = _grid(shape)
    p = dict(cx=rng.uniform(-0.08, 0.08), leg=rng.uniform(0.62, 0.78),
             shaft=rng.uniform(0.16, 0.22), joint=rng.uniform(-0.1, 0.1),
             sep=rng.uniform(0.17, 0.23), condyle=rng.uniform(0.17, 0.22),
             cart=rng.uniform(0.025, 0.04), cortex=rng.uniform(0.03, 0.045),
             fat=rng.uniform(0.05, 0.12))
    p["septa"] = smooth_field(rng, shape, 0.04 * min(shape), 1.0)
    ts = np.linspace(-0.8, 0.8, slices) + rng.uniform(-0.1, 0.1)
    images = np.stack([_knee_slice(y, x, t, p) for t in ts])
    images = _warp(images, rng, amplitude=0.02 * min(shape), sigma=0.1 * min(shape))
    bias = 1 + smooth_field(rng, shape, 0.3 * min(shape), 0.2)
    return np.clip(images * bias, 0, None).astype(np.float32)


# ---- abdomen CT (axial, Hounsfield units, procedural) ----------------------------------

_HU = dict(air=-1000.0, fat=-100.0, muscle=40.0, liver=60.0, kidney=30.0, cortex=700.0,
           marrow=250.0, vessel=150.0, bowel=10.0)


def _paint(img, sdf, value):
    """Overwrite ``img`` with ``value`` inside the shape ``sdf`` (soft edge)."""
    m = _soft(sdf, 0.004)
    return img * (1 - m) + m * value


def _abdomen_slice(y, x, t, p):
    """One axial abdomen slice (HU) at cranio-caudal position ``t`` in [0, 1] (0 = top)."""
    cx, cy, a, b = p["cx"], p["cy"], p["a"], p["b"]
    body = _ellipse(y, x, cy, cx, b, a)
    img = np.full(y.shape, _HU["air"])
    img = _paint(img, body, _HU["fat"])
    img = _paint(img, body + p["fat"], _HU["muscle"])  # abdominal wall
    img = _paint(img, body + p["fat"] + 0.05, _HU["fat"])  # visceral fat
    # Liver on the patient's right (image left), shrinking caudally.
    r_liv = max(0.45 * (1 - 0.8 * t), 0.02)
    img = _paint(img, _ellipse(y, x, cy - 0.05 * b, cx - 0.45 * a, 0.8 * b * r_liv / 0.45,
                               r_liv * a) + 0.02 * p["lobes"], _HU["liver"])
    # Bowel loops with gas pockets, more caudally.
    for (by, bx, r), gas in zip(p["bowel"], p["gas"]):
        if t > 0.25 or bx > 0:
            img = _paint(img, _ellipse(y, x, cy + by * b, cx + bx * a, r, r), _HU["bowel"])
            if gas:
                img = _paint(img, _ellipse(y, x, cy + by * b, cx + bx * a, 0.5 * r, 0.5 * r),
                             _HU["air"])
    # Kidneys beside the spine, present in the middle slices.
    r_kid = 0.12 * np.sqrt(max(1 - ((t - 0.55) / 0.35) ** 2, 0))
    if r_kid > 0.01:
        for side in (-1, 1):
            img = _paint(img, _ellipse(y, x, cy + 0.35 * b, cx + side * 0.33 * a, r_kid * 1.2,
                                       r_kid * 0.8), _HU["kidney"])
    # Paraspinal muscles, vertebra (cortex + marrow) and spinous process, posterior midline.
    vy = cy + 0.55 * b
    for side in (-1, 1):
        img = _paint(img, _ellipse(y, x, vy + 0.17, cx + side * 0.12, 0.12, 0.1), _HU["muscle"])
    vert = np.minimum(_ellipse(y, x, vy, cx, 0.09, 0.1), _box(y, x, vy + 0.16, cx, 0.08, 0.025))
    img = _paint(img, vert, _HU["cortex"])
    img = _paint(img, vert + 0.018, _HU["marrow"])
    # Aorta (anterior-left of the spine) and inferior vena cava (anterior-right).
    img = _paint(img, _ellipse(y, x, vy - 0.17, cx + 0.08, 0.05, 0.05), _HU["vessel"])
    img = _paint(img, _ellipse(y, x, vy - 0.15, cx - 0.1, 0.04, 0.055), _HU["vessel"] - 40)
    for vy_, vx_ in p["vessels"]:  # small vessels in the liver and the fat
        img = _paint(img, _ellipse(y, x, cy + vy_ * b, cx + vx_ * a, 0.012, 0.012), _HU["vessel"])
    return img


def abdomen_volume(rng, slices, shape, noise_hu=12.0):
    """Axial abdominal CT in Hounsfield units: air, body with subcutaneous fat and muscle
    wall, liver, kidneys, bowel, vertebra (cortical bone + marrow), aorta, vena cava, vessels.

    Args:
        rng: numpy Generator (one per volume / patient).
        slices: number of axial slices, top to bottom.
        shape: output ``(H, W)``.
        noise_hu: standard deviation of the (slightly correlated) image noise in HU.
    Returns:
        float32 ``(slices, H, W)`` in HU (air -1000).
    """
    y, x = _grid(shape)
    p = dict(cx=rng.uniform(-0.05, 0.05), cy=rng.uniform(-0.05, 0.05),
             a=rng.uniform(0.8, 0.92), b=rng.uniform(0.55, 0.68), fat=rng.uniform(0.03, 0.1),
             lobes=smooth_field(rng, shape, 0.08 * min(shape), 1.0),
             bowel=[(rng.uniform(-0.6, 0.2), rng.uniform(-0.3, 0.6), rng.uniform(0.05, 0.1))
                    for _ in range(7)],
             gas=rng.uniform(size=7) < 0.4,
             vessels=rng.uniform(-0.5, 0.3, size=(10, 2)) * np.array([1, 1.2]) - [0, 0.1])
    start = rng.uniform(0.0, 0.2)
    ts = start + np.linspace(0, 0.7, slices)
    images = np.stack([_abdomen_slice(y, x, t, p) for t in ts])
    images = _warp(images, rng, amplitude=0.015 * min(shape), sigma=0.1 * min(shape))
    noise = ndimage.gaussian_filter(rng.normal(size=images.shape), (0, 0.7, 0.7))
    return (images + noise_hu * noise / noise.std()).astype(np.float32)
