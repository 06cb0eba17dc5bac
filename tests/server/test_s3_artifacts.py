"""The server with its artifact store on S3 (moto's server, real HTTP): the REST API reads and writes
payloads there, links redirect to presigned S3 URLs, and an S3 outage is a 503 with a sentence that loses nothing."""

from __future__ import annotations

import httpx
import pytest
from tornado.httpclient import HTTPClientError

from tests.s3_server import s3_with_bucket
from tests.server.conftest import error_of


@pytest.fixture
def moto():
    with s3_with_bucket("penny") as server:
        yield server


@pytest.fixture
def jp_server_config(penny_config_values, moto):
    return {
        "ServerApp": {"jpserver_extensions": {"penny_server": True}},
        "PennyConfig": {**penny_config_values, "artifact_store_url": "s3://penny/artifacts",
                        "artifact_store_options": moto.options(), "artifact_inline_bytes": 1024},
    }


def _objects(moto) -> list[str]:
    import s3fs

    return s3fs.S3FileSystem(skip_instance_cache=True, **moto.options()).find("penny/artifacts")


async def test_artifacts_live_on_s3_and_links_are_presigned(api, moto, jp_fetch, jp_base_url):
    _, out = await api("POST", "tools", "load_dashboard", "execute", body={"params": {"slug": "company-health"}})
    made = out["artifacts"][0]
    assert len(_objects(moto)) == 1  # the dashboard (>1 KB) went to S3
    _, got = await api("GET", "artifacts", made["id"])
    assert got["spec"] == made["spec"]
    await api("POST", "artifacts", made["id"], "refresh")
    _, versions = await api("GET", "artifacts", made["id"], "versions")
    assert [(v["version"], v["stored"]) for v in versions["versions"]] == [(1, "store"), (2, "store")]

    _, link = await api("POST", "artifacts", made["id"], "links", body={"format": "html", "version": 1})
    assert link["storage"] == "s3" and link["url"].startswith(jp_base_url + "penny/files/") and link["version"] == 1
    # the link is checked by Penny, which redirects to a presigned URL on S3: the bytes never pass through Jupyter
    opened = await jp_fetch(*link["url"][len(jp_base_url):].split("/"), headers={"Authorization": ""},
                            follow_redirects=False, raise_error=False)
    assert opened.code == 302 and opened.headers["Location"].startswith(moto.url + "/penny/")
    assert "X-Amz-Signature=" in opened.headers["Location"]
    page = httpx.get(opened.headers["Location"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for w in made["spec"]["widgets"]:
        if w["type"] == "metric":
            assert f"<td>{w['formatted']}</td>" in page.text


async def test_an_s3_outage_is_a_503_that_keeps_every_version(api, moto):
    _, out = await api("POST", "tools", "load_dashboard", "execute", body={"params": {"slug": "company-health"}})
    aid = out["artifacts"][0]["id"]
    moto.stop()
    for method, path in (("POST", ("artifacts", aid, "refresh")), ("GET", ("artifacts", aid))):
        with pytest.raises(HTTPClientError) as e:
            await api(method, *path)
        err = error_of(e.value)
        assert e.value.code == 503 and err["code"] == "store_unavailable", err
        assert "s3://penny/artifacts" in err["message"] and "Traceback" not in e.value.response.body.decode()
    moto.start()
    _, versions = await api("GET", "artifacts", aid, "versions")
    assert [v["version"] for v in versions["versions"]] == [1]
    _, got = await api("GET", "artifacts", aid)
    assert got["spec"] == out["artifacts"][0]["spec"]
