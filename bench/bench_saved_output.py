"""Saved notebook size per Penny output: the company-health dashboard (12+ widgets) as the output a notebook
saves (its mime bundle: the live artifact, the text/html copy and text/plain, as nbformat writes them), vs a
plotly FigureWidget holding just one of its charts, measured here as the widget state a notebook would save."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import report  # noqa: E402


def widget_state_bytes(widget) -> int:
    state = widget.get_state()
    buffers = [v for v in state.values() if isinstance(v, (bytes, memoryview))]
    plain = {k: v for k, v in state.items() if not isinstance(v, (bytes, memoryview))}
    return len(json.dumps(plain, default=str).encode()) + sum(len(b) for b in buffers)


def output_bytes(obj) -> int:
    import nbformat

    output = nbformat.v4.new_output("display_data", data=obj._repr_mimebundle_())
    return len(json.dumps(output, indent=1).encode())


def main() -> None:
    import plotly.graph_objects as go

    from penny_jupyter.kernel.results import PennyArtifact
    from penny_jupyter.kernel.session import LocalSession
    from penny_jupyter.settings import PennyConfig

    tmp = Path(tempfile.mkdtemp(prefix="penny-bench-"))
    try:
        session = LocalSession(PennyConfig(data_dir=str(tmp), demo_scale=0.2))
        art = session.run_tool("load_dashboard", {"slug": "company-health"}).artifacts[0]
        widgets = art["spec"]["widgets"]
        chart = next(w for w in widgets if w["type"] == "chart")
        penny = output_bytes(PennyArtifact(art))
        plotly = widget_state_bytes(go.FigureWidget(chart["figure"]))
        session.engine.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = plotly / penny
    report("saved_output", f"{penny / 1024:.1f} KB saved for company-health ({len(widgets)} widgets: live data, "
           f"HTML and text copies) vs {plotly / 1024:.0f} KB for a FigureWidget of one of its charts: {ratio:.0f}x "
           f"smaller (target <= 60 KB)", penny <= 60 * 1024)


if __name__ == "__main__":
    main()
