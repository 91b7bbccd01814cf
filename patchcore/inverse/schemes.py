"""Inference schemes: how a prior is applied to an image, by name.

The grammar, in config entries, cell paths and Snakemake wildcards alike:

- ``full``: the whole image at once;
- ``<P>``: a shifted grid of P-pixel tiles, a new shift each call (PaDIS; Roy et al.);
- ``avg<P>``: overlapping P-pixel tiles, averaged (the PaDIS table's "Patch averaging");
- ``stitch<P>``: a fixed grid of P-pixel tiles, no shift ("Patch stitching").

:func:`parse` is the only reader of this grammar; :data:`PATTERN` is the same grammar as a
regular expression (Snakemake's ``infer`` wildcard, the config schema); :data:`DENOISERS` maps
each kind to its denoiser class and :func:`make_denoiser` builds one around a prior.
"""

import re
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

import torch

from patchcore.inverse import patches

KINDS = ("full", "grid", "avg", "stitch")
PREFIXES = {"grid": "", "avg": "avg", "stitch": "stitch"}  # the text before P, per tiled kind
PATTERN = r"full|(?:avg|stitch)?[1-9][0-9]*"
_FULL_MATCH = re.compile(rf"^(?:{PATTERN})$")


@dataclass(frozen=True)
class Scheme:
    """One parsed scheme: ``kind`` in :data:`KINDS`, ``patch`` the tile size P (None for ``full``)."""

    kind: str
    patch: Optional[int] = None

    def __str__(self) -> str:
        return "full" if self.kind == "full" else f"{PREFIXES[self.kind]}{self.patch}"

    @property
    def whole(self) -> bool:
        """True for the whole-image scheme."""
        return self.kind == "full"

    def size(self, image_size: int) -> int:
        """The tile side in pixels (``image_size`` for ``full``)."""
        return int(image_size) if self.whole else int(self.patch)

    def covers(self, image_size: int) -> bool:
        """True if one tile covers an ``image_size`` image (``full``, or ``P >= image_size``)."""
        return self.size(image_size) >= int(image_size)


def parse(text: Union[str, int, Scheme]) -> Scheme:
    """The :class:`Scheme` of ``text`` (``'full'``, ``16``, ``'16'``, ``'avg16'``, ``'stitch16'``).

    Raises ValueError naming the text and the grammar for anything else.
    """
    if isinstance(text, Scheme):
        return text
    s = str(text)
    if isinstance(text, bool) or not _FULL_MATCH.match(s):
        raise ValueError(f"inference scheme {text!r}: expected 'full', '<P>', 'avg<P>' or 'stitch<P>' "
                         f"with P a positive integer")
    if s == "full":
        return Scheme("full")
    for kind in ("avg", "stitch"):
        if s.startswith(kind):
            return Scheme(kind, int(s[len(kind):]))
    return Scheme("grid", int(s))


def accepts(text: Any) -> bool:
    """True if :func:`parse` reads ``text``."""
    try:
        parse(text)
    except ValueError:
        return False
    return True


def _shifted(prior, scheme, pad, generator, micro_batch):
    patch = "full" if scheme.whole else scheme.patch
    return patches.ShiftedGridDenoiser(prior, patch=patch, pad_mode=pad, generator=generator,
                                       micro_batch=micro_batch)


def _stitched(prior, scheme, pad, generator, micro_batch):
    return patches.StitchingDenoiser(prior, patch=scheme.patch, pad_mode=pad, generator=generator,
                                     micro_batch=micro_batch)


def _averaged(prior, scheme, pad, generator, micro_batch):
    return patches.PatchAveragingDenoiser(prior, patch=scheme.patch, micro_batch=micro_batch)


# kind -> (denoiser class, builder(prior, scheme, pad, generator, micro_batch)).
DENOISERS: dict[str, tuple[type, Callable]] = {
    "full": (patches.ShiftedGridDenoiser, _shifted),
    "grid": (patches.ShiftedGridDenoiser, _shifted),
    "avg": (patches.PatchAveragingDenoiser, _averaged),
    "stitch": (patches.StitchingDenoiser, _stitched),
}


def make_denoiser(prior: Optional[Callable], infer: Union[str, int, Scheme], pad: str,
                  generator: Optional[torch.Generator], micro_batch: Optional[int]) -> Optional[Callable]:
    """The denoiser ``D(x, sigma)`` of scheme ``infer`` around ``prior`` (None without a prior:
    classical solvers take no denoiser). ``pad`` is ``'reflect'`` or ``'zero'`` (unused by
    ``avg<P>``), ``micro_batch`` the most tiles per prior call (None: all at once)."""
    scheme = parse(infer)
    if prior is None:
        return None
    return DENOISERS[scheme.kind][1](prior, scheme, pad, generator, micro_batch)
