"""run_python and the sandbox: happy paths, user errors, limits, cancel, progress, queue, fail-closed."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from data_fixtures import config, ctx, data_dir, warehouses  # noqa: E402,F401

from penny_jupyter.artifacts.spec import validate_dashboard  # noqa: E402
from penny_jupyter.errors import PennyError  # noqa: E402
from penny_jupyter.sandbox import queue as sq  # noqa: E402
from penny_jupyter.sandbox import runner  # noqa: E402
from penny_jupyter.tools.python import RUN_PYTHON, PythonParams  # noqa: E402
from penny_jupyter.tools.registry import default_registry  # noqa: E402

pytestmark = pytest.mark.skipif(not runner.probe()[0], reason="bubblewrap cannot isolate on this machine")


@pytest.fixture
def sctx(ctx):
    c = ctx.config
    c.sandbox_timeout, c.sandbox_memory_mb, c.sandbox_cpu_seconds = 3.0, 1024, 3
    c.sandbox_output_bytes = 64 * 1024
    c.sandbox_max_concurrent = 2
    return ctx


def run(ctx, code):
    return RUN_PYTHON.run(ctx, PythonParams(code=code))


def test_registered():
    assert "run_python" in default_registry().names()


def test_stdout_and_last_value(sctx):
    r = run(sctx, "print('hello')\nx = 20\nx * 2 + 2")
    assert r.data["stdout"] == "hello\n"
    assert r.data["value"] == "42"
    assert r.data["isolation"] == "bwrap" and r.data["exit"] == 0
    assert "42" in r.text and "hello" in r.text


def test_libraries_import(sctx):
    r = run(sctx, "import pandas, numpy, duckdb, plotly\nprint(pandas.__version__ > '', numpy.__version__ > '')")
    assert r.data["stdout"] == "True True\n"


def test_sql_over_the_tenant_warehouse(sctx):
    r = run(sctx, "df = penny.sql('SELECT count(*) AS n FROM invoices')\nint(df.n[0])")
    assert int(r.data["value"]) > 0


def test_show_chart_metric_artifacts(sctx):
    code = """
import pandas as pd, plotly.graph_objects as go, numpy as np
df = pd.DataFrame({"month": ["2026-01", "2026-02"], "revenue": np.array([10.5, 12.0])})
penny.show(df, title="Revenue")
penny.chart(go.Figure(go.Bar(x=df.month, y=df.revenue.values)), title="Revenue bars")
penny.metric("Revenue", 12.0, previous=10.5, unit="currency")
"""
    r = run(sctx, code)
    kinds = [a.type for a in r.artifacts]
    assert kinds == ["table", "chart", "dashboard"]
    table, chart, dash = r.artifacts
    assert table.spec["columns"][1] == {"key": "revenue", "label": "revenue", "format": "number"}
    assert table.spec["rows"][1] == {"month": "2026-02", "revenue": 12.0}
    assert chart.spec["kind"] == "bar" and chart.spec["figure"]["data"][0]["y"] == [10.5, 12.0]
    assert chart.spec["figure"]["layout"]["template"] == "none"
    assert "bdata" not in str(chart.spec)
    validate_dashboard({"layout": "grid", "widgets": [{"type": "chart", **chart.spec}]})
    validate_dashboard(dash.spec)
    assert dash.spec["widgets"][0]["change"] == 1.5
    assert table.source == {"tool": "run_python", "params": {"code": code}}


def test_revenue_moving_average_chart(sctx):
    code = """
import plotly.express as px
df = penny.sql("SELECT date_trunc('month', issue_date) AS month, sum(amount) AS revenue "
               "FROM invoices GROUP BY 1 ORDER BY 1")
