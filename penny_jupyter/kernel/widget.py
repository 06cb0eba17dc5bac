"""ArtifactWidget: one anywidget for every artifact type, for kernel code that wants a live view it can hold
(`PennyArtifact.widget()`); a Penny output itself is a mime bundle (artifacts/bundle.py).

The view is a small ES module (a few KB, never plotly inlined); every display also carries
`text/plain` and semantic `text/html`.
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

    def _repr_mimebundle_(self, **kwargs: Any):
        bundle = super()._repr_mimebundle_(**kwargs)
        data, meta = bundle if isinstance(bundle, tuple) else (bundle, {})
        data = dict(data or {})
        data["text/plain"] = to_text(self.artifact)
        data["text/html"] = to_html(self.artifact)
        return data, meta
