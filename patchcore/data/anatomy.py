"""Synthetic anatomy for the embedded default data (no download possible).

Pure functions of an explicit ``numpy.random.Generator``: the same generator state gives the
same volume. Brain slices come from the MNI152 grey/white-matter templates shipped inside the
nilearn wheel (read offline); knee and abdomen are procedural, built from signed distance
functions of star-shaped blobs, boxes and capsules (negative inside), filled with 3-D
power-law textures. Every random choice of the knee and abdomen is an entry of
``KNEE_DISTRIBUTIONS`` or ``CT_DISTRIBUTIONS`` (one place to read them all).

Every function returns ``(slices, H, W)`` float32: MRI in arbitrary magnitude units around
[0, 1], CT in Hounsfield units.
"""

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import ndimage


# ---- shared geometry -------------------------------------------------------------------

def _grid(shape):
    """Coordinates ``(y, x)`` in [-1, 1] over an ``(H, W)`` grid (y down, x right)."""
    H, W = shape
    return np.meshgrid(np.linspace(-1, 1, H, dtype=np.float32), np.linspace(-1, 1, W, dtype=np.float32),
                       indexing="ij")


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


def smooth_field(rng: np.random.Generator, shape: tuple[int, ...], sigma: float | Sequence[float],
                 amplitude: float) -> np.ndarray:
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


def brain_volume(rng: np.random.Generator, slices: int, shape: tuple[int, int]) -> np.ndarray:
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


# ---- distributions (every random choice of the knee and CT phantoms, in one place) -------
# Each entry is (kind, a, b): "uniform" on [a, b), "normal" (mean a, std b), "integer" in
# [a, b] inclusive, "bernoulli" with probability a. Lengths are in units of the half field of
# view (the image spans [-1, 1]); CT values in Hounsfield units; MRI values in arbitrary
# magnitude units around [0, 1]. One patient / volume draws every entry from its own seeded
# generator, so the same seed gives the same volume.

# (kind, a, b) as described above.
Distribution = tuple[str, float, float | None]

CT_DISTRIBUTIONS = {
    # body habitus
    "body_halfwidth": ("uniform", 0.68, 0.92),      # lateral semi-axis
    "body_aspect": ("uniform", 0.62, 0.82),         # antero-posterior / lateral
    "body_shift": ("uniform", -0.04, 0.04),         # centre offset, each axis
    "body_lobes": ("uniform", 0.0, 0.04),           # amplitude of the outline's Fourier terms
    "back_flat": ("uniform", 0.82, 0.95),           # posterior flattening on the table
    "subcut_fat": ("uniform", 0.02, 0.13),          # subcutaneous fat thickness
    "muscle_wall": ("uniform", 0.025, 0.05),        # abdominal wall muscle thickness
    "visceral_fat": ("uniform", 0.0, 1.0),          # 0 lean .. 1 obese (organ crowding)
    # tissue values (HU) and texture standard deviations (HU)
    "hu_fat": ("normal", -100.0, 8.0),
    "hu_muscle": ("normal", 50.0, 6.0),
    "hu_liver": ("normal", 100.0, 12.0),             # portal venous phase
    "hu_spleen": ("normal", 105.0, 10.0),
    "hu_pancreas": ("normal", 85.0, 10.0),
    "hu_kidney_cortex": ("normal", 160.0, 25.0),
    "hu_kidney_medulla_drop": ("uniform", 20.0, 70.0),  # medulla darker than cortex by
    "hu_aorta": ("uniform", 130.0, 230.0),          # contrast phase
    "hu_portal": ("uniform", 20.0, 70.0),            # vessels brighter than liver by
    "hu_trabecular": ("normal", 210.0, 40.0),
    "hu_cortical": ("uniform", 650.0, 1000.0),
    "hu_bowel_wall": ("normal", 60.0, 10.0),
    "tex_parenchyma": ("uniform", 5.0, 12.0),       # organ texture std (power-law field)
    "tex_fat": ("uniform", 4.0, 12.0),
    "tex_muscle": ("uniform", 5.0, 12.0),
    "tex_bone": ("uniform", 40.0, 90.0),
    "beta_parenchyma": ("uniform", 2.2, 3.2),       # power-law exponent of organ texture
    # organs: size scale factors and positions
    "liver_size": ("uniform", 0.85, 1.15),
    "liver_left_lobe": ("uniform", 0.3, 1.0),
    "liver_bottom": ("uniform", 0.55, 0.8),         # cranio-caudal extent (t of its tip)
    "spleen_size": ("uniform", 0.6, 1.2),
    "kidney_size": ("uniform", 0.85, 1.15),
    "kidney_top": ("uniform", 0.25, 0.4),           # cranio-caudal start of the kidneys
    "kidney_shift": ("uniform", -0.06, 0.06),       # asymmetric height, per side
    "gallbladder": ("bernoulli", 0.7, None),
    "stomach_air": ("uniform", 0.0, 0.6),           # fraction of the stomach filled with gas
    "spine_size": ("uniform", 0.9, 1.12),
    "vertebra_phase": ("uniform", 0.0, 1.0),        # where the discs fall along z
    "vertebra_levels": ("uniform", 2.0, 3.0),       # vertebral levels covered by the volume
    "aorta_radius": ("uniform", 0.035, 0.055),
    "aorta_calcified": ("bernoulli", 0.3, None),
    "organ_lobes": ("uniform", 0.02, 0.08),         # outline irregularity of organs
    "organ_shift": ("uniform", -0.05, 0.05),        # organ position jitter, each axis
    # vessels, ribs, bowel, lesions
    "liver_vessels": ("integer", 6, 14),
    "vessel_radius": ("uniform", 0.008, 0.02),
    "mesenteric_vessels": ("integer", 6, 18),
    "ribs": ("integer", 5, 9),                      # rib cross-sections per side (upper slices)
    "small_bowel_loops": ("integer", 16, 30),
    "bowel_radius": ("uniform", 0.045, 0.09),
    "bowel_content": ("uniform", 0.0, 1.0),         # <0.45 fluid, <0.7 gas, <0.9 stool, else contrast
    "liver_lesions": ("integer", 0, 3),
    "lesion_radius": ("uniform", 0.015, 0.07),
    "lesion_contrast": ("uniform", -70.0, 25.0),    # HU relative to the liver
    "kidney_cyst": ("bernoulli", 0.3, None),
    # acquisition
    "noise_hu": ("uniform", 8.0, 20.0),             # image noise std (before size scaling)
    "noise_cutoff": ("uniform", 0.25, 0.45),        # noise power spectrum peak (x Nyquist)
    "warp": ("uniform", 0.005, 0.02),               # smooth deformation amplitude (x size)
    "start": ("uniform", 0.0, 0.2),                 # first slice's cranio-caudal position
}