df["ma3"] = df.revenue.rolling(3).mean()
fig = px.line(df, x="month", y=["revenue", "ma3"], title="Revenue by month with a 3-month moving average")
penny.chart(fig)
len(df)
"""
    r = run(sctx, code)
    assert int(r.data["value"]) >= 3
    [chart] = r.artifacts
    assert chart.type == "chart" and "moving average" in chart.title
    traces = chart.spec["figure"]["data"]
    assert len(traces) == 2 and isinstance(traces[1]["y"], list)
    assert traces[1]["y"][0] is None and traces[1]["y"][2] is not None  # NaN became null


def test_last_value_dataframe_is_shown(sctx):
    r = run(sctx, "import pandas as pd\npd.DataFrame({'a': [1, 2, 3]})")
    assert [a.type for a in r.artifacts] == ["table"]
    assert len(r.artifacts[0].spec["rows"]) == 3


def test_user_exception_is_a_result_with_their_traceback(sctx):
    r = run(sctx, "def f(x):\n    return x / 0\n\nf(1)")
    assert r.data["raised"] == "ZeroDivisionError"
    tb = r.data["stderr"]
    assert 'File "<cell>", line 4' in tb and 'File "<cell>", line 2, in f' in tb
    assert "inside.py" not in tb and "/opt/penny" not in tb
    # a failed call, at the person's own line (the deepest frame), said once
    assert r.failure is not None and r.failure.code == "code_raised"
    assert r.failure.message == "Line 2 raised ZeroDivisionError: division by zero. Fix the code and run it again."
    assert "ZeroDivisionError" not in r.text


def test_syntax_error(sctx):
    r = run(sctx, "def (:")
    assert r.data["raised"] == "SyntaxError" and "inside.py" not in r.data["stderr"]
    assert r.failure.message.startswith("Line 1 raised SyntaxError")


def test_timeout(sctx):
    with pytest.raises(PennyError) as e:
        run(sctx, "import time\nwhile True: time.sleep(0.05)")
    assert e.value.code == "timeout" and "3 s" in e.value.message


def test_cancel_mid_run(sctx):
    stop = threading.Event()
    seen = []

    def progress(ev):
        seen.append(ev)
        if "elapsedMs" in ev and "queuePosition" not in ev:
            stop.set()

    sctx.progress = progress
    sctx.cancelled = stop.is_set
    sctx.config.sandbox_timeout = 20.0
    with pytest.raises(PennyError) as e:
        run(sctx, "import time\nprint('started', flush=True)\ntime.sleep(15)")
    assert e.value.code == "cancelled"


def test_progress_events_on_a_long_run(sctx):
    events = []
    sctx.progress = events.append
    r = run(sctx, "import time\nfor i in range(5):\n    print('tick', i, flush=True)\n    time.sleep(0.5)")
    assert r.data["stdout"].count("tick") == 5
    ticks = [e for e in events if "output" in e and "queuePosition" not in e]
    assert len(ticks) >= 2  # reported every 0.5 s: a 2.5 s run reports at least twice
    assert all(isinstance(e["elapsedMs"], int) for e in ticks)
    assert any("tick" in e["output"] for e in ticks)


def test_queue_tells_the_waiting_run_its_position(sctx, monkeypatch):
    q = sq.RunQueue(1)
    monkeypatch.setattr("penny_jupyter.tools.python.get_queue", lambda n: q)
    first_started = threading.Event()
    events = []

    def first():
        import dataclasses

        c1 = dataclasses.replace(sctx, progress=lambda ev: first_started.set())
        run(c1, "import time\nprint('x', flush=True)\ntime.sleep(1.2)")

    t = threading.Thread(target=first)
    t.start()
    assert first_started.wait(10)
    sctx.progress = events.append
    r = run(sctx, "'second'")
    t.join()
    assert r.data["value"] == "'second'"
    assert events[0]["queuePosition"] == 1


def test_fail_closed_when_bwrap_is_missing(sctx, monkeypatch):
    monkeypatch.setattr(runner, "BWRAP", "/nonexistent/bwrap")
    with pytest.raises(PennyError) as e:
        run(sctx, "1")
    assert e.value.code == "sandbox_unavailable"
    assert "bubblewrap" in e.value.message and "sandbox_mode" in e.value.message


def test_unsafe_mode_marks_every_result(sctx, monkeypatch):
    monkeypatch.setattr(runner, "BWRAP", "/nonexistent/bwrap")
    sctx.config.sandbox_mode = "unsafe-no-isolation"
    r = run(sctx, "print('hi')\nint(penny.sql('SELECT 1 AS x').x[0])")
    assert r.data["isolation"] == "none" and r.data["value"] == "1"
    assert "WITHOUT isolation" in r.text


def test_unknown_mode_refused(sctx):
    sctx.config.sandbox_mode = "off"
    with pytest.raises(PennyError) as e:
        run(sctx, "1")
    assert e.value.code == "sandbox_unavailable"


def test_tool_progress_events_through_the_chat_service(tmp_path, config, warehouses):
    from penny_jupyter.artifacts.store import ArtifactStore
    from penny_jupyter.chat.conversations import ConversationService
    from penny_jupyter.chat.turn import ChatService
    from penny_jupyter.storage import Database
    from penny_jupyter.tenancy import Principal
    from penny_jupyter.tools.executor import ToolExecutor

    config.sandbox_timeout = 5.0
    db = Database(f"sqlite:///{tmp_path / 'app.sqlite'}")
    ex = ToolExecutor(default_registry(), warehouses, ArtifactStore(db), config)
    chat = ChatService(ConversationService(db), ex)
    events = []

    async def emit(e):
        events.append(e)

    code = "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.5)"
    outcome = asyncio.run(chat.execute_tool(Principal("alice", "demo"), "run_python", {"code": code}, emit))
    assert outcome.ok
    types = [e["type"] for e in events]
    assert types[0] == "tool.started" and types[-1] == "tool.finished"
    prog = [e for e in events if e["type"] == "tool.progress"]
    assert prog and all(set(e) >= {"callId", "tool", "elapsedMs", "output"} for e in prog)
    assert types.index("tool.progress") < types.index("tool.finished")
    from penny_jupyter.protocol import ToolProgressEvent

    ToolProgressEvent.model_validate(prog[0])


def test_a_table_shown_without_a_title_is_named_by_its_columns_once(sctx):
    from penny_jupyter.artifacts.html import to_html

    r = run(sctx, "import pandas as pd\npenny.show(pd.DataFrame({'month': ['2026-01'], 'net_new_mrr': [1.0], "
                  "'rolling_3m': [2.0]}))")
    table = r.artifacts[0]
    assert table.title == table.spec["title"] == "net_new_mrr, rolling_3m by month"
    html = to_html({"type": "table", "title": table.title, "spec": table.spec})
    assert html.count(table.title) == 1, "the title is said once, not 'Table / Table'"


def test_percentage_columns_show_as_percentages(sctx):
    """A share of 0.42 reads "42.0%", a "Change %" of 4.2 reads "▲ 4.2%": not 0.421958 and 4.2 with no sign."""
    r = run(sctx, "import pandas as pd\n"
                  "df = pd.DataFrame({'region': ['NA', 'EMEA'], 'revenue': [205137.0, 281034.5],\n"
                  "                   'share': [0.421958, 0.578042], 'Change %': [4.2, -3.1], 'pct_change': [0.04, -0.1]})\n"
                  "penny.show(df)")
    (table,) = r.artifacts
    formats = {c["label"]: c["format"] for c in table.spec["columns"]}
    assert formats == {"region": "text", "revenue": "number", "share": "percent_1", "Change %": "change_1",
                       "pct_change": "percent_1"}
    from penny_jupyter.artifacts.spec import format_number

    assert format_number(0.421958, "percent_1") == "42.2%" and format_number(4.2, "change_1") == "▲ 4.2%"
