"""The artifact store: small specs inline, large ones in a local folder or on S3 (moto's real S3 server),
versions, integrity, sharing, and what an outage leaves behind (nothing half-written, nothing lost).
Every test runs with its metadata on SQLite and on PostgreSQL (db_fixtures.db_url)."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest

from penny_jupyter.engine import Engine
from penny_jupyter.errors import BadRequest, Conflict, Forbidden, NotFound, PennyError, Unavailable
from penny_jupyter.settings import PennyConfig
from penny_jupyter.tenancy import Principal
from penny_jupyter.tools.base import ArtifactDraft
from tests.s3_server import CuttingProxy, MotoS3, s3_with_bucket

ALICE = Principal("alice", "acme", frozenset({"member"}))
CAROL = Principal("carol", "acme", frozenset({"member"}))
DAVE = Principal("dave", "acme", frozenset({"viewer"}))
BOB = Principal("bob", "globex", frozenset({"member"}))
TENANTS = {"alice": "acme", "carol": "acme", "dave": "acme", "bob": "globex"}


def table(rows: int, title: str = "Big table", tag: str = "v") -> ArtifactDraft:
    """A table artifact whose JSON is about 60 bytes a row."""
    data = [{"customer": f"cust-{i:06d}", "region": "EMEA", "arr": i * 10.5, "tag": tag} for i in range(rows)]
    return ArtifactDraft(type="table", title=title, spec={"columns": [{"name": k} for k in data[0]], "rows": data},
                         source={"tool": "run_sql", "params": {"query": "select 1"}})


def engine_for(tmp_path, db_url: str = "", **cfg) -> Engine:
    config = PennyConfig(data_dir=str(tmp_path / "data"), as_of="2026-11-18", tenant_map=TENANTS,
                         artifact_inline_bytes=4096, database_url=db_url, **cfg)
    return Engine(config)


@pytest.fixture
def local(tmp_path, db_url):
    e = engine_for(tmp_path, db_url)
    yield e
    e.close()


@pytest.fixture(scope="module")
def moto():
    with s3_with_bucket("penny-artifacts") as server:
        yield server


@pytest.fixture
def on_s3(tmp_path, moto, db_url):
    e = engine_for(tmp_path, db_url, artifact_store_url=f"s3://penny-artifacts/{tmp_path.name}",
                   artifact_store_options=moto.options())
    yield e
    e.close()


def _objects(engine) -> list[str]:
    fs = engine.blobs.fs
    fs.invalidate_cache()
    return [p for p in fs.find(engine.blobs.root)]


# ---------------------------------------------------------------- local folder

def test_small_specs_stay_inline_and_large_ones_go_to_the_store(local):
    small = local.artifacts.save(ALICE, table(3))
    big = local.artifacts.save(ALICE, table(2000))
    assert local.artifacts.versions(ALICE, small["id"])[0]["stored"] == "inline"
    assert local.artifacts.versions(ALICE, big["id"])[0]["stored"] == "store"
    files = _objects(local)
    assert len(files) == 1 and big["id"] in files[0] and files[0].endswith(".json")
    again = local.artifacts.get(ALICE, big["id"])
    assert again["spec"]["rows"][1999]["customer"] == "cust-001999" and again == big


def test_versions_are_kept_and_any_can_be_read(local):
    art = local.artifacts.save(ALICE, table(2000, tag="one"))
    local.artifacts.add_version(ALICE, art["id"], table(2000, title="Big table, refreshed", tag="two"))
    local.artifacts.add_version(ALICE, art["id"], table(5, tag="three"))  # small again: inline
    versions = local.artifacts.versions(ALICE, art["id"])
    assert [(v["version"], v["stored"]) for v in versions] == [(1, "store"), (2, "store"), (3, "inline")]
    assert local.artifacts.get(ALICE, art["id"])["spec"]["rows"][0]["tag"] == "three"
    assert local.artifacts.get(ALICE, art["id"], 1)["spec"]["rows"][0]["tag"] == "one"
    v2 = local.artifacts.get(ALICE, art["id"], 2)
    assert v2["title"] == "Big table, refreshed" and v2["spec"]["rows"][0]["tag"] == "two"
    with pytest.raises(NotFound):
        local.artifacts.get(ALICE, art["id"], 4)


def test_a_payload_changed_on_disk_is_refused_not_served(local):
    art = local.artifacts.save(ALICE, table(2000))
    (path,) = _objects(local)
    data = json.loads(open(path).read())
    data["rows"][0]["arr"] = 1e9
    open(path, "w").write(json.dumps(data))
    with pytest.raises(PennyError) as e:
        local.artifacts.get(ALICE, art["id"])
    assert e.value.code == "payload_corrupt"


def test_a_failed_write_stores_nothing_and_keeps_the_previous_version(local, monkeypatch):
    art = local.artifacts.save(ALICE, table(2000, tag="one"))
    real_replace = __import__("os").replace

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("penny_jupyter.artifacts.blobs.os.replace", disk_full)
    with pytest.raises(Unavailable) as e:
        local.artifacts.add_version(ALICE, art["id"], table(2000, tag="two"))
    assert "No space left" in e.value.message and "earlier versions are intact" in e.value.message
    monkeypatch.setattr("penny_jupyter.artifacts.blobs.os.replace", real_replace)
    assert [v["version"] for v in local.artifacts.versions(ALICE, art["id"])] == [1]
    assert local.artifacts.get(ALICE, art["id"])["spec"]["rows"][0]["tag"] == "one"
    assert not [p for p in _objects(local) if p.endswith(".part")]  # no half-written file left behind


def test_two_refreshes_at_once_cannot_both_become_the_next_version(local, monkeypatch):
    art = local.artifacts.save(ALICE, table(3))
    real_row = local.artifacts._row
    stale = real_row(ALICE, art["id"])
    local.artifacts.add_version(ALICE, art["id"], table(3, tag="first"))
    monkeypatch.setattr(local.artifacts, "_row", lambda *a, **k: stale)  # the second saw version 1 as latest
    with pytest.raises(Conflict):
        local.artifacts.add_version(ALICE, art["id"], table(2000, tag="second"))
    monkeypatch.setattr(local.artifacts, "_row", real_row)
    assert local.artifacts.get(ALICE, art["id"])["spec"]["rows"][0]["tag"] == "first"
    assert len(_objects(local)) == 0  # the loser's uploaded payload was removed again


# ---------------------------------------------------------------- sharing

def test_an_artifact_is_private_until_shared(local):
    art = local.artifacts.save(ALICE, table(2000))
    for who in (CAROL, DAVE, BOB):
        with pytest.raises(NotFound):
            local.artifacts.get(who, art["id"])
        assert local.artifacts.list(who) == []
    assert art["owner"] == "alice" and art["canShare"] and art["sharing"] == {"tenant": False, "users": []}

    shared = local.artifacts.share(ALICE, art["id"], tenant=False, users=["carol"])
    assert shared["sharing"] == {"tenant": False, "users": ["carol"]}
    seen = local.artifacts.get(CAROL, art["id"])
    assert seen["spec"] == art["spec"] and seen["owner"] == "alice" and not seen["canShare"]
    with pytest.raises(NotFound):
        local.artifacts.get(DAVE, art["id"])

    local.artifacts.share(ALICE, art["id"], tenant=True, users=[])
    assert [a["id"] for a in local.artifacts.list(DAVE)] == [art["id"]]
    with pytest.raises(NotFound):  # the tenant is acme: globex never sees it
        local.artifacts.get(BOB, art["id"])
    assert local.artifacts.list(BOB) == []

    local.artifacts.share(ALICE, art["id"], tenant=False, users=[])
    with pytest.raises(NotFound):
        local.artifacts.get(CAROL, art["id"])


def test_only_the_author_with_a_sharing_role_may_share(local):
    art = local.artifacts.save(ALICE, table(3))
    local.artifacts.share(ALICE, art["id"], tenant=True, users=[])
    with pytest.raises(Forbidden):  # carol can read it, but it is alice's to share
        local.artifacts.share(CAROL, art["id"], tenant=False, users=[])
    with pytest.raises(NotFound):
        local.artifacts.share(BOB, art["id"], tenant=True, users=[])
    mine = local.artifacts.save(DAVE, table(3))
    assert not mine["canShare"]
    with pytest.raises(Forbidden) as e:
        local.artifacts.share(DAVE, mine["id"], tenant=True, users=[])
    assert "viewer" in e.value.message


def test_a_share_naming_someone_of_another_tenant_is_refused(local):
    art = local.artifacts.save(ALICE, table(3))
    with pytest.raises(BadRequest) as e:
        local.artifacts.share(ALICE, art["id"], tenant=False, users=["carol", "bob"])
    assert "'bob' is not in your tenant" in e.value.message
    with pytest.raises(NotFound):
        local.artifacts.get(CAROL, art["id"])  # nothing was half-applied
    with pytest.raises(NotFound):
        local.artifacts.get(BOB, art["id"])


def test_a_refresh_by_an_admin_keeps_the_author_and_a_reader_makes_none(local):
    art = local.artifacts.save(ALICE, table(3))
    local.artifacts.share(ALICE, art["id"], tenant=True, users=[])
    with pytest.raises(Forbidden) as e:
        local.artifacts.add_version(CAROL, art["id"], table(3, tag="carol's"))
    assert e.value.code == "read_only"
    erin = Principal("erin", "acme", frozenset({"member", "admin"}))
    v2 = local.artifacts.add_version(erin, art["id"], table(3, tag="erin's"))
    assert v2["version"] == 2 and v2["owner"] == "alice"
    assert [v["author"] for v in local.artifacts.versions(ALICE, art["id"])] == ["alice", "erin"]
    assert local.artifacts.get(ALICE, art["id"])["canShare"]


# ---------------------------------------------------------------- S3 (moto's server, real HTTP)

def test_on_s3_payloads_upload_fetch_and_keep_their_versions(on_s3):
    art = on_s3.artifacts.save(ALICE, table(2000, tag="one"))
    on_s3.artifacts.add_version(ALICE, art["id"], table(3000, tag="two"))
    keys = _objects(on_s3)
    assert len(keys) == 2 and all(k.startswith("penny-artifacts/") and "/acme/" in k for k in keys)
    assert on_s3.artifacts.get(ALICE, art["id"], 1)["spec"]["rows"][1999]["tag"] == "one"
    latest = on_s3.artifacts.get(ALICE, art["id"])
    assert latest["version"] == 2 and len(latest["spec"]["rows"]) == 3000
    # a fresh engine (a restarted server) reads the same artifact back from S3
    again = Engine(on_s3.config)
    try:
        assert again.artifacts.get(ALICE, art["id"], 1)["spec"] == on_s3.artifacts.get(ALICE, art["id"], 1)["spec"]
    finally:
        again.close()


def test_s3_cut_mid_upload_loses_nothing_and_says_so(tmp_path, moto, db_url):
    proxy = CuttingProxy(moto.port)
    cut = f"cut-{tmp_path.name}"  # the bucket outlives the test (module-scoped): a prefix of its own
    engine = engine_for(tmp_path, db_url, artifact_store_url=f"s3://penny-artifacts/{cut}",
                        artifact_store_options=moto.options(proxy.url))
    try:
        art = engine.artifacts.save(ALICE, table(2000, tag="one"))
        proxy.cut_after(60_000)  # the next upload (~130 KB) dies part-way through its body
        with pytest.raises(Unavailable) as e:
            engine.artifacts.add_version(ALICE, art["id"], table(2000, tag="two"))
        assert proxy.cuts >= 1
        assert f"could not write to the artifact store at s3://penny-artifacts/{cut}" in e.value.message
        assert "earlier versions are intact" in e.value.message and e.value.status == 503
        proxy.cut_after(None)
        assert [v["version"] for v in engine.artifacts.versions(ALICE, art["id"])] == [1]
        assert engine.artifacts.get(ALICE, art["id"])["spec"]["rows"][0]["tag"] == "one"
        assert len([k for k in _objects(engine) if f"/{cut}/" in k]) == 1  # no partial object became visible
    finally:
        engine.close()
        proxy.close()


def test_s3_stopped_then_back(tmp_path, db_url):
    server = MotoS3().start()
    server.make_bucket("outage")
    engine = engine_for(tmp_path, db_url, artifact_store_url="s3://outage/p", artifact_store_options=server.options())
    try:
        art = engine.artifacts.save(ALICE, table(2000, tag="one"))
        server.stop()
        with pytest.raises(Unavailable) as e:
            engine.artifacts.add_version(ALICE, art["id"], table(2000, tag="two"))
        assert "earlier versions are intact" in e.value.message
        with pytest.raises(Unavailable) as e:
            engine.artifacts.get(ALICE, art["id"])
        assert "could not read from the artifact store at s3://outage/p" in e.value.message
        server.start()  # same port, same buckets
        assert [v["version"] for v in engine.artifacts.versions(ALICE, art["id"])] == [1]
        assert engine.artifacts.get(ALICE, art["id"])["spec"]["rows"][0]["tag"] == "one"
    finally:
        engine.close()
        server.stop()


def test_s3_presigned_link_works_and_names_its_expiry(on_s3):
    art = on_s3.artifacts.save(ALICE, table(2000))
    link = on_s3.links.create(ALICE, art["id"], "csv", expires_in=2)
    assert link["storage"] == "s3" and link["url"].startswith("penny/files/")
    # opening the link checks it, then hands out a presigned URL that lives no longer than the link
    url = on_s3.links.open(link["url"].rsplit("/", 1)[1])
    assert url.startswith(on_s3.blobs.fs.client_kwargs["endpoint_url"]) and "X-Amz-Signature=" in url
    got = httpx.get(url)
    assert got.status_code == 200 and got.text.splitlines()[1].startswith("cust-000000,EMEA,0.0")
    assert "attachment" in got.headers["content-disposition"]
    # moto 5.2 checks neither a query-string signature nor its expiry (moto/iam/access_control.py reads only
    # the Authorization header), so the expiry is asserted on the URL that real S3 enforces it from.
    query = dict(httpx.URL(url).params)
    signed_at = dt.datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" and query["X-Amz-Expires"] in ("1", "2")
    assert abs((signed_at - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 60
    assert dt.datetime.fromisoformat(link["expiresAt"].replace("Z", "+00:00")) - signed_at <= dt.timedelta(seconds=3)


def test_s3_link_for_another_tenant_or_unshared_artifact_is_not_made(on_s3):
    art = on_s3.artifacts.save(ALICE, table(3))
    for who in (BOB, CAROL):
        with pytest.raises(NotFound):
            on_s3.links.create(who, art["id"], "json")


def test_a_title_longer_than_the_column_is_cut_on_both_backends(local):
    art = local.artifacts.save(ALICE, table(3, title="T" * 1000))
    assert local.artifacts.get(ALICE, art["id"])["title"] == "T" * 300 == art["title"]
