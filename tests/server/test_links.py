"""Downloads and signed links over the real REST API, on local storage: the HTML file carries the numbers
and its own plotly.js; a link works with no login until it expires, and a changed one never works."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from tests.server.conftest import refused
from tests.server.identity import TokenPerUser, as_

NO_AUTH = {"Authorization": ""}


@pytest.fixture
def jp_server_config(penny_config_values):
    return {
        "ServerApp": {"jpserver_extensions": {"penny_server": True}, "identity_provider_class": TokenPerUser},
        "PennyConfig": {**penny_config_values, "allow_multi_tenant_server": True,
                        "tenant_map": {"alice": "acme", "carol": "acme", "bob": "globex"}},
    }


async def _dashboard(api, user="alice"):
    _, out = await api("POST", "tools", "load_dashboard", "execute", body={"params": {"slug": "company-health"}},
                       headers=as_(user))
    return out["artifacts"][0]


def _file(jp_fetch, url: str, base_url: str, **kw):
    assert url.startswith(base_url + "penny/files/"), url
    return jp_fetch(*url[len(base_url):].split("/"), headers=NO_AUTH, **kw)


async def test_html_download_is_self_contained_and_carries_the_numbers(api):
    art = await _dashboard(api)
    code, resp = await api("GET", "artifacts", art["id"], "download", params={"format": "html"}, raw=True,
                           headers=as_("alice"))
    page = resp.body.decode()
    assert code == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert 'attachment; filename="Company health MTD v1.html"' == resp.headers["Content-Disposition"]
    metrics = [w for w in art["spec"]["widgets"] if w["type"] == "metric"]
    assert len(metrics) >= 4
    for w in metrics:
        assert f"<td>{w['formatted']}</td>" in page, w["label"]
    assert "window.Plotly" in page and "Plotly.newPlot" in page  # plotly.js is inside the file
    assert not re.search(r"""<script[^>]+src=|<link[^>]+href=["']https?:""", page)  # nothing fetched from elsewhere
    charts = [w for w in art["spec"]["widgets"] if w["type"] == "chart"]
    assert page.count('<script type="application/json" data-penny-figure>') == len(charts) > 0


async def test_a_local_link_works_without_login_until_it_expires(api, jp_fetch, jp_base_url):
    art = await _dashboard(api)
    code, link = await api("POST", "artifacts", art["id"], "links", body={"format": "csv"}, headers=as_("alice"))
    assert code == 201 and link["storage"] == "local" and link["version"] == 1 and link["format"] == "csv"
    resp = await _file(jp_fetch, link["url"], jp_base_url)
    _, direct = await api("GET", "artifacts", art["id"], "download", params={"format": "csv"}, raw=True,
                          headers=as_("alice"))
    assert resp.code == 200 and resp.body == direct.body and b"metric,label,value" in resp.body
    assert resp.headers["Cache-Control"] == "private, no-store"

    # a new version does not change what an existing link gives
    await api("POST", "artifacts", art["id"], "refresh", headers=as_("alice"))
    again = await _file(jp_fetch, link["url"], jp_base_url)
    assert again.body == resp.body

    _, short = await api("POST", "artifacts", art["id"], "links", body={"format": "json", "expiresIn": 1},
                         headers=as_("alice"))
    assert json.loads((await _file(jp_fetch, short["url"], jp_base_url)).body)["id"] == art["id"]
    await asyncio.sleep(2.1)
    code, err = await refused(_file(jp_fetch, short["url"], jp_base_url))
    assert code == 403 and err["code"] == "link_expired" and "make a new one" in err["message"]


async def test_a_changed_or_foreign_link_isrefused(api, jp_fetch, jp_base_url, penny_data_dir):
    art = await _dashboard(api)
    _, link = await api("POST", "artifacts", art["id"], "links", body={"format": "html"}, headers=as_("alice"))
    head, payload, sig = link["url"].rsplit("/", 1)[1].split(".")
    prefix = link["url"].rsplit("/", 1)[0]
    # claims rewritten to another artifact and format, signature kept
    forged_claims = payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB")
    flipped_sig = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
    for token in (f"{head}.{forged_claims}.{sig}", f"{head}.{payload}.{flipped_sig}", "not-a-token", f"{head}.{payload}."):
        code, err = await refused(_file(jp_fetch, f"{prefix}/{token}", jp_base_url))
        assert code == 403 and err["code"] == "link_invalid", token

    # a token signed by this server for another purpose (a kernel credential) is not a link
    from penny_jupyter.settings import PennyConfig
    from penny_jupyter.signing import KERNEL, Signer

    cfg = PennyConfig(data_dir=str(penny_data_dir))
    other = Signer.for_config(cfg).issue({"t": "acme", "a": art["id"], "v": 1, "f": "html"}, KERNEL, 60)
    code, err = await refused(_file(jp_fetch, f"{prefix}/{other}", jp_base_url))
    assert code == 403 and err["code"] == "link_invalid"


async def test_links_are_only_made_for_what_the_caller_can_read(api):
    art = await _dashboard(api)
    for user in ("bob", "carol"):
        code, err = await refused(api("POST", "artifacts", art["id"], "links", body={"format": "html"},
                                       headers=as_(user)))
        assert code == 404 and err["code"] == "not_found"
    for body, words in [({"format": "pdf"}, "format"), ({"expiresIn": 0}, "expiresIn"),
                        ({"expiresIn": 10 ** 9}, "between 1 and")]:
        code, err = await refused(api("POST", "artifacts", art["id"], "links", body=body, headers=as_("alice")))
        assert code == 400 and words in err["message"], (body, err)
    _, chart = await api("POST", "tools", "query_metric", "execute",
                         body={"params": {"metric": "revenue", "period": "YTD", "grain": "month"}}, headers=as_("alice"))
    chart_art = next(a for a in chart["artifacts"] if a["type"] == "chart")
    code, err = await refused(api("POST", "artifacts", chart_art["id"], "links", body={"format": "csv"},
                                   headers=as_("alice")))
    assert code == 400 and "no table or metrics" in err["message"]