KNEE_DISTRIBUTIONS = {
    "leg_halfwidth": ("uniform", 0.6, 0.82),
    "leg_shift": ("uniform", -0.08, 0.08),
    "subcut_fat": ("uniform", 0.04, 0.14),
    "joint_line": ("uniform", -0.12, 0.1),          # vertical position of the joint space
    "femur_shaft": ("uniform", 0.14, 0.21),         # half width of the femoral shaft
    "condyle_width": ("uniform", 0.16, 0.23),
    "condyle_height": ("uniform", 0.13, 0.2),
    "notch_width": ("uniform", 0.04, 0.08),         # intercondylar notch half width
    "tibia_width": ("uniform", 0.36, 0.46),         # half width of the tibial plateau
    "tibia_shaft": ("uniform", 0.15, 0.21),
    "fibula_size": ("uniform", 0.05, 0.08),
    "patella_size": ("uniform", 0.12, 0.18),
    "cartilage": ("uniform", 0.02, 0.035),          # cartilage thickness
    "cortex": ("uniform", 0.012, 0.025),            # cortical bone thickness
    "meniscus": ("uniform", 0.06, 0.1),             # meniscus width
    "effusion": ("uniform", 0.0, 1.0),              # joint fluid amount
    "tilt": ("uniform", -8.0, 8.0),                 # leg axis tilt in degrees
    "valgus": ("uniform", -0.04, 0.04),             # tibia offset relative to femur
    "pd_fat": ("uniform", 0.8, 1.0),                # proton-density-like intensities
    "pd_muscle": ("uniform", 0.25, 0.4),
    "pd_marrow": ("uniform", 0.6, 0.85),
    "pd_cartilage": ("uniform", 0.45, 0.62),
    "pd_fluid": ("uniform", 0.75, 1.0),
    "pd_meniscus": ("uniform", 0.03, 0.1),
    "pd_cortex": ("uniform", 0.02, 0.06),
    "tex_marrow": ("uniform", 0.03, 0.08),          # trabecular texture std
    "tex_muscle": ("uniform", 0.03, 0.07),
    "tex_fat": ("uniform", 0.02, 0.05),
    "slab": ("uniform", 0.55, 0.8),                 # antero-posterior half extent covered
    "warp": ("uniform", 0.005, 0.02),
    "bias": ("uniform", 0.1, 0.3),                  # coil bias field amplitude
}


def draw(rng: np.random.Generator, spec: Distribution, size: int | None = None) -> Any:
    """One draw (or ``size`` draws) from a distribution entry ``(kind, a, b)``."""
    kind, a, b = spec
    if kind == "uniform":
        return rng.uniform(a, b, size)
    if kind == "normal":
        return rng.normal(a, b, size)
    if kind == "integer":
        return rng.integers(a, b + 1, size)
    if kind == "bernoulli":
        return rng.uniform(size=size) < a
    raise ValueError(f"unknown distribution kind '{kind}'")


def draw_all(rng: np.random.Generator, table: Mapping[str, Distribution]) -> dict[str, Any]:
    """One draw of every entry of a distribution table, in the table's order."""
    return {name: draw(rng, spec) for name, spec in table.items()}


# ---- texture and shape helpers ----------------------------------------------------------

def power_law_field(rng: np.random.Generator, shape: tuple[int, ...], beta: float,
                    scale: Sequence[float] | None = None) -> np.ndarray:
    """Zero-mean, unit-std Gaussian random field with power spectrum ``~ 1 / |f|^beta``.

    ``shape`` 2-D or 3-D; ``scale`` stretches frequencies per axis (a larger value makes the
    field smoother along that axis, e.g. muscle fibres along the leg).
    """
    scale = np.ones(len(shape)) if scale is None else np.asarray(scale, dtype=float)
    axes = [np.fft.fftfreq(n) * n * s for n, s in zip(shape[:-1], scale[:-1])]
    axes.append(np.fft.rfftfreq(shape[-1]) * shape[-1] * scale[-1])
    f2 = sum(g ** 2 for g in np.meshgrid(*axes, indexing="ij", sparse=True))
    amp = np.where(f2 > 0, np.maximum(f2, 1.0) ** (-beta / 4), 0.0)
    field = np.fft.irfftn(np.fft.rfftn(rng.normal(size=shape)) * amp, s=shape)
    return (field / (field.std() + 1e-12)).astype(np.float32)


def _smooth_3d(rng, shape, sigma):
    """Unit-std Gaussian-filtered white noise (``sigma`` in pixels per axis): its zero level
    set is a family of smooth curves (fat septa between muscle bundles)."""
    f = ndimage.gaussian_filter(rng.normal(size=shape), sigma, mode="wrap")
    return (f / (f.std() + 1e-12)).astype(np.float32)


def ct_noise(rng: np.random.Generator, shape: tuple[int, ...], std: float, cutoff: float) -> np.ndarray:
    """CT-like noise ``(S, H, W)``: white noise shaped by a ramp times a smooth roll-off in each
    slice (the noise power spectrum of filtered back-projection peaks at mid frequencies)."""
    H, W = shape[-2:]
    fy = np.fft.fftfreq(H)[:, None] * 2
    fx = np.fft.rfftfreq(W)[None] * 2  # in units of Nyquist
    f = np.hypot(fy, fx)
    nps = f * np.exp(-(f / cutoff) ** 2)
    noise = np.fft.irfft2(np.fft.rfft2(rng.normal(size=shape)) * np.sqrt(nps), s=(H, W))
    return (std * noise / (noise.std() + 1e-12)).astype(np.float32)


