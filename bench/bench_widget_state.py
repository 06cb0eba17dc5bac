"""Saved widget state: the company-health ArtifactWidget vs a plotly FigureWidget holding just one of
its charts, both measured here as the JSON a notebook would save for them."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import report  # noqa: E402


def state_bytes(widget) -> int:
    state = widget.get_state()
    buffers = [v for v in state.values() if isinstance(v, (bytes, memoryview))]
    plain = {k: v for k, v in state.items() if not isinstance(v, (bytes, memoryview))}
    return len(json.dumps(plain, default=str).encode()) + sum(len(b) for b in buffers)


def main() -> None:
    import plotly.graph_objects as go

    from penny_jupyter.kernel.session import LocalSession
    from penny_jupyter.kernel.widget import ArtifactWidget
    from penny_jupyter.settings import PennyConfig

    tmp = Path(tempfile.mkdtemp(prefix="penny-bench-"))
    try:
        session = LocalSession(PennyConfig(data_dir=str(tmp), demo_scale=0.2))
        art = session.run_tool("load_dashboard", {"slug": "company-health"}).artifacts[0]
        widgets = art["spec"]["widgets"]
        chart = next(w for w in widgets if w["type"] == "chart")
        penny = state_bytes(ArtifactWidget(art))
        plotly = state_bytes(go.FigureWidget(chart["figure"]))
        session.engine.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = plotly / penny
    report("widget_state", f"{penny / 1024:.1f} KB for company-health ({len(widgets)} widgets) vs "
           f"{plotly / 1024:.0f} KB for a FigureWidget of one of its charts: {ratio:.0f}x smaller "
           f"(target >= 20x, < 100 KB)", ratio >= 20 and penny < 100 * 1024)


if __name__ == "__main__":
    main()
