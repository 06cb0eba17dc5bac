"""Benchmark: the metrics catalog at scale 10 (~10M fact rows) against hand-written DuckDB queries.

    python bench/bench_query_metric.py

Builds (once, cached under $BENCH_DATA_DIR, default a temp dir) a scale-10 demo warehouse, then times,
interleaved with the hand-written query so both see the same machine state (warm-up first):

- get_company_kpis (MTD, company) vs bench_kpis.HAND_SQL (the same 13 current and previous values)
- query_metric (monthly revenue by region, YTD, vs the same days last year) vs one hand-written query
  returning the same per-region totals, comparison totals and monthly values

Prints exactly two lines (progress and generation time go to stderr).
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import interleaved  # noqa: E402
from bench_kpis import HAND_SQL as KPI_HAND_SQL  # noqa: E402

from penny_jupyter.data.generator import fact_rows, generate  # noqa: E402
from penny_jupyter.data.periods import parse_period, resolve_period  # noqa: E402
from penny_jupyter.data.warehouse import Warehouses  # noqa: E402
from penny_jupyter.settings import PennyConfig  # noqa: E402
from penny_jupyter.tenancy import Principal  # noqa: E402
from penny_jupyter.tools.kpis import GET_COMPANY_KPIS, KpiParams  # noqa: E402
from penny_jupyter.tools.metrics import QUERY_METRIC, QueryMetricParams  # noqa: E402
from penny_jupyter.tools.base import ToolContext  # noqa: E402

AS_OF = dt.date(2026, 11, 18)
SCALE = 10.0
TENANT = "bench10"
RUNS = 25
WARMUP = 5

# Monthly revenue per region over [s, e], with each region's total for [s, e] and for [ps, pe].
QM_HAND_SQL = """
WITH b AS (SELECT region, issue_date AS day, amount FROM invoices WHERE issue_date BETWEEN $ps AND $e)
SELECT region, NULL::DATE AS month, sum(amount) FILTER (WHERE day >= $s) AS cur,
       sum(amount) FILTER (WHERE day <= $pe) AS prev FROM b GROUP BY region
UNION ALL
SELECT region, CAST(date_trunc('month', day) AS DATE), sum(amount), NULL FROM b WHERE day >= $s GROUP BY ALL
"""


def _p50_pair(tool, hand) -> tuple[float, float]:
    t_tool, t_hand = interleaved(tool, hand, RUNS, WARMUP)
    return statistics.median(t_tool), statistics.median(t_hand)


def _line(name: str, p50: float, h50: float, target_ms: float) -> str:
    ratio = p50 / h50
    ok = p50 <= target_ms and ratio <= 1.5
    return (f"bench {name}: {p50:.1f} ms p50, ratio {ratio:.2f} vs hand-written query "
            f"(target p50 <= {target_ms:g} ms, ratio <= 1.5) {'PASS' if ok else 'MISS'}")


def main() -> int:
    base = Path(os.environ.get("BENCH_DATA_DIR") or Path(tempfile.gettempdir()) / "penny-bench-scale10")
    cfg = PennyConfig(data_dir=str(base), as_of=AS_OF.isoformat(), demo_scale=SCALE)
    wh = Warehouses(cfg)
    path = wh.path(TENANT)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        counts = generate(path, TENANT, scale=SCALE, end_date=AS_OF)
        print(f"generated {fact_rows(counts)} fact rows in {time.perf_counter() - t0:.1f} s at {path}",
              file=sys.stderr)
    ctx = ToolContext(principal=Principal("bench", TENANT), warehouses=wh, config=cfg, today=AS_OF)
    cur = wh.cursor(TENANT)

    # 1. get_company_kpis (MTD) vs bench_kpis.HAND_SQL
    p = resolve_period("MTD", AS_OF)
    kp = {"s": p.start, "e": p.end, "ps": p.prev_start, "pe": p.prev_end}
    kpi = _p50_pair(lambda: GET_COMPANY_KPIS.run(ctx, KpiParams(period="MTD", unit="company")),
                    lambda: cur.execute(KPI_HAND_SQL, kp).fetchall())

    # 2. query_metric monthly revenue by region YTD vs the hand-written query; check they agree first
    q = parse_period("YTD", AS_OF)
    qp = {"s": q.start, "e": q.end, "ps": q.prev_start, "pe": q.prev_end}
    params = QueryMetricParams(metric="revenue", period="YTD", grain="month", by="region")
    got = {r["region"]: (r["value"], r["previous"]) for r in QUERY_METRIC.run(ctx, params).data["rows"]}
    hand = {r[0]: (r[2], r[3]) for r in cur.execute(QM_HAND_SQL, qp).fetchall() if r[1] is None}
    for region, (v, pv) in hand.items():
        gv, gp = got[region]
        if abs(gv - v) > 1e-6 * abs(v) or abs(gp - pv) > 1e-6 * abs(pv):
            print(f"bench query_metric_scale10: MISMATCH for {region}: tool {got[region]} vs hand {(v, pv)}")
            return 1
    qm = _p50_pair(lambda: QUERY_METRIC.run(ctx, params), lambda: cur.execute(QM_HAND_SQL, qp).fetchall())

    print(_line("get_company_kpis_scale10", *kpi, 150), flush=True)
    print(_line("query_metric_scale10", *qm, 200), flush=True)
    wh.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