def _blob(y, x, cy, cx, ry, rx, coeffs=(), angle=0.0):
    """Signed distance (approx.) to a star-shaped blob: an ellipse whose radius is modulated
    by ``1 + sum_k a_k cos(k theta + phi_k)`` for ``coeffs = [(a_k, phi_k), ...]`` (k = 2, 3, ...),
    rotated by ``angle`` radians."""
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * (x - cx) + s * (y - cy), -s * (x - cx) + c * (y - cy)
    rho = np.sqrt((v / ry) ** 2 + (u / rx) ** 2)
    theta = np.arctan2(v / ry, u / rx)
    radius = 1 + sum(a * np.cos((k + 2) * theta + phi) for k, (a, phi) in enumerate(coeffs))
    return (rho - radius) * min(ry, rx)


def _lobes(rng, amplitude, n=4):
    """Random Fourier outline terms for :func:`_blob` with amplitudes decaying as 1/k."""
    return [(amplitude * rng.uniform(-1, 1) / (k + 1), rng.uniform(0, 2 * np.pi)) for k in range(n)]


def _segment(y, x, p, q, r):
    """Signed distance to a capsule (segment ``p``-``q`` of radius ``r``), points as (y, x)."""
    py, px = y - p[0], x - p[1]
    dy, dx = q[0] - p[0], q[1] - p[1]
    h = np.clip((py * dy + px * dx) / (dy * dy + dx * dx + 1e-12), 0, 1)
    return np.hypot(py - h * dy, px - h * dx) - r


def _segments(y, x, P, Q, R):
    """Signed distance to the union of capsules ``P[i]``-``Q[i]`` (``(n, 2)`` as y, x) of radii ``R``.

    Evaluated only inside the capsules' bounding box (plus a margin); 1.0 elsewhere.
    """
    out = np.ones(y.shape, dtype=np.float32)
    if len(P) == 0:
        return out
    P, Q, R = (np.asarray(v, dtype=np.float32) for v in (P, Q, R))
    lo = np.minimum(P, Q).min(0) - R.max() - 0.05
    hi = np.maximum(P, Q).max(0) + R.max() + 0.05
    rows = np.flatnonzero((y[:, 0] >= lo[0]) & (y[:, 0] <= hi[0]))
    cols = np.flatnonzero((x[0] >= lo[1]) & (x[0] <= hi[1]))
    if len(rows) == 0 or len(cols) == 0:
        return out
    box = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    yb, xb = y[box], x[box]
    py, px = yb[None] - P[:, 0, None, None], xb[None] - P[:, 1, None, None]
    dy, dx = (Q[:, 0] - P[:, 0])[:, None, None], (Q[:, 1] - P[:, 1])[:, None, None]
    h = np.clip((py * dy + px * dx) / (dy * dy + dx * dx + 1e-12), 0, 1)
    out[box] = (np.hypot(py - h * dy, px - h * dx) - R[:, None, None]).min(0)
    return out


def _profile(t, t0, t1):
    """Cross-section factor of an organ spanning ``[t0, t1]`` along z: 0 outside, 1 mid-way."""
    mid, half = (t0 + t1) / 2, max((t1 - t0) / 2, 1e-6)
    return float(np.sqrt(max(1 - ((t - mid) / half) ** 2, 0)))


def _paint(img, sdf, value, width=0.004):
    """Overwrite ``img`` with ``value`` (scalar or image) inside the shape ``sdf`` (soft edge)."""
    m = _soft(sdf, width)
    return img * (1 - m) + m * value


def _random_walk(rng, start, steps, step, turn):
    """Points ``(steps + 1, 2)`` of a smooth random walk starting at ``start`` (y, x)."""
    angle = rng.uniform(0, 2 * np.pi)
    pts = [np.asarray(start, dtype=float)]
    for _ in range(steps):
        angle += rng.normal(0, turn)
        pts.append(pts[-1] + step * np.array([np.sin(angle), np.cos(angle)]))
    return np.array(pts)


# ---- abdomen CT (axial, Hounsfield units, procedural) ----------------------------------

CT_FIELD_OF_VIEW_MM = 380.0  # the image's side ([-1, 1]) in millimetres
CT_SLAB = 0.75               # cranio-caudal extent of a volume, in units of t (0 = liver dome)
CT_T_MM = 300.0              # millimetres per unit of t

def _ct_layout(rng, shape, slices):
    """Every per-patient random choice of the abdomen phantom (see CT_DISTRIBUTIONS)."""
    p = draw_all(rng, CT_DISTRIBUTIONS)
    D = CT_DISTRIBUTIONS
    p["a"] = p["body_halfwidth"]
    p["b"] = p["a"] * p["body_aspect"]
    p["c"] = rng.uniform(*D["body_shift"][1:], size=2)  # (cy, cx)
    p["outline"] = _lobes(rng, p["body_lobes"])
    p["fat_angle"] = _lobes(rng, 0.5)  # subcutaneous fat thicker in places
    p["organ_lobes_"] = {k: _lobes(rng, p["organ_lobes"]) for k in
                         ("liver", "left_lobe", "spleen", "kidney_l", "kidney_r", "stomach", "pancreas")}
    p["organ_shift_"] = {k: draw(rng, D["organ_shift"], 2) for k in
                         ("liver", "spleen", "kidneys", "stomach", "pancreas", "gallbladder")}
    p["kidney_dz"] = draw(rng, D["kidney_shift"], 2)
    s = p["liver_size"]
    hilum = np.array([0.0, -0.25])  # liver vessels start near the porta hepatis (y, x)
    p["liver_vessel_paths"] = [(_random_walk(rng, hilum, 6, 0.07 * s, 0.5), draw(rng, D["vessel_radius"]),
                                rng.uniform(-1, 1)) for _ in range(p["liver_vessels"])]
    p["mesentery"] = [(rng.uniform([-0.5, -0.4], [0.2, 0.4]), rng.normal(0, 0.3, 2),
                       draw(rng, D["vessel_radius"]) * 0.6) for _ in range(p["mesenteric_vessels"])]
    p["rib_angles"] = [np.sort(rng.uniform(0.35, 2.5, p["ribs"])) for _ in range(2)]
    p["small_bowel"] = [dict(c=rng.uniform([-0.75, -0.65], [0.4, 0.65]), v=rng.normal(0, 0.4, 2),
                             r=draw(rng, D["bowel_radius"]), t0=rng.uniform(0.3, 0.7),
                             content=draw(rng, D["bowel_content"]), ecc=rng.uniform(0.6, 1.0),
                             angle=rng.uniform(0, np.pi)) for _ in range(p["small_bowel_loops"])]
    p["colon"] = [dict(content=draw(rng, D["bowel_content"]), r=draw(rng, D["bowel_radius"]) * 1.2)
                  for _ in range(3)]  # ascending, transverse, descending
    p["lesions"] = [dict(c=rng.uniform([-0.35, -0.75], [0.25, -0.2]), t=rng.uniform(0.05, 0.6),
                         r=draw(rng, D["lesion_radius"]), dhu=draw(rng, D["lesion_contrast"]))
                    for _ in range(p["liver_lesions"])]
    p["cyst"] = dict(side=rng.choice([-1, 1]), t=rng.uniform(0.45, 0.8), r=rng.uniform(0.02, 0.05),
                     dy=rng.uniform(-0.05, 0.05))
    # Textures: 3-D fields (slices, H, W), so the texture continues from slice to slice.
    tex_shape = (slices, *shape)
    p["tex"] = {"parenchyma": power_law_field(rng, tex_shape, p["beta_parenchyma"]),
                "fat": power_law_field(rng, tex_shape, 2.0),
                "muscle": power_law_field(rng, tex_shape, 2.5, scale=(1, 1, 3)),
                "bone": power_law_field(rng, tex_shape, 1.2),
                "stool": power_law_field(rng, tex_shape, 2.0)}
    return p


