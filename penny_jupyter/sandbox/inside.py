"""The bootstrap that runs INSIDE the sandbox, before and around the user's code.

Run as `python -I -B /opt/penny/inside.py` (bind-mounted read-only; imports nothing from
penny_jupyter). It:

1. applies the resource limits the runner passed in PENNY_LIMITS (RLIMIT_CPU, RLIMIT_AS,
   RLIMIT_NOFILE, RLIMIT_NPROC, RLIMIT_FSIZE, RLIMIT_CORE);
2. loads a seccomp filter when pyseccomp is importable (see `_seccomp`);
3. makes `import penny` give the helper module (penny_helper.py next to this file);
4. runs the code in PENNY_WORK/.penny/code.py like a notebook cell: the statements, then the
   last expression's value (its repr goes back; a DataFrame is also shown as a table and a
   plotly figure as a chart);
5. writes PENNY_WORK/.penny/outcome.json: {"value", "error" (the traceback of the user's code
   only: the bootstrap's frames are cut), "error_type", "seccomp"}.
"""

from __future__ import annotations

import ast
import json
import os
import resource
import sys

ARGS = json.loads(os.environ.get("PENNY_LIMITS", "{}"))
WORK = os.environ.get("PENNY_WORK", "/work")
STATE = os.path.join(WORK, ".penny")
CELL = "<cell>"
MAX_REPR = 20_000


def _limits() -> None:
    mb = 1024 * 1024
    pairs = {
        resource.RLIMIT_CPU: ARGS.get("cpu_seconds"),
        resource.RLIMIT_AS: ARGS.get("memory_mb") and ARGS["memory_mb"] * mb,
        resource.RLIMIT_NOFILE: ARGS.get("nofile"),
        resource.RLIMIT_NPROC: ARGS.get("nproc"),
        resource.RLIMIT_FSIZE: ARGS.get("fsize_mb") and ARGS["fsize_mb"] * mb,
        resource.RLIMIT_CORE: 0,
    }
    for which, value in pairs.items():
        if value is None:
            continue
        value = int(value)
        if which == resource.RLIMIT_CPU:  # soft: SIGXCPU; hard one second later: SIGKILL
            resource.setrlimit(which, (value, value + 1))
        else:
            resource.setrlimit(which, (value, value))


def _seccomp() -> str:
    """Deny, with EPERM: sockets of every family but AF_UNIX (no IPv4/IPv6/netlink/packet: there is
    no network in the namespace anyway, this is the second wall), new processes (fork, vfork, clone
    without CLONE_THREAD; clone3 answers ENOSYS so libc falls back to clone, whose flags a filter can
    read): threads still work, fork bombs cannot start. Also ptrace, mount, unshare, setns, chroot,
    pivot_root, bpf, perf_event_open, keyctl, userfaultfd, kernel modules, process_vm_*.

    Returns "on", or "off: <why>" when pyseccomp/libseccomp is not there (the namespaces and
    rlimits still hold)."""
    if not ARGS.get("seccomp", True):
        return "off: disabled"
    try:
        import ctypes.util
        import errno
        import socket

        # pyseccomp asks ctypes.util.find_library, which runs ldconfig (a subprocess, and /etc is not
        # there): name the sonames directly instead.
        real = ctypes.util.find_library
        ctypes.util.find_library = lambda name: {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}.get(name) or real(name)
        try:
            import pyseccomp as sc
        finally:
            ctypes.util.find_library = real
    except Exception as e:  # pyseccomp or libseccomp.so.2 missing
        return f"off: {type(e).__name__}"
    try:
        f = sc.SyscallFilter(defaction=sc.ALLOW)
        deny = sc.ERRNO(errno.EPERM)
        f.add_rule(deny, "socket", sc.Arg(0, sc.NE, socket.AF_UNIX))
        clone_thread = 0x00010000
        f.add_rule(deny, "clone", sc.Arg(0, sc.MASKED_EQ, clone_thread, 0))
        f.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
        for name in ("fork", "vfork", "ptrace", "mount", "umount2", "unshare", "setns", "chroot", "pivot_root",
                     "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "userfaultfd", "init_module",
                     "finit_module", "delete_module", "kexec_load", "process_vm_readv", "process_vm_writev",
                     "open_by_handle_at", "name_to_handle_at", "syslog", "acct", "swapon", "swapoff",
                     "reboot", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid"):
            try:
                f.add_rule(deny, name)
            except Exception:  # a syscall this architecture does not have
                pass
        f.load()
        return "on"
    except Exception as e:
        return f"off: {type(e).__name__}: {e}"


def _user_traceback(e: BaseException) -> str:
    import traceback

    tb = e.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != CELL:
        tb = tb.tb_next
    if isinstance(e, SyntaxError) or tb is None:
        return "".join(traceback.format_exception_only(type(e), e))
    return "".join(traceback.format_exception(type(e), e, tb))


def _safe_repr(value) -> str:
    try:
        r = repr(value)
    except Exception as e:
        r = f"<repr failed: {type(e).__name__}>"
    return r if len(r) <= MAX_REPR else r[:MAX_REPR] + f"... ({len(r) - MAX_REPR:,} more characters)"


def _show_value(value) -> None:
    """A cell's last value that is a table or a figure is shown, as a notebook would."""
    import penny

    mod = type(value).__module__ or ""
    if mod.startswith("pandas") and type(value).__name__ in ("DataFrame", "Series"):
        penny.show(value)
    elif mod.startswith("plotly") and hasattr(value, "to_plotly_json"):
        penny.chart(value)


def main() -> int:
    _limits()
    seccomp = _seccomp()
    # loaded by file, not by putting this directory on sys.path: next to it (in unsafe mode, the
    # package directory) is a queue.py that would shadow the standard library's
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    spec = importlib.util.spec_from_file_location("penny", os.path.join(here, "penny_helper.py"))
    penny_helper = importlib.util.module_from_spec(spec)
    sys.modules["penny"] = penny_helper
    spec.loader.exec_module(penny_helper)
    outcome: dict = {"value": None, "error": None, "error_type": None, "seccomp": seccomp}
    code = open(os.path.join(STATE, "code.py"), encoding="utf-8").read()
    import linecache

    linecache.cache[CELL] = (len(code), None, code.splitlines(True), CELL)
    namespace = {"__name__": "__main__", "__builtins__": __builtins__, "penny": penny_helper}
    exit_code = 0
    try:
        tree = ast.parse(code, CELL)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, CELL, "exec"), namespace)
        if last is not None:
            value = eval(compile(last, CELL, "eval"), namespace)
            if value is not None:
                outcome["value"] = _safe_repr(value)
                _show_value(value)
    except SystemExit as e:
        exit_code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException as e:  # the user's error: their traceback, not ours
        outcome["error"] = _user_traceback(e)
        outcome["error_type"] = type(e).__name__
        sys.stderr.write(outcome["error"])
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
    try:
        with open(os.path.join(STATE, "outcome.json"), "w") as f:
            json.dump(outcome, f)
    except Exception:  # the user removed the state dir or filled the disk: the runner says so
        pass
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
