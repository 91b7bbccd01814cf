"""k-space helpers (numpy): centred orthonormal FFTs, root-sum-of-squares, coil maps.

Conventions follow fastMRI: k-space and images share the last two axes ``(..., H, W)``; the
transforms are centred (zero frequency in the middle) and orthonormal (``norm="ortho"``), so
``ifft2c(fft2c(x)) == x`` and energy is preserved.
"""

import numpy as np
from scipy import ndimage

_AXES = (-2, -1)


def fft2c(x: np.ndarray) -> np.ndarray:
    """Centred orthonormal 2-D FFT over the last two axes: ``(..., H, W)`` complex."""
    shifted = np.fft.ifftshift(x, axes=_AXES)
    return np.fft.fftshift(np.fft.fft2(shifted, axes=_AXES, norm="ortho"), axes=_AXES)


def ifft2c(k: np.ndarray) -> np.ndarray:
    """Centred orthonormal inverse 2-D FFT over the last two axes: ``(..., H, W)`` complex."""
    shifted = np.fft.ifftshift(k, axes=_AXES)
    return np.fft.fftshift(np.fft.ifft2(shifted, axes=_AXES, norm="ortho"), axes=_AXES)


def rss(coil_images: np.ndarray, axis: int = -3) -> np.ndarray:
    """Root-sum-of-squares coil combination: ``(..., coils, H, W)`` -> ``(..., H, W)`` real."""
    return np.sqrt(np.sum(np.abs(coil_images) ** 2, axis=axis))


def coil_maps(rng: np.random.Generator, coils: int, shape: tuple[int, int], smoothness: float = 0.25
              ) -> np.ndarray:
    """Smooth synthetic coil sensitivities, normalised so their RSS is 1 everywhere.

    Each coil is a broad Gaussian bump centred on a ring around the field of view (coils sit
    around the object), times a smooth random phase.

    Args:
        rng: numpy Generator.
        coils: number of coils ``C``.
        shape: ``(H, W)``.
        smoothness: width of the bumps relative to the field of view.
    Returns:
        complex64 ``(C, H, W)`` with ``sum_c |S_c|^2 == 1``.
    """
    H, W = shape
    yy, xx = np.meshgrid(np.linspace(-1, 1, H), np.linspace(-1, 1, W), indexing="ij")
    angles = 2 * np.pi * (np.arange(coils) / coils + rng.uniform(0, 1))
    maps = []
    for a in angles:
        cy, cx = 1.2 * np.sin(a), 1.2 * np.cos(a)
        mag = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (4 * smoothness) ** 2))
        phase = ndimage.gaussian_filter(rng.normal(size=shape), sigma=smoothness * min(shape))
        phase = np.pi * phase / (np.abs(phase).max() + 1e-12)
        maps.append(mag * np.exp(1j * phase))
    maps = np.stack(maps)
    return (maps / rss(maps, axis=0)).astype(np.complex64)


def simulate_multicoil(rng: np.random.Generator, images: np.ndarray, coils: int, noise: float = 0.01
                       ) -> np.ndarray:
    """Multicoil k-space of magnitude images: smooth phase, coil maps, complex Gaussian noise.

    Args:
        rng: numpy Generator.
        images: real ``(slices, H, W)`` magnitude.
        coils: number of coils.
        noise: noise standard deviation (per complex sample) relative to ``images.max()``;
            the orthonormal FFT gives the same level in image space.
    Returns:
        complex64 k-space ``(slices, coils, H, W)``.
    """
    H, W = images.shape[-2:]
    phase = ndimage.gaussian_filter(rng.normal(size=(H, W)), 0.2 * W)
    phase = np.exp(0.5j * np.pi * phase / (np.abs(phase).max() + 1e-12))
    coil_images = coil_maps(rng, coils, (H, W))[None] * (images * phase)[:, None]
    sigma = noise * float(images.max())
    white = rng.normal(size=(2, *coil_images.shape)) * sigma / np.sqrt(2)
    return (fft2c(coil_images) + white[0] + 1j * white[1]).astype(np.complex64)


def complex_combine(kspace: np.ndarray) -> np.ndarray:
    """Complex coil-combined images of fastMRI k-space.

    Magnitude: root-sum-of-squares of the coil images (the fastMRI target). Phase: that of the
    coil-combined k-space, ``angle(ifft2c(sum_c k_c))`` (the image a single virtual coil
    summing every element would see). Single-coil k-space is just ``ifft2c(k)``.

    Args:
        kspace: complex ``(slices, coils, H, W)`` (multicoil) or ``(slices, H, W)`` (single coil).
    Returns:
        complex64 ``(slices, H, W)``.
    """
    if kspace.ndim == 3:
        return ifft2c(kspace).astype(np.complex64)
    magnitude = rss(ifft2c(kspace), axis=1)
    phase = np.angle(ifft2c(kspace.sum(axis=1)))
    return (magnitude * np.exp(1j * phase)).astype(np.complex64)
