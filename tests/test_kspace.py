"""Centred orthonormal FFTs against numpy, RSS, coil maps."""

import numpy as np
import pytest

from patchcore.data.kspace import coil_maps, fft2c, ifft2c, rss, simulate_multicoil


@pytest.fixture
def x():
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 2, 10, 7)) + 1j * rng.normal(size=(3, 2, 10, 7))


def test_fft2c_matches_numpy_centred_orthonormal(x):
    ref = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"),
                          axes=(-2, -1))
    np.testing.assert_allclose(fft2c(x), ref, atol=1e-12)


def test_inverse_and_energy(x):
    np.testing.assert_allclose(ifft2c(fft2c(x)), x, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(fft2c(x)), np.linalg.norm(x), rtol=1e-12)


def test_centred_zero_frequency():
    img = np.ones((8, 6))
    k = fft2c(img)
    assert np.argmax(np.abs(k)) == np.ravel_multi_index((4, 3), k.shape)
    np.testing.assert_allclose(np.abs(k[4, 3]), np.sqrt(48))


def test_rss(x):
    expected = np.sqrt((np.abs(x) ** 2).sum(axis=1))
    np.testing.assert_allclose(rss(x, axis=1), expected)
    assert rss(x).shape == (3, 10, 7)


def test_coil_maps_unit_rss_and_smooth():
    maps = coil_maps(np.random.default_rng(1), 4, (32, 24))
    assert maps.shape == (4, 32, 24) and maps.dtype == np.complex64
    np.testing.assert_allclose(rss(maps, axis=0), 1, atol=1e-5)
    assert np.abs(np.diff(np.abs(maps), axis=-1)).max() < 0.2


def test_simulate_multicoil_recovers_magnitude():
    rng = np.random.default_rng(2)
    images = np.zeros((2, 24, 20))
    images[:, 6:18, 5:15] = rng.uniform(0.5, 1, size=(2, 12, 10))
    k = simulate_multicoil(rng, images, 3, noise=0.0)
    assert k.shape == (2, 3, 24, 20) and k.dtype == np.complex64
    np.testing.assert_allclose(rss(ifft2c(k), axis=1), images, atol=1e-5)
    noisy = simulate_multicoil(np.random.default_rng(2), images, 3, noise=0.05)
    background = rss(ifft2c(noisy), axis=1)[:, :4]
    assert 0.02 < background.mean() < 0.1  # RSS of 3 coils of complex noise, sigma 0.05
