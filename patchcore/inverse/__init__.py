"""Inverse problems: operators, sigma schedules, solvers, the shifted-grid patch denoiser, metrics."""