def _ct_body(y, x, t, p, tex):
    """Air, table, skin, subcutaneous fat, abdominal wall; returns (image, inner sdf, scale)."""
    cy, cx = p["c"]
    a, b = p["a"] * (1 + 0.04 * (t - 0.5)), p["b"] * (1 + 0.03 * (t - 0.5))
    body = _blob(y, x, cy, cx, b, a, p["outline"])
    back = cy + p["back_flat"] * b
    body = np.maximum(body, y - back)  # flattened on the table
    img = np.full(y.shape, -1000.0, dtype=np.float32)
    table_y = back + 0.04
    img = _paint(img, np.abs(y - table_y - 0.03) - 0.012, -400.0)   # couch foam
    img = _paint(img, np.abs(y - table_y - 0.06) - 0.006, 250.0)              # couch shell
    theta = np.arctan2(y - cy, x - cx)
    fat = p["subcut_fat"] * (1 + sum(c * np.cos((k + 1) * theta + ph)
                                     for k, (c, ph) in enumerate(p["fat_angle"])))
    img = _paint(img, body, 20.0)  # skin
    img = _paint(img, body + 0.008, p["hu_fat"] + p["tex_fat"] * tex["fat"])
    wall = body + 0.008 + fat
    img = _paint(img, wall, p["hu_muscle"] + p["tex_muscle"] * tex["muscle"])
    inner = wall + p["muscle_wall"] * (1 + 0.6 * np.cos(2 * theta))  # thinner front, thicker sides
    img = _paint(img, inner, p["hu_fat"] + p["tex_fat"] * tex["fat"])  # visceral fat
    return img, inner, (a, b)


def _spine_centre(p):
    """(y, x) of the vertebral body centre: in front of the back by fat and posterior elements."""
    cy, cx = p["c"]
    return cy + p["back_flat"] * p["b"] - p["subcut_fat"] - 0.3 * p["spine_size"], cx


def _ct_spine(img, y, x, t, p, tex):
    """Vertebra (body, canal, arch, spinous and transverse processes) or disc; paraspinal
    and psoas muscles."""
    vy, cx = _spine_centre(p)
    s = p["spine_size"]
    muscle = p["hu_muscle"] + p["tex_muscle"] * tex["muscle"]
    for side in (-1, 1):  # erector spinae beside the spinous process, psoas growing caudally
        img = _paint(img, _blob(y, x, vy + 0.2 * s, cx + side * 0.12 * s, 0.09 * s, 0.09 * s, angle=side * 0.3),
                     muscle)
        ps = _profile(t, 0.35, 1.6) * 0.07 * s
        if ps > 0.01:
            img = _paint(img, _blob(y, x, vy + 0.01, cx + side * (0.12 * s + ps), ps * 1.1, ps), muscle)
    phase = (t * p["vertebra_levels"] + p["vertebra_phase"]) % 1.0
    body = _blob(y, x, vy, cx, 0.095 * s, 0.115 * s, [(0.04, 0.0)])
    if phase < 0.18:  # intervertebral disc: annulus slightly brighter than the nucleus
        img = _paint(img, body, 95.0 + 8 * tex["parenchyma"])
        return _paint(img, body + 0.03 * s, 75.0 + 8 * tex["parenchyma"])
    canal = _blob(y, x, vy + 0.14 * s, cx, 0.04 * s, 0.045 * s)
    arch = np.maximum(np.abs(canal) - 0.016 * s, vy + 0.1 * s - y)  # ring behind the body
    P = [(vy + 0.18 * s, cx)]
    Q = [(vy + 0.27 * s, cx)]  # spinous process
    if 0.3 < phase < 0.7:  # transverse processes in the middle of each vertebra
        P += [(vy + 0.13 * s, cx - 0.05 * s), (vy + 0.13 * s, cx + 0.05 * s)]
        Q += [(vy + 0.17 * s, cx - 0.19 * s), (vy + 0.17 * s, cx + 0.19 * s)]
    bone = np.minimum(np.minimum(body, arch), _segments(y, x, P, Q, [0.012 * s] * len(P)))
    img = _paint(img, bone, p["hu_cortical"])
    img = _paint(img, body + 0.012, p["hu_trabecular"] + p["tex_bone"] * tex["bone"])
    return _paint(img, canal, 15.0)


def _inside(sdf, inner):
    """A shape cut to the abdominal cavity (organs stay inside the wall)."""
    return np.maximum(sdf, inner + 0.01)


