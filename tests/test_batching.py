"""Shared helpers: per-image values, micro-batches, generator noise, derived seeds."""

import hashlib

import pytest
import torch

from patchcore.batching import micro_batches, per_image, randn_like
from patchcore.seeds import derived_seed


def test_per_image_broadcasts_a_scalar_and_keeps_a_vector():
    x = torch.zeros(3, 2, 4, 4, dtype=torch.float64)
    assert torch.equal(per_image(0.5, x), torch.full((3,), 0.5, dtype=torch.float64))
    v = torch.tensor([1.0, 2.0, 3.0])
    assert per_image(v, x).dtype == torch.float64 and torch.equal(per_image(v, x), v.double())
    assert per_image(v, x, view=True).shape == (3, 1, 1, 1)
    assert per_image(v, x, dtype=torch.float32).dtype == torch.float32
    assert torch.equal(per_image(v, x, view=True) * x + 1, torch.ones_like(x))


def test_per_image_scalar_result_is_writable_not_a_view():
    s = per_image(torch.tensor(1.0), torch.zeros(2, 1))
    s[0] = 5.0
    assert s.tolist() == [5.0, 1.0]


def test_per_image_refuses_a_wrong_length():
    with pytest.raises(ValueError, match=r"\(3,\)"):
        per_image(torch.ones(2), torch.zeros(3, 1, 2, 2))


@pytest.mark.parametrize("total,size", [(10, 3), (10, None), (10, 0), (3, 7), (0, 2), (6, 6)])
def test_micro_batches_cover_everything_once_in_order(total, size):
    parts = micro_batches(total, size)
    covered = [i for a, b in parts for i in range(a, b)]
    assert covered == list(range(total))
    assert all(b - a <= (size or total) for a, b in parts)


def test_randn_like_draws_on_the_generators_device():
    like = torch.zeros(2, 3, dtype=torch.float64)
    a = randn_like(like, torch.Generator().manual_seed(4))
    b = torch.randn(2, 3, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    assert torch.equal(a, b) and a.dtype == like.dtype


def test_derived_seed_reads_the_sha256_prefix():
    digest = hashlib.sha256(b"0/knee/sr2/3").digest()
    assert derived_seed(0, "knee", "sr2", 3, bits=32) == int.from_bytes(digest[:4], "little")
    assert derived_seed(0, "knee", "sr2", 3) == int.from_bytes(digest[:8], "little") >> 1
    assert 0 <= derived_seed("a", bits=5) < 32 and derived_seed("a") != derived_seed("b")
    with pytest.raises(ValueError):
        derived_seed("a", bits=0)
