"""ArtifactWidget: one anywidget for every artifact type.

The live view is a small ES module (a few KB, never plotly inlined); every display also carries
`text/plain` and semantic `text/html`, so a notebook opened without a kernel, untrusted, or on a
viewer that strips CSS and JS still shows the numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anywidget
import traitlets

from ..artifacts.html import to_html, to_text

_ESM = (Path(__file__).parent / "widget.js").read_text()
_CSS = (Path(__file__).parent / "widget.css").read_text()


class ArtifactWidget(anywidget.AnyWidget):
    _esm = _ESM
    _css = _CSS
    artifact = traitlets.Dict().tag(sync=True)

    def __init__(self, artifact: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(artifact=artifact, **kwargs)

    @property
    def id(self) -> str:
        return self.artifact.get("id", "")

    @property
    def metrics(self) -> dict[str, Any]:
        """Metric name -> value, so the next cell can compute with what the dashboard shows."""
        return {w.get("name") or w.get("label"): w.get("value")
                for w in self.artifact.get("spec", {}).get("widgets", []) if w.get("type") == "metric"}

    def _repr_mimebundle_(self, **kwargs: Any):
        bundle = super()._repr_mimebundle_(**kwargs)
        data, meta = bundle if isinstance(bundle, tuple) else (bundle, {})
        data = dict(data or {})
        data["text/plain"] = to_text(self.artifact)
        data["text/html"] = to_html(self.artifact)
        return data, meta
