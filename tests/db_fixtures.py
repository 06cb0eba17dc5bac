"""App-state database fixtures (a pytest plugin, loaded by the root conftest).

- `pg_server`: one real PostgreSQL for the session (tests/pg_server.py), started on first use. Missing
  binaries FAIL the tests that need it, with a sentence saying `make test` installs them.
- `pg_url`: the SQLAlchemy URL of that server's maintenance database.
- `pg_database`: a fresh empty database per test, dropped after, so tests stay independent.
- `db_url`: parametrized over "sqlite" and "postgresql": a test (or a fixture) that takes it runs on both.
"""

from __future__ import annotations

import pytest

from tests.pg_server import PostgresServer

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_server():
    server = PostgresServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def pg_url(pg_server) -> str:
    return pg_server.url()


@pytest.fixture
def pg_database(pg_server):
    url = pg_server.create_database()
    yield url
    if not pg_server.running():  # a test that stopped the server and failed before starting it again
        pg_server.start()
    pg_server.drop_database(url)


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'penny.sqlite'}"
    return request.getfixturevalue("pg_database")
