"""EDM preconditioning, loss weight and scale conversion against hand-computed values."""

import math

import pytest
import torch

from patchcore.priors.loss import edm_loss, loss_weight, sample_sigma
from patchcore.priors.precond import EDMPrecond, edm_coefficients
from patchcore.priors.prior import Prior


# sigma, c_skip, c_out, c_in, c_noise for sigma_data 0.5, computed by hand:
# s=0.5: s^2+sd^2 = 0.5 -> 0.25/0.5, 0.25/sqrt(0.5), 1/sqrt(0.5), ln(0.5)/4
# s=1:   1.25 -> 0.25/1.25, 0.5/sqrt(1.25), 1/sqrt(1.25), 0
# s=0.1: 0.26 -> 0.25/0.26, 0.05/sqrt(0.26), 1/sqrt(0.26), ln(0.1)/4
HAND = [
    (0.5, 0.5, 0.3535534, 1.4142136, -0.1732868),
    (1.0, 0.2, 0.4472136, 0.8944272, 0.0),
    (0.1, 0.9615385, 0.0980581, 1.9611614, -0.5756463),
]


@pytest.mark.parametrize("sigma,c_skip,c_out,c_in,c_noise", HAND)
def test_coefficients_match_hand_values(sigma, c_skip, c_out, c_in, c_noise):
    got = [float(c) for c in edm_coefficients(torch.tensor(sigma))]
    assert got == pytest.approx([c_skip, c_out, c_in, c_noise], abs=1e-6)


@pytest.mark.parametrize("sigma", [0.002, 0.1, 1.0, 80.0])
def test_loss_weight_is_inverse_c_out_squared(sigma):
    c_out = float(edm_coefficients(torch.tensor(sigma))[1])
    assert float(loss_weight(torch.tensor(sigma))) == pytest.approx(1 / c_out ** 2, rel=1e-5)


class ZeroNet(torch.nn.Module):
    """F = 0 network that records its input."""

    levels = 1

    def forward(self, x, c_noise):
        self.seen = (x, c_noise)
        return torch.zeros_like(x[:, :1])


def test_precond_with_zero_network_is_c_skip_times_input():
    net = ZeroNet()
    precond = EDMPrecond(net)
    x = torch.randn(3, 1, 4, 4)
    sigma = torch.tensor([0.5, 1.0, 0.1])
    extra = torch.full((3, 2, 4, 4), 7.0)
    out = precond(x, sigma, extra)
    for i, (s, c_skip, _, c_in, c_noise) in enumerate(HAND):
        assert torch.allclose(out[i], c_skip * x[i], atol=1e-6)
        # Network input: c_in-scaled image, then the extra channels unscaled.
        assert torch.allclose(net.seen[0][i, :1], c_in * x[i], atol=1e-6)
        assert torch.all(net.seen[0][i, 1:] == 7.0)
        assert float(net.seen[1][i]) == pytest.approx(c_noise, abs=1e-6)


def test_prior_converts_scale_once():
    """prior(x, s) = (D'(2x - 1, 2s) + 1) / 2 with D' the model-scale denoiser."""
    prior = Prior({"model_channels": 4, "channel_mult": [1]})
    prior.precond.net = ZeroNet()
    x = torch.rand(1, 1, 4, 4)
    sigma = 0.25  # model scale 0.5: c_skip = 0.5
    out = prior(x, sigma)
    assert torch.allclose(out, (0.5 * (2 * x - 1) + 1) / 2, atol=1e-6)
    # At tiny noise the trivial denoiser returns its input.
    assert torch.allclose(prior(x, 1e-6), x, atol=1e-5)


def test_log_normal_sigma_statistics():
    g = torch.Generator().manual_seed(0)
    logs = sample_sigma(20000, g, -1.2, 1.2).log()
    assert float(logs.mean()) == pytest.approx(-1.2, abs=0.03)
    assert float(logs.std()) == pytest.approx(1.2, abs=0.03)


def test_loss_formula_with_and_without_uncertainty():
    prior = Prior({"model_channels": 4, "channel_mult": [1]}, uncertainty=True)
    precond = prior.precond
    g = torch.Generator().manual_seed(1)
    x0 = torch.rand(2, 1, 4, 4, generator=g) * 2 - 1
    noise = torch.randn(2, 1, 4, 4, generator=g)
    sigma = torch.tensor([0.5, 1.0])
    with torch.no_grad():
        d, u = precond(x0 + sigma.view(-1, 1, 1, 1) * noise, sigma, return_logvar=True)
        mse = (d - x0).square().flatten(1).mean(1)
        weight = (sigma ** 2 + 0.25) / (sigma * 0.5) ** 2
        assert torch.allclose(edm_loss(precond, x0, sigma, noise), weight * mse, rtol=1e-5)
        expect = weight / u.exp() * mse + u
        assert torch.allclose(edm_loss(precond, x0, sigma, noise, uncertainty=True), expect, rtol=1e-5)
    # At initialisation the output gain is 0, so the loss is weight * ||c_skip x - x0||^2.
    c_skip = 0.25 / (sigma ** 2 + 0.25)
    noisy = x0 + sigma.view(-1, 1, 1, 1) * noise
    trivial = weight * (c_skip.view(-1, 1, 1, 1) * noisy - x0).square().flatten(1).mean(1)
    assert torch.allclose(edm_loss(precond, x0, sigma, noise), trivial, rtol=1e-5)
    assert math.isfinite(float(edm_loss(precond, x0, sigma, noise).sum().detach()))
