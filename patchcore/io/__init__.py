"""File formats: the only place in patchcore that reads or writes files."""
