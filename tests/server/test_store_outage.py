"""A Penny server whose app state is on PostgreSQL (the test session's real one): while PostgreSQL is stopped the
REST API answers 503 store_unavailable as JSON, and after it starts again the same server answers 200."""

from __future__ import annotations

import pytest

from tests.server.conftest import refused


@pytest.fixture
def penny_config_values(penny_data_dir, pg_database) -> dict:
    from conftest import AS_OF, TEST_SCALE

    return {"data_dir": str(penny_data_dir), "demo_scale": TEST_SCALE, "as_of": AS_OF, "database_url": pg_database}


async def test_postgresql_down_is_a_503_store_unavailable_and_back_is_200(api, pg_server):
    status, conv = await api("POST", "conversations", body={"title": "on postgres"})
    assert status == 201
    pg_server.stop()
    try:
        status, err = await refused(api("GET", "conversations"))
        assert (status, err["code"]) == (503, "store_unavailable")
        assert err["message"] == "Penny's database is not answering; try again in a moment"
        status, err = await refused(api("POST", "conversations", body={"title": "lost"}))
        assert (status, err["code"]) == (503, "store_unavailable")
    finally:
        pg_server.start()
    status, body = await api("GET", "conversations")
    assert status == 200 and [c["title"] for c in body["conversations"]] == ["on postgres"]
