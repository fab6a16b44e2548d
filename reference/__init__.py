"""optimspec.reference: the exact NumPy float64 reference of every optimizer and schedule."""