def _liver_shape(y, x, t, p, L, inner):
    """Liver: right lobe (image left) and a left lobe crossing the midline in upper slices."""
    cy, cx = p["c"]
    a, b = p["a"], p["b"]
    oy, ox = p["organ_shift_"]["liver"]
    liver = _blob(y, x, cy + oy, cx - 0.42 * a + ox, 0.75 * b * L, 0.45 * a * L, p["organ_lobes_"]["liver"])
    left = _profile(t, -0.3, 0.45) * p["liver_left_lobe"]
    if left > 0.05:
        lobe = _blob(y, x, cy - 0.35 * b + oy, cx + 0.05 + ox, 0.3 * b * left, 0.45 * a * left,
                     p["organ_lobes_"]["left_lobe"], angle=0.2)
        liver = _smooth_union(liver, lobe, 0.08)
    return _inside(liver, inner)


def _liver_vessels(img, y, x, t, p, L, liver, parenchyma):
    """Portal and hepatic vessel branches inside the liver (tapering capsules)."""
    cy, cx = p["c"]
    a, b = p["a"], p["b"]
    oy, ox = p["organ_shift_"]["liver"]
    P, Q, R = [], [], []
    for path, r, drift in p["liver_vessel_paths"]:
        pts = path * np.array([b, a]) * L + [cy + oy, cx - 0.42 * a + ox] + drift * 0.3 * (t - 0.5)
        radii = r * L * 0.8 ** np.arange(len(pts) - 1)  # branches taper
        P += list(pts[:-1])
        Q += list(pts[1:])
        R += list(radii)
    return _paint(img, np.maximum(_segments(y, x, P, Q, R), liver + 0.01),
                  p["hu_liver"] + p["hu_portal"] + 0.5 * parenchyma)


def _liver_lesions(img, y, x, t, p, liver, parenchyma):
    """Spherical liver lesions: their cut shrinks away from the centre."""
    cy, cx = p["c"]
    a, b = p["a"], p["b"]
    for les in p["lesions"]:
        rr = les["r"] ** 2 - (0.5 * (t - les["t"])) ** 2
        if rr > 0.0001:
            c = les["c"] * np.array([b, a]) + [cy, cx]
            img = _paint(img, np.maximum(_blob(y, x, c[0], c[1], np.sqrt(rr), np.sqrt(rr)), liver),
                         p["hu_liver"] + les["dhu"] + 0.5 * parenchyma, 0.008)
    return img


def _ct_liver(img, y, x, t, p, parenchyma, inner):
    """Liver with vessels and lesions, and the gallbladder beneath it."""
    L = _profile(t, -0.3, p["liver_bottom"]) * p["liver_size"]
    if L > 0.05:
        liver = _liver_shape(y, x, t, p, L, inner)
        img = _paint(img, liver, p["hu_liver"] + parenchyma)
        img = _liver_vessels(img, y, x, t, p, L, liver, parenchyma)
        img = _liver_lesions(img, y, x, t, p, liver, parenchyma)
        if p["gallbladder"]:
            img = _ct_gallbladder(img, y, x, t, p)
    return img


def _ct_gallbladder(img, y, x, t, p):
    cy, cx = p["c"]
    a, b = p["a"], p["b"]
    g = _profile(t, 0.35, 0.65) * 0.06
    oy, ox = p["organ_shift_"]["gallbladder"]
    if g > 0.01:
        img = _paint(img, _blob(y, x, cy - 0.15 * b + oy, cx - 0.3 * a + ox, g * 1.3, g), 10.0)
    return img


def _ct_spleen(img, y, x, t, p, parenchyma, inner):
    """Spleen: left posterior, upper slices."""
    cy, cx = p["c"]
    a, b = p["a"], p["b"]
    S = _profile(t, -0.2, 0.45) * p["spleen_size"]
    oy, ox = p["organ_shift_"]["spleen"]
    if S > 0.05:
        spleen = _blob(y, x, cy + 0.3 * b + oy, cx + 0.62 * a + ox, 0.35 * b * S, 0.18 * a * S,
                       p["organ_lobes_"]["spleen"], angle=-0.6)
        img = _paint(img, _inside(spleen, inner), p["hu_spleen"] + parenchyma)
    return img


def _ct_stomach(img, y, x, t, p, tex, inner):
    """Stomach: left anterior, upper slices; gas rises to the anterior (top) side."""
    cy, cx = p["c"]
    a, b = p["a"], p["b"]
    G = _profile(t, -0.2, 0.5)
    oy, ox = p["organ_shift_"]["stomach"]
    if G > 0.05:
        sc = (cy - 0.3 * b + oy, cx + 0.35 * a + ox)
        stomach = _inside(_blob(y, x, *sc, 0.3 * b * G, 0.25 * a * G, p["organ_lobes_"]["stomach"]), inner)
        img = _paint(img, stomach, p["hu_bowel_wall"])
        img = _paint(img, stomach + 0.012, 15.0 + 5 * tex["stool"])
        level = sc[0] - 0.3 * b * G + 2 * p["stomach_air"] * 0.3 * b * G
        img = _paint(img, np.maximum(stomach + 0.012, y - level), -1000.0)
    return img


def _ct_pancreas(img, y, x, t, p, parenchyma, inner):
    """Pancreas: across the midline in front of the vessels, lobulated."""
    cy, cx = p["c"]
    a, b = p["a"], p["b"]
    P = _profile(t, 0.25, 0.55)
    oy, ox = p["organ_shift_"]["pancreas"]
    if P > 0.05:
        pan = _blob(y, x, cy + 0.1 * b + oy, cx + 0.12 * a + ox, 0.06 * P, 0.3 * a * P,
                    p["organ_lobes_"]["pancreas"], angle=-0.25)
        img = _paint(img, _inside(pan, inner), p["hu_pancreas"] + 1.5 * parenchyma)
    return img


