"""run_sql in its own process: what the process hop (the pipe, the reply read back, the per-person slot)
costs beside the same tool with the same query run in this process on the same locked warehouse (the
child's own code, called directly), measured alternately in the same run, for a small aggregate and for
10,000 rows. Also the one-off cost of starting a query process.

Targets (ours, for issue 11, which set none): p50 overhead <= 5 ms on the aggregate, ratio <= 1.5 on the
10,000 rows."""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from _report import interleaved, p50, report  # noqa: E402

from penny_jupyter.data.generator import generate  # noqa: E402
from penny_jupyter.data.sqlprocess import QueryResult, SqlProcess, _cell, _run_one  # noqa: E402
from penny_jupyter.data.warehouse import Warehouses  # noqa: E402
from penny_jupyter.settings import PennyConfig  # noqa: E402
from penny_jupyter.tenancy import Principal  # noqa: E402
from penny_jupyter.tools.base import ToolContext  # noqa: E402
from penny_jupyter.tools.sql import RUN_SQL, SqlParams  # noqa: E402

AGGREGATE = "select region, sum(amount) as revenue, count(*) as n from invoices group by region order by region"
ROWS = "select * from invoices limit 10000"


class InProcess:
    """The query process's work (run, encode, read back) done here: `Warehouses.untrusted` minus the hop."""

    catalog = "demo"

    def __init__(self, warehouses: Warehouses) -> None:
        self.warehouses = warehouses

    @contextmanager
    def untrusted(self, who, on_start=None):
        yield self

    def query(self, sql: str, limit: int, timeout: float) -> QueryResult:
        _, _, (columns, rows, truncated) = _run_one(self.warehouses.connection("demo"), sql, limit)
        raw = orjson.dumps(rows, default=_cell, option=orjson.OPT_NON_STR_KEYS)
        return QueryResult(columns=[tuple(c) for c in columns], rows=orjson.loads(raw), truncated=truncated)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        generate(data / "warehouses" / "demo.duckdb", "demo", scale=1.0, end_date=dt.date(2026, 11, 18))
        config = PennyConfig(data_dir=str(data), as_of="2026-11-18")
        warehouses = Warehouses(config)
        who = Principal("alice", "demo", frozenset({"member"}))
        here = InProcess(warehouses)
        try:
            for name, query, target in (("aggregate", AGGREGATE, None), ("rows_10k", ROWS, 1.5)):
                params = SqlParams(query=query)

                def tool():
                    RUN_SQL.run(ToolContext(principal=who, warehouses=warehouses, config=config,
                                            today=config.today()), params)

                def bare():
                    RUN_SQL.run(ToolContext(principal=who, warehouses=here, config=config, today=config.today()),
                                params)

                ours, base = interleaved(tool, bare, runs=60 if name == "aggregate" else 20, warmup=3)
                over, ratio = p50(ours) - p50(base), p50(ours) / p50(base)
                if target is None:
                    report(f"run_sql_{name}", f"{p50(ours):.2f} ms p50, +{over:.2f} ms over the same work in-process "
                           f"{p50(base):.2f} ms, ratio {ratio:.2f} (target overhead <= 5 ms)", over <= 5)
                else:
                    report(f"run_sql_{name}", f"{p50(ours):.1f} ms p50, ratio {ratio:.2f} vs the same work in-process "
                           f"{p50(base):.1f} ms (target ratio <= {target:g})", ratio <= target)
            starts = []
            for _ in range(5):
                t = time.perf_counter()
                SqlProcess(warehouses.ensure("demo"), threads=2, memory_limit="1GB").close()
                starts.append((time.perf_counter() - t) * 1000)
            report("sql_process_start", f"{p50(starts):.0f} ms p50 to start a query process (once per tenant, "
                   "and after a kill; target <= 1000 ms)", p50(starts) <= 1000)
        finally:
            warehouses.close()


if __name__ == "__main__":
    main()
