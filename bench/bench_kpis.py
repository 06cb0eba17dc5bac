"""Benchmark: get_company_kpis end to end vs one hand-written DuckDB query over the same data.

    python bench/bench_kpis.py

Uses (or builds) a scale-1 demo warehouse under $BENCH_DATA_DIR (default: a temp dir), then times
the tool's run() (MTD, company) and a hand-written query computing the same 13 current and previous
values, interleaved so both see the same machine state. Prints one line per measurement.
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

from penny_jupyter.data.generator import fact_rows, generate  # noqa: E402
from penny_jupyter.data.periods import resolve_period  # noqa: E402
from penny_jupyter.data.warehouse import Warehouses  # noqa: E402
from penny_jupyter.settings import PennyConfig  # noqa: E402
from penny_jupyter.tenancy import Principal  # noqa: E402
from penny_jupyter.tools.kpis import GET_COMPANY_KPIS, KpiParams  # noqa: E402
from penny_jupyter.tools.base import ToolContext  # noqa: E402

AS_OF = dt.date(2026, 11, 18)
RUNS = 40
WARMUP = 5

# The same aggregation as the catalog's KPI query, written by hand: current ($s..$e) and previous
# ($ps..$pe) values of all 13 KPIs in one statement.
HAND_SQL = """
WITH
rev AS (SELECT sum(amount) FILTER (WHERE issue_date BETWEEN $s AND $e) c,
               sum(amount) FILTER (WHERE issue_date BETWEEN $ps AND $pe) p FROM invoices WHERE issue_date BETWEEN $ps AND $e),
mrr AS (SELECT sum(mrr_delta) FILTER (WHERE day <= $e) c, sum(mrr_delta) FILTER (WHERE day <= $pe) p,
               sum(-mrr_delta) FILTER (WHERE kind = 'churn' AND day BETWEEN $s AND $e) cc,
               sum(-mrr_delta) FILTER (WHERE kind = 'churn' AND day BETWEEN $ps AND $pe) cp FROM mrr_events),
cus AS (SELECT count(*) FILTER (WHERE signup_date BETWEEN $s AND $e) c,
               count(*) FILTER (WHERE signup_date BETWEEN $ps AND $pe) p FROM customers),
pipe AS (SELECT sum(amount) FILTER (WHERE created_date <= $e AND (close_date IS NULL OR close_date > $e)) c,
                sum(amount) FILTER (WHERE created_date <= $pe AND (close_date IS NULL OR close_date > $pe)) p,
                avg(is_won::INT) FILTER (WHERE is_closed AND close_date BETWEEN $s AND $e) wc,
                avg(is_won::INT) FILTER (WHERE is_closed AND close_date BETWEEN $ps AND $pe) wp FROM deals),
cogs AS (SELECT sum(amount) FILTER (WHERE is_cogs AND day BETWEEN $s AND $e) cc,
                sum(amount) FILTER (WHERE is_cogs AND day BETWEEN $ps AND $pe) cp,
                sum(amount) FILTER (WHERE day BETWEEN $s AND $e) ec,
                sum(amount) FILTER (WHERE day BETWEEN $ps AND $pe) ep FROM expenses WHERE day BETWEEN $ps AND $e),
cash AS (SELECT sum(amount) FILTER (WHERE paid_date BETWEEN $s AND $e) c,
                sum(amount) FILTER (WHERE paid_date BETWEEN $ps AND $pe) p FROM payments WHERE paid_date BETWEEN $ps AND $e),
inc AS (SELECT count(*) FILTER (WHERE opened_at::DATE BETWEEN $s AND $e) c,
               count(*) FILTER (WHERE opened_at::DATE BETWEEN $ps AND $pe) p,
               avg(epoch(resolved_at - opened_at) / 3600) FILTER (WHERE resolved_at::DATE BETWEEN $s AND $e) mc,
               avg(epoch(resolved_at - opened_at) / 3600) FILTER (WHERE resolved_at::DATE BETWEEN $ps AND $pe) mp
        FROM incidents),