def _ct_great_vessels(img, y, x, p):
    """Aorta and inferior vena cava in front of the spine; occasional wall calcification."""
    cx = p["c"][1]
    ra = p["aorta_radius"]
    vy = _spine_centre(p)[0] - 0.095 * p["spine_size"] - ra - 0.01
    img = _paint(img, _blob(y, x, vy, cx + 0.05, ra, ra), p["hu_aorta"])
    if p["aorta_calcified"]:
        arc = np.maximum(np.abs(_blob(y, x, vy, cx + 0.05, ra, ra)) - 0.005, -(x - cx - 0.05 - 0.3 * ra))
        img = _paint(img, arc, 600.0)
    return _paint(img, _blob(y, x, vy + 0.01, cx - 0.1, 0.8 * ra, 1.3 * ra), p["hu_aorta"] - 40)


def _ct_organs(img, y, x, t, p, tex, inner):
    """Liver (vessels, lesions), gallbladder, spleen, stomach, pancreas, kidneys, great vessels."""
    parenchyma = tex["parenchyma"] * p["tex_parenchyma"]
    img = _ct_liver(img, y, x, t, p, parenchyma, inner)
    img = _ct_spleen(img, y, x, t, p, parenchyma, inner)
    img = _ct_stomach(img, y, x, t, p, tex, inner)
    img = _ct_pancreas(img, y, x, t, p, parenchyma, inner)
    img = _ct_kidneys(img, y, x, t, p, parenchyma)
    return _ct_great_vessels(img, y, x, p)


def _ct_kidneys(img, y, x, t, p, parenchyma):
    """Kidneys with cortex, medulla and sinus fat; an optional cyst."""
    cy, cx = p["c"]
    a, b = p["a"], p["b"]
    oy, ox = p["organ_shift_"]["kidneys"]
    for k, side in enumerate((-1, 1)):
        top = p["kidney_top"] + p["kidney_dz"][k]
        K = _profile(t, top, top + 0.5) * p["kidney_size"]
        if K < 0.1:
            continue
        kc = (_spine_centre(p)[0] + oy, cx + side * (0.32 * a) + ox)
        angle = side * 0.5
        kidney = _blob(y, x, *kc, 0.1 * K, 0.065 * K, p["organ_lobes_"]["kidney_r" if side < 0 else "kidney_l"],
                       angle=angle)
        img = _paint(img, kidney, p["hu_kidney_cortex"] + parenchyma)
        img = _paint(img, kidney + 0.015 * K, p["hu_kidney_cortex"] - p["hu_kidney_medulla_drop"] + parenchyma)
        sinus = _blob(y, x, kc[0], kc[1] - side * 0.04 * K, 0.05 * K, 0.025 * K, angle=angle)
        img = _paint(img, sinus, p["hu_fat"])
        if p["kidney_cyst"] and side == p["cyst"]["side"]:
            rr = p["cyst"]["r"] ** 2 - (0.5 * (t - p["cyst"]["t"])) ** 2
            if rr > 0.0001:
                img = _paint(img, _blob(y, x, kc[0] + p["cyst"]["dy"], kc[1] + side * 0.03, np.sqrt(rr),
                                        np.sqrt(rr)), 8.0)
    return img


def _bowel(img, sdf, content, wall_hu, stool):
    """A bowel segment: wall, then contents (fluid, gas, stool with gas bubbles, oral contrast)."""
    img = _paint(img, sdf, wall_hu)
    lumen = sdf + 0.01
    if content < 0.45:  # fluid with some chyme
        return _paint(img, lumen, 15.0 + 12 * stool)
    if content < 0.7:
        return _paint(img, lumen, -1000.0)
    if content < 0.9:
        return _paint(img, lumen, np.where(stool > 0.8, -900.0, 30.0 + 25 * stool))
    return _paint(img, lumen, 250.0 + 20 * stool)


def _ct_bowel(img, y, x, t, p, tex, inner):
    """Colon (ascending, transverse, descending) and small-bowel loops; mesenteric vessels."""
    cy, cx = p["c"]
    a, b = p["a"], p["b"]
    stool = tex["stool"]
    crowd = 1 - 0.3 * p["visceral_fat"]  # more visceral fat pushes loops together
    colon = [((cy + 0.1 * b, cx - 0.62 * a), _profile(t, 0.45, 1.5)),
             ((cy - 0.45 * b, cx), _profile(t, 0.4, 0.65)),
             ((cy + 0.1 * b, cx + 0.65 * a), _profile(t, 0.3, 1.5))]
    for (c, pres), seg in zip(colon, p["colon"]):
        if pres > 0.1:
            sdf = np.maximum(_blob(y, x, c[0], c[1], seg["r"], seg["r"] * (2.5 if c[1] == cx else 1)), inner + 0.01)
            img = _bowel(img, sdf, seg["content"], p["hu_bowel_wall"], stool)
    for loop in p["small_bowel"]:
        pres = _profile(t, loop["t0"], loop["t0"] + 0.8)
        if pres < 0.2:
            continue
        c = (loop["c"] + loop["v"] * (t - loop["t0"]) * 0.3) * np.array([b, a]) * crowd + [cy, cx]
        sdf = _blob(y, x, c[0], c[1], loop["r"] * loop["ecc"], loop["r"], angle=loop["angle"] + 2 * t)
        img = _bowel(img, np.maximum(sdf, inner + 0.01), loop["content"], p["hu_bowel_wall"], stool)
    C = [(c + v * (t - 0.5)) * np.array([b, a]) + [cy, cx] for c, v, _ in p["mesentery"]]
    R = [r for _, _, r in p["mesentery"]]
    vessels = _segments(y, x, C, [c + [0.0, 0.01] for c in C], R)
    return _paint(img, np.maximum(vessels, inner + 0.01), p["hu_liver"] + p["hu_portal"])


def _ct_ribs(img, y, x, t, p):
    """Rib cross-sections (cortex and marrow) and costal cartilage in the body wall, upper slices."""
    cy, cx = p["c"]
    R = _profile(t, -0.8, 0.6)
    if R < 0.1:
        return img
    depth = p["subcut_fat"] + 0.01 + 0.5 * p["muscle_wall"]
    ra, rb = p["a"] - depth, p["b"] * p["back_flat"] - depth
    for side, angles in zip((-1, 1), p["rib_angles"]):
        for k, phi in enumerate(angles):  # phi: angle from the anterior midline
            if k / len(angles) > R:
                continue
            c = (cy - rb * np.cos(phi), cx + side * ra * np.sin(phi))
            rib = _blob(y, x, c[0], c[1], 0.016, 0.03, angle=side * (np.pi / 2 - phi))
            if phi < 0.6:  # costal cartilage in front
                img = _paint(img, rib, 130.0)
            else:
                img = _paint(img, rib, p["hu_cortical"])
                img = _paint(img, rib + 0.007, 300.0)
    return img


