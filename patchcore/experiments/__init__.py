"""Experiments: one cell of the grid, the grid itself, tables, tuning, analysis, profiling."""