down AS (SELECT sum(m) FILTER (WHERE d BETWEEN $s AND $e) c, sum(m) FILTER (WHERE d BETWEEN $ps AND $pe) p
         FROM (SELECT opened_at::DATE d, service, least(sum(downtime_minutes), 1440) m FROM incidents GROUP BY ALL)),
nsvc AS (SELECT count(*) n FROM services),
hc AS (SELECT count(*) FILTER (WHERE hire_date <= $e AND (termination_date IS NULL OR termination_date > $e)) c,
              count(*) FILTER (WHERE hire_date <= $pe AND (termination_date IS NULL OR termination_date > $pe)) p FROM employees)
SELECT rev.c, rev.p, mrr.c, mrr.p, mrr.c * 12, mrr.p * 12, cus.c, cus.p, mrr.cc, mrr.cp, pipe.c, pipe.p,
       pipe.wc, pipe.wp, (rev.c - cogs.cc) / rev.c, (rev.p - cogs.cp) / rev.p, cogs.ec - cash.c, cogs.ep - cash.p,
       inc.c, inc.p, inc.mc, inc.mp,
       1 - coalesce(down.c, 0) / (nsvc.n * 1440 * ($e - $s + 1)), 1 - coalesce(down.p, 0) / (nsvc.n * 1440 * ($pe - $ps + 1)),
       hc.c, hc.p
FROM rev, mrr, cus, pipe, cogs, cash, inc, down, nsvc, hc
"""


def main() -> int:
    base = Path(os.environ.get("BENCH_DATA_DIR") or tempfile.mkdtemp(prefix="penny-bench-"))
    cfg = PennyConfig(data_dir=str(base), as_of=AS_OF.isoformat(), demo_scale=1.0)
    wh = Warehouses(cfg)
    path = wh.path("bench")
    if not path.exists():
        t0 = time.perf_counter()
        counts = generate(path, "bench", scale=1.0, end_date=AS_OF)
        secs = time.perf_counter() - t0
        rows = fact_rows(counts)
        print(f"bench demo_generation: {secs:.2f} s for {rows} fact rows (target <= 30 s) "
              f"{'PASS' if secs <= 30 else 'MISS'}")
    ctx = ToolContext(principal=Principal("bench", "bench"), warehouses=wh, config=cfg, today=AS_OF)
    cur = wh.cursor("bench")
    p = resolve_period("MTD", AS_OF)
    params = {"s": p.start, "e": p.end, "ps": p.prev_start, "pe": p.prev_end}

    def tool():
        GET_COMPANY_KPIS.run(ctx, KpiParams(period="MTD", unit="company"))

    def hand():
        cur.execute(HAND_SQL, params).fetchall()

    # sanity: the two agree, so the comparison is like for like
    got = {m["name"]: m["value"] for m in GET_COMPANY_KPIS.run(ctx, KpiParams()).data["metrics"]}
    row = cur.execute(HAND_SQL, params).fetchone()
    for i, name in enumerate(["revenue", "mrr", "arr", "new_customers", "churn", "pipeline", "win_rate",
                              "gross_margin", "burn", "incidents", "mttr", "uptime", "headcount"]):
        a, b = got[name], row[2 * i]
        if not ((a is None and b is None) or abs((a or 0) - (b or 0)) <= 1e-6 * max(1.0, abs(b or 0))):
            print(f"bench get_company_kpis: MISMATCH on {name}: tool {a} vs hand {b}")
            return 1

    t_tool, t_hand = interleaved(tool, hand, RUNS, WARMUP)
    p50, h50 = statistics.median(t_tool), statistics.median(t_hand)
    ratio = p50 / h50
    ok = ratio <= 1.5 and p50 <= 50
    print(f"bench get_company_kpis: {p50:.1f} ms p50, ratio {ratio:.2f} vs hand-written query "
          f"(target ratio <= 1.5, p50 <= 50 ms) {'PASS' if ok else 'MISS'}")
    wh.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