def _abdomen_slice(y, x, t, p, tex):
    """One axial abdomen slice (HU) at cranio-caudal position ``t`` (0 = liver dome)."""
    img, inner, _ = _ct_body(y, x, t, p, tex)
    img = _ct_ribs(img, y, x, t, p)
    img = _ct_bowel(img, y, x, t, p, tex, inner)
    img = _ct_organs(img, y, x, t, p, tex, inner)
    return _ct_spine(img, y, x, t, p, tex)


def abdomen_volume(rng: np.random.Generator, slices: int, shape: tuple[int, int]) -> np.ndarray:
    """Axial abdominal CT in Hounsfield units, procedural, one patient per generator.

    Body habitus, organ shapes, sizes and positions, vertebral levels, ribs, vessels, bowel
    contents, lesions, tissue values, texture and noise are all drawn per patient from
    ``CT_DISTRIBUTIONS``. Organ interiors carry 3-D power-law textures; the image noise has
    the mid-frequency power spectrum of filtered back-projection.

    Args:
        rng: numpy Generator (one per patient).
        slices: number of axial slices, top (liver dome) to bottom.
        shape: output ``(H, W)``.
    Returns:
        float32 ``(slices, H, W)`` in HU (air -1000).
    """
    y, x = _grid(shape)
    p = _ct_layout(rng, shape, slices)
    ts = p["start"] + np.linspace(0, CT_SLAB, slices)
    images = np.stack([_abdomen_slice(y, x, t, p, {k: v[i] for k, v in p["tex"].items()})
                       for i, t in enumerate(ts)])
    images = _warp(images, rng, amplitude=p["warp"] * min(shape), sigma=0.1 * min(shape))
    noise_hu = p["noise_hu"] * (1 + 0.5 * (p["a"] - 0.8))  # larger patients are noisier
    return (images + ct_noise(rng, images.shape, noise_hu, p["noise_cutoff"])).astype(np.float32)


# ---- knee (coronal proton-density-like, procedural) ------------------------------------

def _knee_layout(rng, shape, slices):
    """Every per-volume random choice of the knee phantom (see KNEE_DISTRIBUTIONS)."""
    p = draw_all(rng, KNEE_DISTRIBUTIONS)
    p["outline"] = _lobes(rng, 0.03)
    p["condyle_lobes"] = [_lobes(rng, 0.04) for _ in range(2)]
    p["scar"] = rng.uniform(0.25, 0.4, size=2)  # physeal scar distance from the joint (femur, tibia)
    tex_shape = (slices, *shape)
    p["tex"] = {"marrow": power_law_field(rng, tex_shape, 1.8),
                "muscle": power_law_field(rng, tex_shape, 2.5, scale=(1, 3, 0.7)),
                "septa": _smooth_3d(rng, tex_shape, (1.0, 0.25 * shape[0], 0.06 * shape[1])),
                "bundles": _smooth_3d(rng, tex_shape, (1.5, 0.12 * shape[0], 0.06 * shape[1])),
                "fat": power_law_field(rng, tex_shape, 2.0),
                "cartilage": power_law_field(rng, tex_shape, 1.8)}
    return p


def _flare(y, x, y0, y1, w0, w1):
    """Signed distance (approx.) to a trapezoid from height ``y0`` (half width ``w0``) to ``y1``
    (half width ``w1``): the metaphysis between a shaft and the wide end of a long bone."""
    lo, hi = min(y0, y1), max(y0, y1)
    u = np.clip((y - y0) / (y1 - y0), 0, 1)
    width = w0 + (w1 - w0) * u ** 1.5
    return np.maximum(np.abs(x) - width, np.maximum(lo - y, y - hi))


def _knee_bones(y, x, t, p):
    """Signed distances of femur, tibia, fibula and patella at depth ``t`` (-1 anterior, 1 posterior)."""
    j = p["joint_line"]
    cw, ch = p["condyle_width"], p["condyle_height"]
    depth = max(_profile(t, -0.8, 1.05), 0.25)  # condyles are widest in the middle slices
    sep = cw * 0.8 + p["notch_width"] * np.clip(t + 0.2, 0, 1)  # the notch opens posteriorly
    condyles = np.minimum(
        _blob(y, x, j - ch, -sep, ch, cw * depth, p["condyle_lobes"][0]),
        _blob(y, x, j - ch, sep, ch, cw * depth, p["condyle_lobes"][1]))
    shaft_w = p["femur_shaft"] * (0.6 + 0.4 * _profile(t, -0.9, 0.7))
    femur = np.minimum(_box(y, x, j - 1.2, 0.0, 0.9, shaft_w) - 0.01,
                       _flare(y, x, j - ch - 0.45, j - ch, shaft_w, (sep + cw * depth) * 0.95))
    femur = _smooth_union(femur, condyles, 0.05)
    if t > -0.2:  # intercondylar notch between the condyles
        notch = _blob(y, x, j - 0.02, 0.0, ch * 0.9 * np.clip(t + 0.4, 0, 1), p["notch_width"])
        femur = np.maximum(femur, -notch)
    if t < -0.55:  # in front of the trochlea only the patella and soft tissue remain
        femur = femur + (-0.55 - t) * 0.8
    tw = p["tibia_width"] * max(_profile(t, -0.7, 0.95), 0.3)
    dx = p["valgus"]
    top = j + 0.045
    tshaft = p["tibia_shaft"] * (0.6 + 0.4 * _profile(t, -0.8, 0.7))
    tibia = np.minimum(_box(y, x - dx, top + 0.035, 0.0, 0.035, tw) - 0.015,
                       _flare(y, x - dx, top + 0.5, top + 0.05, tshaft, tw))
    tibia = np.minimum(tibia, _box(y, x - dx, top + 1.0, 0.0, 0.6, tshaft))
    tibia = np.minimum(tibia, _blob(y, x - dx, top, 0.0, 0.03, 0.035))  # tibial spines
    if t < -0.65:
        tibia = tibia + (-0.65 - t) * 0.8
    F = _profile(t, 0.1, 1.2) * p["fibula_size"]
    fibula = np.ones_like(y)
    if F > 0.01:
        fibula = np.minimum(_blob(y, x - dx, top + 0.22, tw + 0.01, 1.3 * F, F),
                            _box(y, x - dx, top + 0.8, tw + 0.02, 0.55, 0.55 * F))
    Pt = _profile(t, -1.4, -0.45) * p["patella_size"]
    patella = _blob(y, x, j - 0.3, 0.0, 1.3 * Pt, Pt) if Pt > 0.01 else np.ones_like(y)
    return femur, tibia, fibula, patella


