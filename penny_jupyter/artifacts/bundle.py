"""An artifact as a notebook output: one mime bundle that shows its numbers wherever the notebook travels.

- `application/vnd.penny.artifact+json`: the artifact (id, type, title, version, spec). The Penny labextension's
  mime renderer draws it live from the saved notebook alone: no kernel, no saved widget state; Refresh and
  Download go through the REST API.
- `text/html`: the semantic copy (headings, tables, ▲/▼) that nbconvert, Voilà without the extension, GitHub
  and untrusted notebooks show.
- `text/plain`: the same numbers as aligned text.

No widget view in it: once widget state is saved (nbconvert --execute's default), nbconvert picks a widget
view over text/html, and that view draws nothing without the JupyterLab extension and the network.
"""

from __future__ import annotations

from typing import Any

from .html import to_html, to_text

MIME = "application/vnd.penny.artifact+json"
_KEYS = ("id", "type", "title", "version", "spec", "createdAt", "source")


def mime_bundle(artifact: dict[str, Any]) -> dict[str, Any]:
    return {MIME: {k: artifact[k] for k in _KEYS if k in artifact},
            "text/html": to_html(artifact), "text/plain": to_text(artifact)}
