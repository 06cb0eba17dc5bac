"""Run untrusted Python in a bubblewrap sandbox and bring back its output and results.

What the code inside sees (`build_command`):

- `/usr` read-only, `/bin` `/lib` `/lib64` `/sbin` as the same symlinks (or read-only binds) as on the
  host: the C library and the system files Python and numpy need. No `/etc` at all (no passwd,
  shadow, hosts, resolv.conf): nothing in it is needed to compute, and what is not there cannot leak.
- the base interpreter's prefix (`sys.base_prefix`, e.g. /root/.pyenv/versions/3.11.7) read-only at its
  own path (the venv's `bin/python` is a symlink to it), and the venv (`sys.prefix`, for pandas,
  numpy, duckdb, plotly) read-only at /opt/penny/venv. Nothing else of /root or of the repo.
- `inside.py` and `penny_helper.py`, each read-only under /opt/penny (files, not the package
  directory: its `queue.py` would shadow the standard library's).
- the run's own fresh work dir read-write at /work (its cwd and HOME), a private size-capped tmpfs
  at /tmp, a fresh /proc of its own PID namespace, a minimal /dev.
- the caller's tenant warehouse file read-only at /data/warehouse.duckdb; no other tenant's file,
  no data dir, no app database. For a tenant whose warehouse is a database (no file), instead: a Unix
  socket at /work/.penny/sql.sock (PENNY_SQL_SOCKET) on which the server answers penny.sql for this run
  only, as the caller (sqlchannel.py). Never the database's URL or credentials, and still no network.
- then `/` is remounted read-only: the only writable places are /work and /tmp.

Namespaces: `--unshare-all` (user, pid, net with only `lo`, ipc, uts, cgroup), uid/gid 65534, every
capability dropped, `--new-session` (no TIOCSTI into the server's terminal), `--die-with-parent`,
`--clearenv` with a minimal environment (no tokens, no credentials).

Limits: inside.py sets rlimits (CPU, address space, open files, processes, file size, no core) and a
seccomp filter (no sockets but AF_UNIX, no new processes, no ptrace/mount/unshare/...). Outside, this
module enforces the wall-clock timeout, the output cap and cancellation by killing bwrap's process
group; bwrap's PID 1 going away takes every process of the namespace with it.

Note on RLIMIT_NPROC: the server runs as root here and bwrap maps the sandbox's uid 65534 to the
caller's uid, so RLIMIT_NPROC counts nothing (the kernel exempts uid 0). The seccomp filter's ban on
fork/clone-without-CLONE_THREAD is what stops fork bombs; without pyseccomp, the wall-clock timeout
and the PID namespace teardown are the only bound.

Why it is over 400 lines: the mounts, the limits and the reading back of results are one wall; each
part depends on how the others were built, and keeping them on one page is what lets a review see it whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .sqlchannel import SqlChannel

BWRAP = shutil.which("bwrap") or "/usr/bin/bwrap"
HERE = Path(__file__).resolve().parent
INSIDE_DIR = "/opt/penny"
VENV_INSIDE = "/opt/penny/venv"
WAREHOUSE_INSIDE = "/data/warehouse.duckdb"
SQL_SOCKET = "sql.sock"  # in the run's .penny dir: penny.sql's way to a company database (sqlchannel.py)
SANDBOX_UID = 65534
TAIL_CHARS = 2000
MAX_RESULT_BYTES = 32 * 1024 * 1024  # all of penny.show/chart/metric's files together
MAX_RESULTS = 50
PROGRESS_EVERY = 0.5  # seconds between progress reports while a run is going


@dataclass
class Limits:
    timeout: float = 30.0
    memory_mb: int = 1024
    output_bytes: int = 1 << 20
    cpu_seconds: int = 30
    nofile: int = 256
    nproc: int = 64
    fsize_mb: int = 64
    tmp_mb: int = 64

    @classmethod
    def from_config(cls, config: Any) -> "Limits":
        return cls(timeout=float(config.sandbox_timeout), memory_mb=int(config.sandbox_memory_mb),
                   output_bytes=int(config.sandbox_output_bytes), cpu_seconds=int(config.sandbox_cpu_seconds))


@dataclass
class RunResult:
    stdout: str = ""
    stderr: str = ""
    exit: int | None = None
    signal: int | None = None
    value: str | None = None
    error: str | None = None
    error_type: str | None = None
    truncated: bool = False
    timed_out: bool = False
    cancelled: bool = False
    finished: bool = False  # inside.py wrote its outcome: the code ran to its end (or its exception)
    isolation: str = "bwrap"
    seccomp: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)
    results_dropped: int = 0
    elapsed_ms: float = 0.0


# ---------------------------------------------------------------------------- probing
_probe_lock = threading.Lock()
_probe_cache: dict[str, tuple[bool, str]] = {}  # per bwrap path (one); for the process's life: restart after installing


def probe(bwrap: str | None = None) -> tuple[bool, str]:
    """Can bwrap create the namespaces we need here? Asked once per bwrap path, then cached."""
    bwrap = bwrap or BWRAP
    with _probe_lock:
        if bwrap in _probe_cache:
            return _probe_cache[bwrap]
        if not (os.path.isfile(bwrap) and os.access(bwrap, os.X_OK)):
            res = (False, f"bubblewrap is not installed at {bwrap}")
        else:
            cmd = [bwrap, *_namespace_args(), *_system_binds(), "--proc", "/proc", "--dev", "/dev",
                   "/usr/bin/true"]
            try:
                p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=15,
                                   env={"PATH": "/usr/bin:/bin"})
                err = p.stderr.decode(errors="replace").strip().splitlines()
                res = (True, "") if p.returncode == 0 else (
                    False, f"bubblewrap cannot create namespaces here ({err[-1] if err else 'exit %d' % p.returncode})")
            except (OSError, subprocess.TimeoutExpired) as e:
                res = (False, f"bubblewrap could not be started ({type(e).__name__})")
        _probe_cache[bwrap] = res
        return res


def _namespace_args() -> list[str]:
    return ["--unshare-all", "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            "--cap-drop", "ALL", "--die-with-parent", "--new-session", "--hostname", "sandbox"]


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for d in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    return args


def _python_binds() -> tuple[list[str], str]:
    """Binds for the interpreter and its packages, and the python to run inside."""
    args: list[str] = []
    base = os.path.realpath(sys.base_prefix)
    if not base.startswith("/usr/"):
        args += ["--ro-bind", base, base]
        if os.path.realpath(sys.base_prefix) != sys.base_prefix:
            args += ["--ro-bind", sys.base_prefix, sys.base_prefix]
    if sys.prefix != sys.base_prefix:  # a venv: its own bin/python finds pyvenv.cfg and site-packages
        args += ["--ro-bind", sys.prefix, VENV_INSIDE]
        python = f"{VENV_INSIDE}/bin/{os.path.basename(sys.executable)}"
    else:
        python = sys.executable
    return args, python


def _env(limits: Limits, work: str, warehouse: str | None, seccomp: bool, sql: bool = False) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": work,
        "USER": "penny",
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLCONFIGDIR": "/tmp",
        "PENNY_WORK": work,
        "PENNY_RESULTS_DIR": f"{work}/.penny/results",
        "PENNY_WAREHOUSE": warehouse or "",
        "PENNY_SQL_SOCKET": f"{work}/.penny/{SQL_SOCKET}" if sql else "",
        "PENNY_DUCKDB_MEMORY_MB": str(max(64, limits.memory_mb // 4)),
        "PENNY_LIMITS": json.dumps({"cpu_seconds": limits.cpu_seconds, "memory_mb": limits.memory_mb,
                                    "nofile": limits.nofile, "nproc": limits.nproc, "fsize_mb": limits.fsize_mb,
                                    "seccomp": seccomp}),
    }


def build_command(workdir: str, warehouse: str | Path | None, limits: Limits, *, bwrap: str | None = None,
                  seccomp: bool = True, sql: bool = False) -> list[str]:
    py_binds, python = _python_binds()
    cmd = [bwrap or BWRAP, *_namespace_args(), *_system_binds(), *py_binds,
           "--ro-bind", str(HERE / "inside.py"), f"{INSIDE_DIR}/inside.py",
           "--ro-bind", str(HERE / "penny_helper.py"), f"{INSIDE_DIR}/penny_helper.py",
           "--proc", "/proc", "--dev", "/dev",
           # bwrap's /dev and its /dev/shm are tmpfs without a cap, and tmpfs pages escape RLIMIT_AS:
           # a capped /dev/shm, then /dev read-only, keep code from filling the host's memory.
           "--size", str(limits.tmp_mb * 1024 * 1024), "--tmpfs", "/dev/shm",
           "--size", str(limits.tmp_mb * 1024 * 1024), "--tmpfs", "/tmp",
           "--bind", workdir, "/work"]
    if warehouse is not None:
        cmd += ["--ro-bind", str(warehouse), WAREHOUSE_INSIDE]
    cmd += ["--remount-ro", "/dev", "--remount-ro", "/", "--clearenv"]
    for k, v in _env(limits, "/work", WAREHOUSE_INSIDE if warehouse is not None else None, seccomp, sql).items():
        cmd += ["--setenv", k, v]
    cmd += ["--chdir", "/work", python, "-I", "-B", f"{INSIDE_DIR}/inside.py"]
    return cmd


# ---------------------------------------------------------------------------- running
def run_code(code: str, *, warehouse: str | Path | None, limits: Limits, isolation: str = "bwrap",
             cancelled: Callable[[], bool] = lambda: False, progress: Callable[[dict], None] | None = None,
             bwrap: str | None = None, seccomp: bool = True, keep_workdir: Callable[[str], None] | None = None,
             sql: "SqlChannel | None" = None) -> RunResult:
    """Run `code` once, in its own fresh work dir (removed afterwards). `isolation` is "bwrap" or
    "none" (rlimits and seccomp only: the admin's explicit choice). `sql`, for a tenant whose warehouse is a
    database: the channel that answers penny.sql, listening in the work dir for this run only."""
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="penny-run-")
    try:
        os.chmod(workdir, 0o700)
        state = os.path.join(workdir, ".penny")
        os.mkdir(state)
        os.mkdir(os.path.join(state, "results"))
        with open(os.path.join(state, "code.py"), "w", encoding="utf-8") as f:
            f.write(code)
        if keep_workdir is not None:
            keep_workdir(workdir)
        if isolation == "bwrap":
            cmd = build_command(workdir, warehouse, limits, bwrap=bwrap, seccomp=seccomp, sql=sql is not None)
            env = {"PATH": "/usr/bin:/bin"}
            cwd = "/"
        else:
            cmd = [sys.executable, "-I", "-B", str(HERE / "inside.py")]
            env = _env(limits, workdir, str(warehouse) if warehouse is not None else None, seccomp, sql is not None)
            cwd = workdir
        # the socket is bound before the code starts, so nothing of the code's can be at its path first
        with sql.serve(os.path.join(state, SQL_SOCKET)) if sql is not None else contextlib.nullcontext():
            res = _supervise(cmd, env, cwd, limits, cancelled, progress, started)
        res.isolation = isolation
        _collect(workdir, res)
        res.elapsed_ms = round((time.monotonic() - started) * 1000, 1)
        return res
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except OSError:
        pass


def _supervise(cmd: list[str], env: dict[str, str], cwd: str, limits: Limits, cancelled: Callable[[], bool],
               progress: Callable[[dict], None] | None, started: float) -> RunResult:
    res = RunResult()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=cwd, start_new_session=True, close_fds=True)
    out, err = bytearray(), bytearray()
    tail: list[str] = []  # recent chunks of both streams, for progress
    sel = selectors.DefaultSelector()
    for stream, buf in ((proc.stdout, out), (proc.stderr, err)):
        os.set_blocking(stream.fileno(), False)
        sel.register(stream, selectors.EVENT_READ, buf)
    deadline = started + limits.timeout
    next_progress = time.monotonic() + PROGRESS_EVERY
    total = 0
    try:
        while sel.get_map():
            now = time.monotonic()
            if cancelled():
                res.cancelled = True
                _kill(proc)
                break
            if now >= deadline:
                res.timed_out = True
                _kill(proc)
                break
            if progress is not None and now >= next_progress:
                next_progress = now + PROGRESS_EVERY
                _report(progress, started, tail)
            for key, _ in sel.select(timeout=min(0.1, max(0.0, deadline - now))):
                try:
                    chunk = os.read(key.fileobj.fileno(), 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                room = limits.output_bytes - total
                if len(chunk) > room:
                    chunk = chunk[:max(0, room)]
                    res.truncated = True
                key.data.extend(chunk)
                total += len(chunk)
                tail.append(chunk.decode("utf-8", errors="replace"))
                if len(tail) > 64:
                    del tail[:-32]
                if res.truncated:
                    _kill(proc)
                    break
            if res.truncated:
                break
        # the streams are closed (or we stopped reading): wait for the exit, still bounded by the deadline
        while True:
            try:
                proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                if cancelled() and not res.cancelled:
                    res.cancelled = True
                    _kill(proc)
                elif time.monotonic() >= deadline and not res.timed_out:
                    res.timed_out = True
                    _kill(proc)
    finally:
        sel.close()
        if proc.poll() is None:
            _kill(proc)
            proc.wait()
        # bwrap's PID 1 is gone with its namespace; a straggler in our group (unsafe mode) goes too
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for s in (proc.stdout, proc.stderr):
            try:
                s.close()
            except OSError:
                pass
    rc = proc.returncode
    res.exit = rc
    if rc is not None and rc < 0:
        res.signal = -rc
    elif rc is not None and rc > 128 and cmd[0] != sys.executable:  # bwrap reports 128 + signal
        res.signal = rc - 128
    res.stdout = out.decode("utf-8", errors="replace")
    res.stderr = err.decode("utf-8", errors="replace")
    return res


def _report(progress: Callable[[dict], None], started: float, tail: list[str]) -> None:
    text = "".join(tail)[-TAIL_CHARS:]
    try:
        progress({"elapsedMs": round((time.monotonic() - started) * 1000), "output": text})
    except Exception:  # a progress listener never stops the run
        pass


# ---------------------------------------------------------------------------- reading results back
def _open_inside(workdir: str, parts: list[str]) -> int | None:
    """An fd for workdir/<parts...>, never following a symlink the code inside may have planted
    (the files are read by the server, as the server's user). None if absent or not a regular file."""
    fd = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | (os.O_NONBLOCK if last else os.O_DIRECTORY)
            try:
                nfd = os.open(part, flags, dir_fd=fd)
            except OSError:
                return None
            os.close(fd)
            fd = nfd
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None  # a FIFO, directory or device planted by the code: closed once, in finally
        out, fd = fd, -1
        return out
    finally:
        if fd >= 0:
            os.close(fd)


def _read_json(workdir: str, parts: list[str], cap: int) -> tuple[Any, int]:
    fd = _open_inside(workdir, parts)
    if fd is None:
        return None, 0
    with os.fdopen(fd, "rb") as f:
        data = f.read(cap + 1)
    if len(data) > cap:
        return None, len(data)
    try:
        return json.loads(data), len(data)
    except (ValueError, RecursionError):
        return None, len(data)


def _collect(workdir: str, res: RunResult) -> None:
    outcome, _ = _read_json(workdir, [".penny", "outcome.json"], 1 << 20)
    if isinstance(outcome, dict):
        res.finished = True
        res.value = outcome.get("value") if isinstance(outcome.get("value"), str) else None
        res.error = outcome.get("error") if isinstance(outcome.get("error"), str) else None
        res.error_type = outcome.get("error_type") if isinstance(outcome.get("error_type"), str) else None
        res.seccomp = str(outcome.get("seccomp") or "")
    fd = None
    try:
        fd = os.open(os.path.join(workdir, ".penny"), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        rfd = os.open("results", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        try:
            names = sorted(n for n in os.listdir(rfd) if n.endswith(".json"))
        finally:
            os.close(rfd)
    except OSError:
        names = []
    finally:
        if fd is not None:
            os.close(fd)
    budget = MAX_RESULT_BYTES
    for name in names:
        if len(res.results) >= MAX_RESULTS or budget <= 0:
            res.results_dropped += 1
            continue
        item, size = _read_json(workdir, [".penny", "results", name], budget)
        budget -= size
        if isinstance(item, dict) and item.get("kind") in ("table", "chart", "metric"):
            res.results.append(item)
        else:
            res.results_dropped += 1
