"""A user's server under a hub with a Penny service (service_url, from the spawner's PENNY_SERVICE_URL): it runs
no engine and opens no Penny data; it only tells the sidebar where Penny is."""

from __future__ import annotations

import pytest

from tests.server.conftest import refused

SERVICE = "https://hub.example.com/services/penny/"


@pytest.fixture
def jp_server_config(penny_config_values):
    return {"ServerApp": {"jpserver_extensions": {"penny_server": True}},
            "PennyConfig": {**penny_config_values, "service_url": SERVICE}}


async def test_the_sidebar_is_sent_to_the_services_path_on_its_own_origin(api):
    status, where = await api("GET", "location")
    assert status == 200 and where == {"engine": "service", "url": "/services/penny/"}


async def test_penny_requests_here_say_where_penny_is_and_open_nothing(api, jp_serverapp, penny_data_dir):
    for method, path in (("GET", "conversations"), ("POST", "tools/get_company_kpis/execute"), ("GET", "health")):
        status, err = await refused(api(method, *path.split("/")))
        assert status == 409 and err["code"] == "penny_service" and SERVICE in err["message"]
    assert jp_serverapp.web_app.settings["penny"].started is None
    assert not (penny_data_dir / "penny.sqlite").exists()


def test_service_url_makes_a_client_and_its_kernels_use_the_hub_token():
    from penny_jupyter.settings import PennyConfig
    from penny_server.app import mode_of

    class Server:
        identity_provider = object()

    assert mode_of(Server(), PennyConfig(service_url=SERVICE)) == "client"
    assert mode_of(Server(), PennyConfig()) == "here"
    # and a kernel with that environment uses the service with the hub token it inherited
    from penny_jupyter.errors import Unavailable
    from penny_jupyter.kernel.session import session_for_environment

    with pytest.raises(Unavailable) as e:
        session_for_environment({"PENNY_SERVICE_URL": SERVICE})
    assert "JUPYTERHUB_API_TOKEN" in str(e.value)
    remote = session_for_environment({"PENNY_SERVICE_URL": SERVICE, "JUPYTERHUB_API_TOKEN": "t0k3n"})
    assert remote.url == SERVICE and remote._http.headers["Authorization"] == "token t0k3n"
