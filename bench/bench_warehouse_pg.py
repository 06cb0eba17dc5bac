"""Benchmark: a company warehouse on PostgreSQL (pgwarehouse.py), each tool against a hand-written query over
the same database, in the same run.

    python bench/bench_warehouse_pg.py

Starts Debian's PostgreSQL in a temp dir (tests/pg_server.py), loads a scale-1 demo company into it, points a
tenant at it as its `warehouse`, then times, interleaved:
- get_company_kpis (MTD) vs bench_kpis' hand-written 13-KPI query, rendered for PostgreSQL;
- query_metric revenue by region by month (YTD) vs one hand-written PostgreSQL query for the same numbers.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import interleaved  # noqa: E402
from bench_kpis import AS_OF, HAND_SQL  # noqa: E402
from pg_server import postgres  # noqa: E402

from penny_jupyter.data.generator import generate  # noqa: E402
from penny_jupyter.data.periods import resolve_period  # noqa: E402
from penny_jupyter.data.dialects import render  # noqa: E402
from penny_jupyter.data.warehouse import Warehouses  # noqa: E402
from penny_jupyter.settings import PennyConfig  # noqa: E402
from penny_jupyter.tenancy import Principal  # noqa: E402
from penny_jupyter.tools.base import ToolContext  # noqa: E402
from penny_jupyter.tools.kpis import GET_COMPANY_KPIS, KpiParams  # noqa: E402
from penny_jupyter.tools.metrics import QUERY_METRIC, QueryMetricParams  # noqa: E402

RUNS = 30
WARMUP = 5

# What query_metric shows for revenue by region by month this year, by hand: each region's total this year and
# over the same days last year (the comparison), the grand totals, and the monthly buckets this year
HAND_MONTHS = """
WITH base AS (SELECT region, issue_date, amount FROM invoices WHERE issue_date BETWEEN %(ps)s AND %(e)s)
SELECT region, NULL::date, sum(amount) FILTER (WHERE issue_date >= %(s)s),
       sum(amount) FILTER (WHERE issue_date <= %(pe)s) FROM base GROUP BY GROUPING SETS ((region), ())
UNION ALL
SELECT region, date_trunc('month', issue_date)::date, sum(amount), NULL FROM base WHERE issue_date >= %(s)s
GROUP BY 1, 2
"""


def main() -> int:
    base = Path(tempfile.mkdtemp(prefix="penny-bench-pg-"))
    demo = base / "demo.duckdb"
    generate(demo, "demo", scale=1.0, end_date=AS_OF)
    with postgres() as pg:
        url = pg.create_database()
        t0 = time.perf_counter()
        pg.load_duckdb(demo, url, reader="penny_ro")
        print(f"bench warehouse_pg_load: {time.perf_counter() - t0:.1f} s to copy the scale-1 demo into PostgreSQL "
              "(setup, no target)")
        cfg = PennyConfig(data_dir=str(base), as_of=AS_OF.isoformat())
        cfg.tenant_sources = {"acme": {"warehouse": url.replace("//penny@", "//penny_ro@")}}
        wh = Warehouses(cfg)
        ctx = ToolContext(principal=Principal("bench", "acme"), warehouses=wh, config=cfg, today=AS_OF)
        cur = wh.cursor("acme")

        p = resolve_period("MTD", AS_OF)
        hand_kpis = render(HAND_SQL, "postgres")
        kp = {"s": p.start, "e": p.end, "ps": p.prev_start, "pe": p.prev_end}
        got = {m["name"]: m["value"] for m in GET_COMPANY_KPIS.run(ctx, KpiParams()).data["metrics"]}
        row = cur.execute(hand_kpis, kp, native=True).fetchall()[0]
        if abs(got["revenue"] - row[0]) > 1e-6 * abs(row[0]):
            print(f"bench warehouse_pg_kpis: MISMATCH revenue tool {got['revenue']} vs hand {row[0]}")
            return 1
        t_tool, t_hand = interleaved(lambda: GET_COMPANY_KPIS.run(ctx, KpiParams(period="MTD")),
                                     lambda: cur.execute(hand_kpis, kp, native=True).fetchall(), RUNS, WARMUP)
        p50, h50 = statistics.median(t_tool), statistics.median(t_hand)
        print(f"bench warehouse_pg_kpis: {p50:.1f} ms p50, ratio {p50 / h50:.2f} vs hand-written query "
              f"({h50:.1f} ms) on PostgreSQL (target ratio <= 1.5) {'PASS' if p50 / h50 <= 1.5 else 'MISS'}")

        params = QueryMetricParams(metric="revenue", by="region", grain="month", period="YTD")
        mp = {"s": dt.date(AS_OF.year, 1, 1), "e": AS_OF,
              "ps": dt.date(AS_OF.year - 1, 1, 1), "pe": AS_OF.replace(year=AS_OF.year - 1)}
        total = QUERY_METRIC.run(ctx, params).data["total"]
        hand_total = [r for r in cur.execute(HAND_MONTHS, mp, native=True).fetchall()
                      if r[0] is None and r[1] is None][0][2]
        if abs(total - hand_total) > 1e-6 * abs(hand_total):
            print(f"bench warehouse_pg_query_metric: MISMATCH total tool {total} vs hand {hand_total}")
            return 1
        t_tool, t_hand = interleaved(lambda: QUERY_METRIC.run(ctx, params),
                                     lambda: cur.execute(HAND_MONTHS, mp, native=True).fetchall(), RUNS, WARMUP)
        p50, h50 = statistics.median(t_tool), statistics.median(t_hand)
        print(f"bench warehouse_pg_query_metric: month x region {p50:.1f} ms p50, ratio {p50 / h50:.2f} vs "
              f"hand-written query ({h50:.1f} ms) on PostgreSQL (target ratio <= 1.5) "
              f"{'PASS' if p50 / h50 <= 1.5 else 'MISS'}")
        wh.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