def _knee_slice(y, x, t, p, tex):
    """One coronal knee slice at depth ``t`` in [-1, 1] (anterior to posterior)."""
    j = p["joint_line"]
    a = np.deg2rad(p["tilt"])
    y, x = np.cos(a) * y + np.sin(a) * x, -np.sin(a) * y + np.cos(a) * x
    x = x - p["leg_shift"]
    # Soft tissue: skin, subcutaneous fat, muscle bundles separated by curved fat septa.
    width = p["leg_halfwidth"] * (1 + 0.1 * np.exp(-((y - j) / 0.4) ** 2) + 0.03 * np.sin(2 * y + p["outline"][0][1]))
    leg = np.abs(x) - width
    fat = p["pd_fat"] + p["tex_fat"] * tex["fat"]
    img = _paint(np.zeros(y.shape, dtype=np.float32), leg, 0.55)
    img = _paint(img, leg + 0.012, fat)
    inner = leg + 0.012 + p["subcut_fat"] * (1 + 0.4 * np.cos(3 * y + t))
    muscle = p["pd_muscle"] * (1 + 0.15 * np.tanh(2 * tex["bundles"])) + p["tex_muscle"] * tex["muscle"]
    img = _paint(img, inner, muscle)
    septa = np.exp(-(tex["septa"] / 0.12) ** 2) * _soft(inner, 0.01)  # anti-aliased thin fat lines
    img = img * (1 - 0.7 * septa) + 0.7 * septa * fat
    femur, tibia, fibula, patella = _knee_bones(y, x, t, p)
    # Joint space: cartilage on both articular surfaces, fluid between them, menisci at the margins.
    both = np.maximum(femur, tibia)  # small where a point is close to femur AND tibia
    joint = np.maximum(both - 0.09, np.abs(y - j - 0.02) - 0.1)
    img = _paint(img, np.maximum(joint, np.minimum(femur, tibia) - 0.08), fat)  # fat around the joint
    img = _paint(img, np.maximum(joint + 0.03 - 0.03 * p["effusion"], -np.minimum(femur, tibia)), p["pd_fluid"])
    if t < -0.3 and p["effusion"] > 0.5:  # suprapatellar recess
        img = _paint(img, _blob(y, x, j - 0.55, 0.0, 0.15 * p["effusion"], 0.05), p["pd_fluid"])
    articular = np.maximum(np.minimum(femur, tibia) - p["cartilage"], np.abs(y - j - 0.02) - 0.1)
    img = _paint(img, articular, p["pd_cartilage"] + 0.05 * tex["cartilage"])
    for side in (-1, 1):  # menisci: dark wedges at the margins of the joint space
        wedge = _blob(y, x, j + 0.02, side * (p["tibia_width"] - 0.4 * p["meniscus"]), 0.025, p["meniscus"] * 0.6)
        img = _paint(img, np.maximum(wedge, -np.minimum(femur, tibia) - 0.005), p["pd_meniscus"])
    if -0.1 < t < 0.6:  # a cruciate ligament crossing the notch
        d = 0.03 * np.sign(t - 0.25)
        img = _paint(img, _segment(y, x, (j - 0.1, -d), (j + 0.04, d), 0.014), 0.15)
    bones = np.minimum(np.minimum(femur, tibia), np.minimum(fibula, patella))
    img = _paint(img, bones, p["pd_cortex"])
    img = _paint(img, bones + p["cortex"], p["pd_marrow"] + p["tex_marrow"] * tex["marrow"])
    for k, (bone, sign) in enumerate(((femur, -1), (tibia, 1))):  # physeal scars: thin dark lines
        scar = np.maximum(np.abs(y - j - sign * p["scar"][k]) - 0.006, bone + p["cortex"])
        img = _paint(img, scar, p["pd_marrow"] * 0.6)
    return np.clip(img, 0, None)


def knee_volume(rng: np.random.Generator, slices: int, shape: tuple[int, int]) -> np.ndarray:
    """Coronal proton-density-like knee, procedural, one volume per generator.

    Femur (shaft, condyles, notch), tibia (plateau, spines), fibula, patella, each with a dark
    cortex and textured fatty marrow with a physeal scar; articular cartilage, joint fluid,
    menisci, cruciate and collateral ligaments; muscle with fibre texture and fat septa;
    subcutaneous fat and skin. Every random choice is drawn from ``KNEE_DISTRIBUTIONS``.

    Args:
        rng: numpy Generator (one per volume).
        slices: number of coronal slices, anterior to posterior.
        shape: output ``(H, W)``.
    Returns:
        float32 ``(slices, H, W)`` magnitude in about [0, 1].
    """
    y, x = _grid(shape)
    p = _knee_layout(rng, shape, slices)
    ts = np.linspace(-p["slab"], p["slab"], slices) + rng.uniform(-0.1, 0.1)
    images = np.stack([_knee_slice(y, x, t, p, {k: v[i] for k, v in p["tex"].items()})
                       for i, t in enumerate(ts)])
    images = _warp(images, rng, amplitude=p["warp"] * min(shape), sigma=0.1 * min(shape))
    bias = 1 + smooth_field(rng, shape, 0.3 * min(shape), p["bias"])
    return np.clip(images * bias, 0, None).astype(np.float32)
