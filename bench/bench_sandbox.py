"""Sandbox cost: how long a bwrap sandbox takes from spawn to its first line of output, beside a plain
`python -c` of the same interpreter (interleaved, so machine noise hits both alike), and how 4 concurrent
runs of a 1 s CPU job share the cores through run_python's queue.

Run as `python bench/bench_sandbox.py`; it builds its own temp data dir and a small demo warehouse.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from _report import interleaved, p50, report  # noqa: E402

from penny_jupyter.sandbox import runner  # noqa: E402

RUNS = 20
WARMUP = 3
START_TARGET_MS = 150.0
JOBS = 4
CPU_JOB = ("import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0:\n    pass\nprint('done')")


def first_line_ms(cmd: list[str], env: dict[str, str], cwd: str) -> float:
    """Spawn `cmd` and wait for its first line on stdout; then reap it."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         env=env, cwd=cwd, start_new_session=True, close_fds=True)
    line = p.stdout.readline()
    ms = (time.perf_counter() - t0) * 1000
    p.stdout.close()
    p.wait()
    if not line.startswith(b"ready"):
        raise RuntimeError(f"no output from {cmd[0]} (exit {p.returncode})")
    return ms


def sandbox_start(warehouse: Path, limits: runner.Limits) -> float:
    """What run_code does before the code's first output: a fresh work dir with the code, bwrap, inside.py."""
    t0 = time.perf_counter()
    workdir = tempfile.mkdtemp(prefix="penny-bench-")
    try:
        os.chmod(workdir, 0o700)
        os.makedirs(os.path.join(workdir, ".penny", "results"))
        with open(os.path.join(workdir, ".penny", "code.py"), "w") as f:
            f.write("print('ready', flush=True)")
        setup = (time.perf_counter() - t0) * 1000
        cmd = runner.build_command(workdir, warehouse, limits)
        return setup + first_line_ms(cmd, {"PATH": "/usr/bin:/bin"}, "/")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def plain_python() -> float:
    return first_line_ms([sys.executable, "-I", "-B", "-c", "print('ready', flush=True)"],
                         {"PATH": "/usr/bin:/bin"}, "/")


def concurrency(data: Path) -> tuple[float, int]:
    from penny_jupyter.data.warehouse import Warehouses
    from penny_jupyter.settings import PennyConfig
    from penny_jupyter.tenancy import Principal
    from penny_jupyter.tools.python import RUN_PYTHON, PythonParams
    from penny_jupyter.tools.base import ToolContext

    cfg = PennyConfig(data_dir=str(data))
    cfg.sandbox_max_concurrent, cfg.sandbox_timeout, cfg.sandbox_cpu_seconds = JOBS, 30.0, 10
    whs = Warehouses(cfg)
    ctx = ToolContext(principal=Principal("bench", "demo"), warehouses=whs, config=cfg, today=cfg.today())
    ok = []

    def one():
        try:
            r = RUN_PYTHON.run(ctx, PythonParams(code=CPU_JOB))
            ok.append(r.data["stdout"] == "done\n")
        except Exception as e:  # a failed run is a MISS, not a crash of the bench
            print(f"run failed: {e}", file=sys.stderr)
            ok.append(False)

    threads = [threading.Thread(target=one) for _ in range(JOBS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    whs.close()
    return wall, sum(ok)


def main() -> int:
    from penny_jupyter.data.generator import generate

    ok, why = runner.probe()
    if not ok:
        print(f"bench sandbox_start: skipped ({why}) MISS")
        return 1
    data = Path(tempfile.mkdtemp(prefix="penny-bench-data-"))
    try:
        (data / "warehouses").mkdir()
        warehouse = data / "warehouses" / "demo.duckdb"
        generate(warehouse, "demo", scale=0.05)
        limits = runner.Limits(timeout=30)
        ts, tp = interleaved(lambda: sandbox_start(warehouse, limits), plain_python, RUNS, WARMUP)
        s, p = p50(ts), p50(tp)
        report("sandbox_start", f"{s:.1f} ms p50 to first output, ratio {s / p:.2f} vs plain python -c "
               f"({p:.1f} ms) (target <= {START_TARGET_MS:g} ms)", s <= START_TARGET_MS)

        cores = os.cpu_count() or 1
        ideal = JOBS * 1.0 / min(JOBS, cores)
        wall, good = concurrency(data)
        report("sandbox_concurrency", f"{JOBS} runs of a 1 s CPU job in {wall:.2f} s wall "
               f"(ideal {ideal:.1f} s on {cores} cores)", good == JOBS and wall <= 3 * ideal)
    finally:
        shutil.rmtree(data, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
