"""Priors: the EDM2-style network, preconditioning, patch samplers, training."""
