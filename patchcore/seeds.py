"""Seeds derived from names: the same in every process and on every machine."""

import hashlib


def derived_seed(*parts: object, bits: int = 63) -> int:
    """A ``bits``-bit seed from ``parts`` joined by ``/`` (SHA-256, not Python's salted ``hash``).

    The seed is the digest's first ``ceil(bits / 8)`` bytes read little-endian, shifted right
    to ``bits`` bits (32 bits: the first four bytes; 63 bits: the first eight, halved).
    """
    if not 1 <= bits <= 256:
        raise ValueError(f"derived_seed: bits must be in [1, 256], got {bits}")
    nbytes = -(-bits // 8)
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:nbytes], "little") >> (8 * nbytes - bits)
