"""patchcore: patch-based diffusion priors for medical-image inverse problems.

Pure tensor functions and modules; file formats live in :mod:`patchcore.io` only.
See docs/ARCHITECTURE.md for the shared conventions.
"""

__version__ = "0.1.0"
