"""ArtifactDraft: an artifact as a tool hands it over, before the store gives it an id and a version."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ArtifactDraft:
    """An artifact before it is stored (the store gives it id, tenant, version, createdAt)."""

    type: str  # dashboard | chart | table | document | code | image
    title: str
    spec: dict[str, Any]
    source: dict[str, Any] = field(default_factory=dict)  # {"tool": name, "params": {...}}
