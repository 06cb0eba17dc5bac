"""Escape probes against the run_python sandbox: each test tries one way out and asserts it stayed in.

Every probe asserts containment twice where it can: the code inside observes the denial (it prints
DENIED on the expected exception, ALLOWED otherwise) or the run is reported as stopped by a limit,
AND nothing reached the host (a listener that got no connection, a secret that did not come back,
a marker process absent from the host's /proc, a host file unchanged).

A probe that gets out is marked `xfail(strict=True, reason="ESCAPE: ...")`, never weakened.
Limits are small (3 s wall clock, 3 s CPU, 64 KB of output) so the whole file stays quick.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from data_fixtures import config, ctx, data_dir, warehouses  # noqa: E402,F401

from penny_jupyter.errors import PennyError  # noqa: E402
from penny_jupyter.sandbox import runner  # noqa: E402
from penny_jupyter.tools.python import RUN_PYTHON, PythonParams  # noqa: E402

pytestmark = pytest.mark.skipif(not runner.probe()[0], reason="bubblewrap cannot isolate on this machine")

OUTPUT_CAP = 64 * 1024


@pytest.fixture
def sctx(ctx):
    c = ctx.config
    c.sandbox_timeout, c.sandbox_memory_mb, c.sandbox_cpu_seconds = 3.0, 1024, 3
    c.sandbox_output_bytes = OUTPUT_CAP
    c.sandbox_max_concurrent = 4
    return ctx


@pytest.fixture
def secret(config):
    """A secret in the server's data dir and in the app SQLite file, shaped as a valid penny result
    (a metric) so that if the server ever read it back as a result, it would show up as an artifact."""
    token = f"LEAKED-{uuid.uuid4().hex}"
    data = config.data_path
    path = data / "secret.json"
    path.write_text(json.dumps({"kind": "metric", "label": token, "value": 1, "value_secret": token,
                                "error": token, "seccomp": token}))
    sqlite = Path(config.resolved_database_url.removeprefix("sqlite:///"))
    sqlite.write_text(f"SQLite format 3 {token}")
    return {"token": token, "file": path, "sqlite": sqlite, "data_dir": data}


def run(ctx, code: str):
    return RUN_PYTHON.run(ctx, PythonParams(code=textwrap.dedent(code)))


def inside(ctx, code: str) -> str:
    """Run code that must finish on its own; its stdout."""
    r = run(ctx, code)
    assert r.data["raised"] is None, r.data["stderr"]
    return r.data["stdout"]


def leaked(token: str, result) -> bool:
    blob = json.dumps({"text": result.text, "data": result.data,
                       "artifacts": [dataclasses.asdict(a) if dataclasses.is_dataclass(a) else repr(a)
                                     for a in result.artifacts]}, default=str)
    return token in blob


# --------------------------------------------------------------------------------- baseline
def test_seccomp_filter_is_loaded_and_identity_is_nobody():
    res = runner.run_code(
        "import os\n"
        "caps = [l for l in open('/proc/self/status') if l.startswith(('CapEff', 'CapPrm', 'CapBnd'))]\n"
        "print(os.getuid(), os.geteuid(), os.getgid(), all(l.split()[1] == '0' * 16 for l in caps))\n",
        warehouse=None, limits=runner.Limits(timeout=5))
    assert res.finished and res.seccomp == "on", res
    assert res.stdout == "65534 65534 65534 True\n"


# --------------------------------------------------------------------------------- host files
def test_etc_passwd_and_shadow_are_absent(sctx):
    out = inside(sctx, """
        import os
        for p in ("/etc/shadow", "/etc/passwd", "/etc/hostname", "/etc"):
            try:
                open(p).read() if p != "/etc" else os.listdir(p)
                print("ALLOWED", p)
            except FileNotFoundError:
                print("DENIED", p)
        """)
    assert out.split() == ["DENIED", "/etc/shadow", "DENIED", "/etc/passwd", "DENIED", "/etc/hostname",
                           "DENIED", "/etc"]


def test_root_home_shows_only_the_interpreter(sctx):
    host_root = set(os.listdir("/root")) - {".pyenv"}
    out = inside(sctx, """
        import os
        print(sorted(os.listdir("/root")))
        print(sorted(os.listdir("/root/.pyenv")))
        for p in ("/root/.ssh", "/root/.bashrc", "/root/.gitconfig", "/root/.npmrc"):
            print("ALLOWED" if os.path.exists(p) else "DENIED", p)
        """)
    lines = out.splitlines()
    assert lines[0] == "['.pyenv']"
    assert not host_root & set(eval(lines[0]))
    assert eval(lines[1]) == ["versions"]  # only the bound interpreter prefix, not pyenv's shims or plugins
    assert all(line.startswith("DENIED") for line in lines[2:]), out


def test_data_dir_and_app_database_are_invisible(sctx, secret):
    r = run(sctx, f"""
        import os
        for p in ({str(secret['file'])!r}, {str(secret['sqlite'])!r}, {str(secret['data_dir'])!r}):
            try:
                open(p, "rb").read() if not p.endswith("data") else os.listdir(p)
                print("ALLOWED", p)
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                print("DENIED", p)
        found = []
        skip = ("/proc", "/sys", "/dev", "/usr", "/root/.pyenv", "/opt/penny/venv")
        for d, dirs, files in os.walk("/"):
            dirs[:] = [x for x in dirs if os.path.join(d, x) not in skip]
            found += [os.path.join(d, f) for f in files if f in ("secret.json", "penny.sqlite")]
        print("FOUND", found)
        """)
    lines = r.data["stdout"].splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["DENIED"] * 3, lines
    assert lines[3] == "FOUND []"
    assert not leaked(secret["token"], r)


def test_another_tenants_warehouse_is_invisible(sctx, warehouses):
    acme = warehouses.path("acme")
    assert acme.exists()
    out = inside(sctx, f"""
        import os, duckdb
        print(os.listdir("/data"))
        print("ALLOWED" if os.path.exists({str(acme)!r}) else "DENIED")
        try:
            duckdb.connect().execute("ATTACH '{acme}' AS other (READ_ONLY)")
            print("ALLOWED attach")
        except Exception:
            print("DENIED attach")
        """)
    assert out.splitlines() == ["['warehouse.duckdb']", "DENIED", "DENIED attach"]


def test_writes_outside_work_are_refused(sctx, warehouses):
    wh = warehouses.ensure("demo")
    before = hashlib.sha256(wh.read_bytes()).hexdigest()
    out = inside(sctx, """
        import os
        targets = ["/usr/x", "/x", "/data/x", "/opt/penny/x", "/opt/penny/venv/x", "/root/x", "/root/.pyenv/x",
                   "/bin/x", "/proc/x", "/sys/x"]
        for p in targets:
            try:
                open(p, "w").write("x")
                print("ALLOWED", p)
            except OSError:
                print("DENIED", p)
        for p, mode in (("/data/warehouse.duckdb", "r+b"), ("/opt/penny/penny_helper.py", "a"),
                        ("/opt/penny/inside.py", "a")):
            try:
                open(p, mode).write(b"x" if "b" in mode else "x")
                print("ALLOWED", p)
            except OSError:
                print("DENIED", p)
        for fn, args in ((os.chmod, ("/data/warehouse.duckdb", 0o777)), (os.unlink, ("/data/warehouse.duckdb",)),
                         (os.rename, ("/opt/penny/inside.py", "/work/i.py"))):
            try:
                fn(*args)
                print("ALLOWED", fn.__name__)
            except OSError:
                print("DENIED", fn.__name__)
        """)
    lines = out.splitlines()
    assert len(lines) == 16 and all(line.startswith("DENIED") for line in lines), out
    assert hashlib.sha256(wh.read_bytes()).hexdigest() == before


def test_runs_share_neither_work_nor_tmp(sctx):
    """Run A writes markers and stays alive; run B, concurrently, cannot see them (not even at A's host path)."""
    marker = f"mark-{uuid.uuid4().hex}"
    a_dir: list[str] = []
    a_wrote = threading.Event()
    limits = runner.Limits(timeout=6)
    code_a = (f"open('/work/{marker}', 'w').write('a'); open('/tmp/{marker}', 'w').write('a')\n"
              "print('written', flush=True)\nimport time\ntime.sleep(2.5)\n"
              f"import os\nprint(os.path.exists('/work/{marker}'))")

    def progress(ev):
        if "written" in ev.get("output", ""):
            a_wrote.set()

    def run_a():
        a_dir.append(runner.run_code(code_a, warehouse=None, limits=limits, progress=progress,
                                     keep_workdir=lambda d: a_dir.append(d)))

    t = threading.Thread(target=run_a)
    t.start()
    try:
        assert a_wrote.wait(5)
        host_a = a_dir[0]
        assert os.path.exists(os.path.join(host_a, marker))  # A's marker is really there on the host
        b = runner.run_code(f"""
import os
print(sorted(x for x in os.listdir('/work') if not x.startswith('.')), os.listdir('/tmp'))
for p in ('/work/{marker}', '/tmp/{marker}', {host_a!r}, {os.path.join(host_a, marker)!r}):
    print('ALLOWED' if os.path.exists(p) else 'DENIED', p)
""", warehouse=None, limits=limits)
    finally:
        t.join()
    assert b.finished, b
    lines = b.stdout.splitlines()
    assert lines[0] == "[] []"
    assert all(line.startswith("DENIED") for line in lines[1:]) and len(lines) == 5, b.stdout
    assert a_dir[1].stdout.strip().endswith("True")  # A still saw its own marker
    assert not os.path.exists(host_a)  # and A's work dir is gone once it ended


def test_tmp_is_fresh_for_every_run(sctx):
    marker = f"tmp-{uuid.uuid4().hex}"
    assert inside(sctx, f"open('/tmp/{marker}', 'w').write('x')\nimport os\nprint(os.listdir('/tmp'))") == \
        f"['{marker}']\n"
    assert inside(sctx, "import os\nprint(os.listdir('/tmp'))") == "[]\n"
    assert not any(marker in n for n in os.listdir("/tmp"))


# --------------------------------------------------------------------------------- network
def test_tcp_connect_to_a_host_listener(sctx):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    port = srv.getsockname()[1]
    try:
        out = inside(sctx, f"""
            import socket
            for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                try:
                    s = socket.socket(fam, socket.SOCK_STREAM)
                    s.settimeout(1)
                    s.connect((host, {port}))
                    print("ALLOWED", host)
                except OSError as e:
                    print("DENIED", host, type(e).__name__)
            """)
        srv.settimeout(0.3)
        with pytest.raises(socket.timeout):
            srv.accept()
    finally:
        srv.close()
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["DENIED", "DENIED"], out
    assert "PermissionError" in lines[0]  # seccomp, before the empty network namespace is even reached


def test_udp_sendto_a_host_socket(sctx):
    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    try:
        out = inside(sctx, f"""
            import socket
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.sendto(b"hello from the sandbox", ("127.0.0.1", {port}))
                print("ALLOWED")
            except OSError as e:
                print("DENIED", type(e).__name__)
            """)
        srv.settimeout(0.3)
        with pytest.raises(socket.timeout):
            srv.recvfrom(100)
    finally:
        srv.close()
    assert out.startswith("DENIED"), out


def test_raw_netlink_and_packet_sockets_refused(sctx):
    out = inside(sctx, """
        import socket
        for name, args in (("raw", (socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)),
                           ("netlink", (socket.AF_NETLINK, socket.SOCK_RAW, 0)),
                           ("packet", (socket.AF_PACKET, socket.SOCK_RAW, 0)),
                           ("inet6", (socket.AF_INET6, socket.SOCK_DGRAM, 0))):
            try:
                socket.socket(*args)
                print("ALLOWED", name)
            except OSError:
                print("DENIED", name)
        """)
    assert out.split()[::2] == ["DENIED"] * 4, out


def test_dns_lookup_fails(sctx):
    out = inside(sctx, """
        import socket
        for host in ("example.com", "pypi.org", "localhost"):
            try:
                print("ALLOWED", host, socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)[0][4])
            except OSError as e:
                print("DENIED", host, type(e).__name__)
        """)
    lines = out.splitlines()
    assert [line.split()[0] for line in lines[:2]] == ["DENIED", "DENIED"], out
    # "localhost" may resolve without /etc/hosts through nss-myhostname; it names the sandbox's own lo only


def test_unix_socket_to_a_host_service(sctx, tmp_path):
    path = tmp_path / "svc.sock"
    abstract = f"\0penny-test-{uuid.uuid4().hex}"
    srvs = []
    for addr in (str(path), abstract):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(addr)
        s.listen(4)
        s.settimeout(0.3)
        srvs.append(s)
    try:
        out = inside(sctx, f"""
            import socket
            for addr in ({str(path)!r}, {abstract!r}):
                try:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.settimeout(1)
                    s.connect(addr)
                    print("ALLOWED", repr(addr))
                except OSError as e:
                    print("DENIED", type(e).__name__)
            """)
        for s in srvs:
            with pytest.raises(socket.timeout):
                s.accept()
    finally:
        for s in srvs:
            s.close()
    lines = out.splitlines()
    assert lines == ["DENIED FileNotFoundError", "DENIED ConnectionRefusedError"], out


# --------------------------------------------------------------------------------- processes and limits
def test_fork_bomb(sctx):
    r = run(sctx, "import os\nwhile True:\n    os.fork()")
    assert r.data["raised"] == "PermissionError"
    out = inside(sctx, """
        import os, subprocess
        for name, fn in (("subprocess", lambda: subprocess.Popen(["/bin/true"])),
                         ("posix_spawn", lambda: os.posix_spawn("/bin/true", ["true"], {})),
                         ("system", lambda: os.system("true") == 0 or (_ for _ in ()).throw(OSError()))):
            try:
                fn()
                print("ALLOWED", name)
            except OSError:
                print("DENIED", name)
        """)
    assert out.split()[::2] == ["DENIED"] * 3, out


def test_thread_bomb_is_bounded(sctx):
    out = inside(sctx, """
        import threading, time
        ev, n = threading.Event(), 0
        try:
            for n in range(100_000):
                threading.Thread(target=ev.wait, daemon=True).start()
            print("ALLOWED", n)
        except (RuntimeError, MemoryError) as e:
            print("DENIED", n)
        ev.set()
        """)
    assert out.startswith("DENIED"), out
    assert int(out.split()[1]) < 100_000


def test_memory_bomb_at_once(sctx):
    with pytest.raises(PennyError) as e:
        run(sctx, "x = bytearray(8 * 1024 ** 3)")
    assert e.value.code == "sandbox_limit" and "memory" in e.value.message


def test_memory_bomb_growing(sctx):
    # The limit under test is memory: zeroing 1 GB in 64 MB steps took 0.7-3.0 s here, wall clock and CPU
    # alike, so both clocks get room.
    sctx.config.sandbox_timeout, sctx.config.sandbox_cpu_seconds = 15.0, 15
    with pytest.raises(PennyError) as e:
        run(sctx, "chunks = []\nwhile True:\n    chunks.append(bytearray(64 * 1024 * 1024))")
    assert e.value.code == "sandbox_limit" and "memory" in e.value.message


def test_cpu_loop_hits_the_cpu_limit(sctx):
    sctx.config.sandbox_cpu_seconds, sctx.config.sandbox_timeout = 1, 5.0
    with pytest.raises(PennyError) as e:
        run(sctx, "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n    pass")
    assert e.value.code == "sandbox_limit" and "CPU" in e.value.message


def test_sleep_loop_hits_the_wall_clock(sctx):
    sctx.config.sandbox_timeout = 1.5
    with pytest.raises(PennyError) as e:
        run(sctx, "import time, signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.05)")
    assert e.value.code == "timeout"


def test_endless_stdout_is_capped(sctx):
    r = run(sctx, "import sys\nwhile True:\n    sys.stdout.write('x' * 4096)\n    sys.stderr.write('y' * 4096)")
    assert r.data["truncated"] is True
    assert len(r.data["stdout"]) + len(r.data["stderr"]) <= OUTPUT_CAP
    assert "truncated" in r.text


def test_huge_file_hits_rlimit_fsize(sctx):
    out = inside(sctx, """
        import os
        for p in ("/work/big", "/tmp/big"):
            chunk, written = b"x" * (1 << 20), 0
            try:
                with open(p, "wb") as f:
                    for _ in range(200):
                        f.write(chunk)
                        f.flush()
                        written += 1
                print("ALLOWED", p, written)
            except OSError as e:
                print("DENIED", p, written, e.errno)
            os.unlink(p)
        """)
    lines = [line.split() for line in out.splitlines()]
    assert [w[0] for w in lines] == ["DENIED", "DENIED"], out
    assert all(int(w[2]) <= 64 for w in lines)  # 64 MB: RLIMIT_FSIZE on /work, the tmpfs size on /tmp


def test_file_descriptor_exhaustion(sctx):
    out = inside(sctx, """
        fds = []
        try:
            for _ in range(100_000):
                fds.append(open("/dev/null"))
            print("ALLOWED", len(fds))
        except OSError as e:
            print("DENIED", len(fds), e.errno)
        for f in fds:
            f.close()
        """)
    verdict, n, errno_ = out.split()
    assert verdict == "DENIED" and int(n) < 256 and int(errno_) == 24  # EMFILE
    out = inside(sctx, """
        import resource
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (100_000, 100_000))
            print("ALLOWED")
        except (ValueError, OSError):
            print("DENIED")
        """)
    assert out == "DENIED\n"


def _host_cmdlines_with(marker: str) -> list[str]:
    hits = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmd:
            hits.append(pid)
    return hits


def test_double_fork_setsid_child_does_not_outlive_the_run(sctx):
    marker = f"penny-escape-{uuid.uuid4().hex}"
    r = run(sctx, f"""
        import ctypes, os, subprocess
        libc = ctypes.CDLL(None, use_errno=True)
        try:
            os.setsid()
        except OSError:
            pass
        try:
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    os.execv("/bin/sleep", ["sleep", "60", {marker!r}])
                os._exit(0)
            print("ALLOWED fork")
        except OSError:
            print("DENIED fork")
        try:
            subprocess.Popen(["/bin/sleep", "60", {marker!r}], start_new_session=True)
            print("ALLOWED popen")
        except OSError:
            print("DENIED popen")
        # raw clone(SIGCHLD), as a fork without the libc wrapper
        pid = libc.syscall(56, 17, 0, 0, 0, 0)
        if pid == 0:
            os.execv("/bin/sleep", ["sleep", "60", {marker!r}])
        print("DENIED clone" if pid < 0 else "ALLOWED clone")
        """)
    assert r.data["stdout"].splitlines() == ["DENIED fork", "DENIED popen", "DENIED clone"], r.data["stdout"]
    assert _host_cmdlines_with(marker) == []


def test_environment_carries_no_server_secrets(sctx, monkeypatch):
    tokens = {k: f"{k}-{uuid.uuid4().hex}" for k in ("JUPYTER_TOKEN", "AWS_SECRET_ACCESS_KEY", "PENNY_API_KEY")}
    for k, v in tokens.items():
        monkeypatch.setenv(k, v)
    r = run(sctx, """
        import os
        print(sorted(os.environ))
        for p in ("/proc/self/environ", "/proc/1/environ", "/proc/2/environ"):
            try:
                print(open(p, "rb").read())
            except OSError as e:
                print("DENIED", p)
        """)
    blob = json.dumps(r.data)
    for k, v in tokens.items():
        assert v not in blob and k not in blob
    names = eval(r.data["stdout"].splitlines()[0])
    assert not [n for n in names if any(w in n for w in ("TOKEN", "SECRET", "KEY", "PASSWORD", "JUPYTER", "AWS"))]


# --------------------------------------------------------------------------------- privilege
def test_ptrace_traceme_and_attach(sctx):
    out = inside(sctx, """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
        for name, req, pid in (("traceme", 0, 0), ("attach-parent", 16, os.getppid()), ("seize-1", 0x4206, 1)):
            rc = libc.ptrace(req, pid, None, None)
            print("DENIED" if rc == -1 else "ALLOWED", name, ctypes.get_errno())
        try:
            open(f"/proc/{os.getppid()}/mem", "rb").read(1)
            print("ALLOWED mem")
        except OSError:
            print("DENIED mem")
        """)
    assert [line.split()[0] for line in out.splitlines()] == ["DENIED"] * 4, out


def test_unshare_mount_chroot_setns(sctx):
    out = inside(sctx, """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWNET = 0x10000000, 0x00020000, 0x40000000
        for name, call in (
                ("unshare-user", lambda: libc.unshare(CLONE_NEWUSER)),
                ("unshare-ns", lambda: libc.unshare(CLONE_NEWNS)),
                ("unshare-net", lambda: libc.unshare(CLONE_NEWNET)),
                ("mount-tmpfs", lambda: libc.mount(b"none", b"/work", b"tmpfs", 0, None)),
                ("remount-rw", lambda: libc.mount(None, b"/", None, 0x20 | 0x1000, None)),  # MS_REMOUNT|MS_BIND
                ("umount", lambda: libc.umount2(b"/work", 2)),
                ("chroot", lambda: libc.chroot(b"/tmp")),
                ("pivot_root", lambda: libc.syscall(155, b"/tmp", b"/tmp")),
                ("setns", lambda: libc.setns(os.open("/proc/1/ns/net", os.O_RDONLY), 0)),
                ("clone3", lambda: libc.syscall(435, None, 0)),
        ):
            try:
                rc = call()
            except OSError:
                rc = -1
            print("DENIED" if rc == -1 else "ALLOWED", name)
        if hasattr(os, "unshare"):
            try:
                os.unshare(os.CLONE_NEWUSER)
                print("ALLOWED os.unshare")
            except OSError:
                print("DENIED os.unshare")
        """)
    lines = out.splitlines()
    assert len(lines) >= 10 and all(line.startswith("DENIED") for line in lines), out


def test_setuid_root(sctx):
    out = inside(sctx, """
        import os
        for name, fn in (("setuid", lambda: os.setuid(0)), ("setgid", lambda: os.setgid(0)),
                         ("setresuid", lambda: os.setresuid(0, 0, 0)), ("setgroups", lambda: os.setgroups([0]))):
            try:
                fn()
                print("ALLOWED", name)
            except OSError:
                print("DENIED", name)
        print(os.getuid(), os.geteuid())
        """)
    lines = out.splitlines()
    assert all(line.startswith("DENIED") for line in lines[:4]), out
    assert lines[4] == "65534 65534"


def test_host_proc_is_not_reachable(sctx, monkeypatch):
    token = f"tok-{uuid.uuid4().hex}"
    monkeypatch.setenv("JUPYTER_TOKEN", token)
    me = os.getpid()
    r = run(sctx, f"""
        import os
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        print(pids)
        cmds = [open(f"/proc/{{p}}/cmdline", "rb").read() for p in pids]
        print(any(b"test_sandbox_escapes.py" in c or b"_pytest" in c for c in cmds))
        print(sorted(os.listdir("/proc/1/root")) == sorted(os.listdir("/")))
        print(os.path.exists("/proc/{me}"))
        for p in ("/proc/1/environ", "/proc/1/root/etc/shadow", "/proc/sysrq-trigger", "/sys/kernel", "/dev/mem",
                  "/dev/kmsg", "/proc/kcore"):
            try:
                with open(p, "rb" if "sysrq" not in p else "wb") as f:
                    f.write(b"b") if "sysrq" in p else f.read(64)
                print("READ", p)
            except OSError:
                print("DENIED", p)
        """)
    lines = r.data["stdout"].splitlines()
    assert eval(lines[0]) == [1, 2]  # bwrap's init and the code: nothing of the host's process tree
    assert lines[1:4] == ["False", "True", "False"]
    denied = {line.split()[1] for line in lines[4:] if line.startswith("DENIED")}
    assert {"/proc/1/root/etc/shadow", "/proc/sysrq-trigger", "/sys/kernel", "/dev/mem", "/dev/kmsg",
            "/proc/kcore"} <= denied, lines
    assert token not in json.dumps(r.data)  # /proc/1/environ, if readable, is bwrap's scrubbed one


def test_killing_the_parent_and_everyone(sctx):
    sentinel = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        r = run(sctx, """
            import os, signal
            for target in (os.getppid(), -1, 1):
                try:
                    os.kill(target, signal.SIGKILL)
                except OSError:
                    pass
            print("still here", os.getppid())
            """)
        assert sentinel.poll() is None  # a host process the sandbox could name by number lives on
        assert os.getpid() > 0
        assert r.data["exit"] is not None
        assert inside(sctx, "print(6 * 7)") == "42\n"  # the sandbox still works afterwards
    finally:
        sentinel.kill()
        sentinel.wait()


# --------------------------------------------------------------------------------- reading results back
@pytest.mark.parametrize("victim", ["result", "results-dir", "state-dir", "outcome", "etc-hostname"])
def test_symlinked_results_are_not_followed(sctx, secret, victim):
    secret_dir = secret["data_dir"] / "fake-state"
    (secret_dir / "results").mkdir(parents=True)
    (secret_dir / "results" / "0001.json").write_text(secret["file"].read_text())
    (secret_dir / "outcome.json").write_text(json.dumps({"value": secret["token"], "error": None}))
    target = {"result": str(secret["file"]), "results-dir": str(secret_dir / "results"),
              "state-dir": str(secret_dir), "outcome": str(secret_dir / "outcome.json"),
              "etc-hostname": "/etc/hostname"}[victim]
    link = {"result": "/work/.penny/results/0001.json", "results-dir": "/work/.penny/results",
            "state-dir": "/work/.penny", "outcome": "/work/.penny/outcome.json",
            "etc-hostname": "/work/.penny/results/0001.json"}[victim]
    # the symlink is planted from a thread that keeps re-planting it until the process exits, so it is
    # in place after inside.py writes outcome.json too
    code = f"""
        import os, shutil, threading, atexit
        import pandas as pd
        penny.show(pd.DataFrame({{"a": [1]}}))
        def plant():
            tmp = {link!r} + ".lnk"
            try:
                os.symlink({target!r}, tmp)
                os.replace(tmp, {link!r}) if not os.path.isdir({link!r}) or os.path.islink({link!r}) else (
                    shutil.rmtree({link!r}), os.replace(tmp, {link!r}))
            except OSError:
                pass
        plant()
        atexit.register(plant)
        print("planted", os.path.islink({link!r}))
        """
    if victim in ("state-dir", "outcome"):  # outcome.json unreadable: the run is reported as stopped
        with pytest.raises(PennyError) as e:
            run(sctx, code)
        assert e.value.code == "sandbox_limit" and secret["token"] not in e.value.message
        return
    r = run(sctx, code)
    assert not leaked(secret["token"], r)
    if victim == "etc-hostname":
        host_name = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else ""
        assert not host_name or host_name not in json.dumps([dataclasses.asdict(a) for a in r.artifacts])
    if victim in ("result", "results-dir", "etc-hostname"):
        assert r.data["stdout"] == "planted True\n"
        assert r.artifacts == []  # the planted link was dropped, not read


def test_device_symlink_result_does_not_hang_the_server(sctx):
    r = run(sctx, """
        import os
        os.symlink("/dev/zero", "/work/.penny/results/0001.json")
        os.symlink("/dev/stdin", "/work/.penny/results/0002.json")
        print("ok")
        """)
    assert r.data["stdout"] == "ok\n" and r.artifacts == []


@pytest.mark.parametrize("kind", ["fifo-result", "dir-result", "fifo-outcome"])
def test_non_regular_result_files_are_skipped(sctx, kind):
    make = {"fifo-result": 'os.mkfifo("/work/.penny/results/0001.json")',
            "dir-result": 'os.mkdir("/work/.penny/results/0001.json")',
            "fifo-outcome": 'import atexit; atexit.register(lambda: (os.path.lexists("/work/.penny/outcome.json") '
                            'and os.unlink("/work/.penny/outcome.json"), os.mkfifo("/work/.penny/outcome.json")))'}[kind]
    code = f"import os\n{make}\nprint('ok')"
    if kind == "fifo-outcome":  # no readable outcome: reported as stopped, like a symlinked one
        with pytest.raises(PennyError) as e:
            run(sctx, code)
        assert e.value.code == "sandbox_limit"
        return
    r = run(sctx, code)
    assert r.data["stdout"] == "ok\n" and r.artifacts == []


def test_dev_is_read_only_and_private(sctx):
    marker = f"dev-{uuid.uuid4().hex}"
    out = inside(sctx, f"""
        try:
            open('/dev/{marker}', 'w').write('x')
            print("ALLOWED")
        except OSError:
            print("DENIED")
        """)
    assert out == "DENIED\n"
    assert not os.path.exists(f"/dev/{marker}")


def test_writable_space_outside_work_and_tmp_is_capped(sctx):
    out = inside(sctx, """
        import os
        for p in ("/dev", "/dev/shm"):
            s = os.statvfs(p)
            writable = os.access(p, os.W_OK)
            print(p, writable, s.f_blocks * s.f_frsize >> 20)
        """)
    for line in out.splitlines():
        path, writable, mb = line.split()
        assert writable == "False" or int(mb) <= 64, line


def test_hardlink_to_a_readonly_file_is_refused(sctx):
    out = inside(sctx, """
        import os
        for src in ("/data/warehouse.duckdb", "/opt/penny/inside.py"):
            try:
                os.link(src, "/work/.penny/results/0001.json")
                print("ALLOWED", src)
            except OSError:
                print("DENIED", src)
        """)
    assert out.split()[::2] == ["DENIED", "DENIED"], out


def test_open_fds_point_nowhere_outside(sctx, config):
    out = inside(sctx, """
        import os
        for fd in sorted(os.listdir("/proc/self/fd"), key=int):
            try:
                print(fd, os.readlink(f"/proc/self/fd/{fd}"))
            except OSError:
                pass
        """)
    for line in out.splitlines():
        fd, target = line.split(" ", 1)
        assert not target.startswith(("/root", str(config.data_path), "/work/main")), line
        assert target.split(":")[0] in ("pipe", "anon_inode", "/dev/null", "/proc/2/fd") or \
            target.startswith(("/dev/", "/proc/")), line


# --------------------------------------------------------------------------------- the engine survived
def test_engine_still_answers_after_the_suite(config, warehouses, tmp_path):
    from penny_jupyter.artifacts.store import ArtifactStore
    from penny_jupyter.storage import Database
    from penny_jupyter.tenancy import Principal
    from penny_jupyter.tools.executor import ToolExecutor
    from penny_jupyter.tools.registry import default_registry

    db = Database(f"sqlite:///{tmp_path / 'app.sqlite'}")
    ex = ToolExecutor(default_registry(), warehouses, ArtifactStore(db), config)
    who = Principal("alice", "demo")
    outcome = asyncio.run(ex.run(who, ex.prepare("get_company_kpis", {}, who), persist=False))
    assert outcome.ok, outcome.error
    assert outcome.result.artifacts and outcome.result.text
