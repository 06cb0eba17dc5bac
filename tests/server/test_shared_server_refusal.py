"""A plain Jupyter server that trusts several people and names several tenants runs no Penny: anyone who can
start a kernel there can read every tenant's files (a kernel runs as the server's OS user). Every Penny request
says so and points at the service; opting in is for servers whose users cannot run code."""

from __future__ import annotations

import pytest

from tests.server.conftest import refused
from tests.server.identity import TokenPerUser, as_


@pytest.fixture
def jp_server_config(penny_config_values):
    return {
        "ServerApp": {"jpserver_extensions": {"penny_server": True}, "identity_provider_class": TokenPerUser},
        "PennyConfig": {**penny_config_values, "tenant_map": {"alice": "acme", "bob": "globex"}},
    }


@pytest.mark.parametrize("method,path", [("GET", "conversations"), ("GET", "health"), ("POST", "conversations"),
                                         ("POST", "tools/get_company_kpis/execute")])
async def test_every_penny_request_is_refused_with_the_way_out(api, method, path):
    status, err = await refused(api(method, *path.split("/"), body={} if method == "POST" else None,
                                    headers=as_("alice")))
    assert status == 503 and err["code"] == "multi_tenant_refused"
    assert "read every tenant's data" in err["message"] and "Penny for teams" in err["message"]
    assert "allow_multi_tenant_server" in err["message"]


async def test_the_sidebar_is_told_penny_is_here_and_refused(api):
    status, where = await api("GET", "location", headers=as_("bob"))
    assert status == 200 and where == {"engine": "here"}


async def test_no_engine_is_built_and_no_app_database_opened(api, jp_serverapp, penny_data_dir):
    await refused(api("GET", "conversations", headers=as_("alice")))
    assert jp_serverapp.web_app.settings["penny"].started is None
    assert not (penny_data_dir / "penny.sqlite").exists()
