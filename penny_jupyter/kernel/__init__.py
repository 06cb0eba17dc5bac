"""Kernel side: the %penny magics, the objects they return and the ArtifactWidget."""
