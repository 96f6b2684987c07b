"""The SAM v3 layer: the sans-I/O wire codec and the per-router dialect."""
