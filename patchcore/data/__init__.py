"""Data: synthetic anatomy, k-space, preparation of slices, realism measures."""
