"""Kernel side: the %penny magics and the ArtifactWidget."""
