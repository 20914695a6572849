"""Load, fault and soak runs against the scale-out layout; each stops by itself."""
