"""Store and fetch a 1 MB artifact (save() then get() of a new version), on the local folder and on S3
(moto's server on loopback), beside a bare fsspec put + get of the same bytes on the same store, timed
alternately in the same run. Both sides turn the spec into JSON bytes and back with the same encoder
(orjson), which any store of a dict must do; so the ratio is what Penny's store adds (its database rows,
the SHA-256 check, the atomic write) over the bare minimum."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from _report import interleaved, p50, report  # noqa: E402

import orjson  # noqa: E402

from penny_jupyter.engine import Engine  # noqa: E402
from penny_jupyter.settings import PennyConfig  # noqa: E402
from penny_jupyter.tenancy import Principal  # noqa: E402
from penny_jupyter.tools.base import ArtifactDraft  # noqa: E402

WHO = Principal("bench", "demo", frozenset({"member"}))


def one_megabyte() -> ArtifactDraft:
    rows = [{"customer": f"cust-{i:06d}", "region": ["EMEA", "AMER", "APAC"][i % 3], "arr": i * 10.25,
             "plan": "enterprise" if i % 7 == 0 else "team"} for i in range(14_000)]
    draft = ArtifactDraft(type="table", title="Customers", spec={"columns": [{"name": k} for k in rows[0]],
                                                                 "rows": rows}, source={"tool": "run_sql"})
    size = len(orjson.dumps(draft.spec))
    assert 0.95e6 < size < 1.1e6, size
    return draft


def measure(name: str, engine: Engine, target_ms: float, runs: int) -> None:
    draft = one_megabyte()
    store, blobs = engine.artifacts, engine.blobs
    art = store.save(WHO, draft)
    counter = [0]

    def ours():
        store.add_version(WHO, art["id"], draft)
        got = store.get(WHO, art["id"])
        assert len(got["spec"]["rows"]) == 14_000

    def bare():
        counter[0] += 1
        path = f"{blobs.root}/bare/{counter[0]}.json"
        blobs.fs.pipe_file(path, orjson.dumps(draft.spec))
        got = orjson.loads(blobs.fs.cat_file(path))
        assert len(got["rows"]) == 14_000

    if blobs.is_local:
        Path(blobs.root, "bare").mkdir(parents=True, exist_ok=True)
    a, b = interleaved(ours, bare, runs=runs, warmup=3)
    ms, base = p50(a), p50(b)
    ratio = ms / base
    report(name, f"{ms:.1f} ms p50 store+fetch of 1 MB, ratio {ratio:.2f} vs bare fsspec put+get {base:.1f} ms "
           f"(target p50 <= {target_ms:g} ms, ratio <= 1.3)", ms <= target_ms and ratio <= 1.3)


def main() -> None:
    from tests.s3_server import MotoS3

    with tempfile.TemporaryDirectory() as d:
        local = Engine(PennyConfig(data_dir=d, as_of="2026-11-18"))
        measure("artifact_store_local", local, 20, runs=40)
        local.close()

        s3 = MotoS3().start()
        s3.make_bucket("bench")
        remote = Engine(PennyConfig(data_dir=str(Path(d) / "s3"), as_of="2026-11-18",
                                    artifact_store_url="s3://bench/artifacts", artifact_store_options=s3.options()))
        measure("artifact_store_s3", remote, 150, runs=25)
        remote.close()
        s3.stop()


if __name__ == "__main__":
    main()
