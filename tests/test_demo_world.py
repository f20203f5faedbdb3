"""The miniature world and its loopback servers: HTTP semantics, faults, Hub metadata, layouts."""

from __future__ import annotations

import hashlib
import json
import socket
import tarfile
import time
import tomllib
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qs, urlsplit

import huggingface_hub
import pytest
import requests
from servers import NginxServer

from wizard.demo import HUB_COMMIT, Fault, MirrorServer, World, build_world
from wizard.demo.world import JPEG_HEAD, JPEG_TAIL, dumps_toml
from wizard.engine.catalog import Catalog, Component, load_catalog, parse_catalog
from wizard.engine.layoutprobe import check_layout

COCO = "images.cocodataset.org/zips/train2017.zip"
HUB_JSON = "sharegpt4v_instruct_gpt4-vision_cap100k.json"
JSON_NAMES = (
    "share-captioner_coco_lcs_sam_1246k_1107.json",
    "sharegpt4v_instruct_gpt4-vision_cap100k.json",
    "sharegpt4v_mix665k_cap23k_coco-ap9k_lcs3k_sam9k_div2k.json",
)


def _file(world: World, rel: str) -> bytes:
    return (world.docroot / rel).read_bytes()


def _raw_get(base_url: str, path: str, extra: str = "") -> tuple[bytes, bytes]:
    """A bare HTTP/1.1 GET that reads until the server closes: (header block, body bytes)."""
    port = int(urlsplit(base_url).port or 80)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


# ------------------------------------------------------------------------------------------
# Plain HTTP semantics
# ------------------------------------------------------------------------------------------
def test_head_and_full_get_carry_validators(world: World, mirror: MirrorServer) -> None:
    data = _file(world, COCO)
    head = requests.head(mirror.url(COCO), timeout=10)
    assert head.status_code == 200
    assert int(head.headers["Content-Length"]) == len(data)
    assert head.headers["Accept-Ranges"] == "bytes"
    etag = head.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert head.headers["Last-Modified"].endswith("GMT")
    with requests.get(mirror.url(COCO), timeout=10) as full:
        assert full.status_code == 200 and full.content == data
        assert full.headers["ETag"] == etag


def test_ranges_give_206_with_content_range(world: World, mirror: MirrorServer) -> None:
    data = _file(world, COCO)
    total = len(data)
    with requests.get(mirror.url(COCO), headers={"Range": "bytes=100-199"}, timeout=10) as r:
        assert r.status_code == 206
        assert r.headers["Content-Range"] == f"bytes 100-199/{total}"
        assert r.content == data[100:200]
    with requests.get(mirror.url(COCO), headers={"Range": "bytes=1000-"}, timeout=10) as r:
        assert r.status_code == 206
        assert r.headers["Content-Range"] == f"bytes 1000-{total - 1}/{total}"
        assert r.content == data[1000:]
    with requests.get(mirror.url(COCO), headers={"Range": f"bytes=10-{total + 50}"}, timeout=10) as r:
        assert r.status_code == 206 and r.content == data[10:]
    with requests.get(mirror.url(COCO), headers={"Range": "bytes=-16"}, timeout=10) as r:
        assert r.status_code == 206 and r.content == data[-16:]


def test_unsatisfiable_range_is_416(world: World, mirror: MirrorServer) -> None:
    total = len(_file(world, COCO))
    for first in (total, total + 10):
        with requests.get(mirror.url(COCO), headers={"Range": f"bytes={first}-"}, timeout=10) as r:
            assert r.status_code == 416
            assert r.headers["Content-Range"] == f"bytes */{total}"


def test_if_range_honoured_only_when_validator_matches(world: World, mirror: MirrorServer) -> None:
    data = _file(world, COCO)
    head = requests.head(mirror.url(COCO), timeout=10)
    for validator in (head.headers["ETag"], head.headers["Last-Modified"]):
        with requests.get(mirror.url(COCO), headers={"Range": "bytes=50-", "If-Range": validator},
                          timeout=10) as r:
            assert r.status_code == 206 and r.content == data[50:]
    with requests.get(mirror.url(COCO), headers={"Range": "bytes=50-", "If-Range": '"stale-etag"'},
                      timeout=10) as r:
        assert r.status_code == 200 and r.content == data
    recorded = [q for q in mirror.requests if q.method == "GET"]
    assert [q.status for q in recorded] == [206, 206, 200]
    assert recorded[-1].headers["If-Range"] == '"stale-etag"'
    assert recorded[-1].headers["Range"] == "bytes=50-"


def test_query_strings_are_ignored_and_missing_files_404(world: World, mirror: MirrorServer) -> None:
    tar = world.sam_tars[7].path
    with requests.get(mirror.url(tar) + "?_nc_cat=1&oe=699024E8", timeout=10) as r:
        assert r.status_code == 200 and r.content == _file(world, tar)
    assert mirror.requests[-1].query == "_nc_cat=1&oe=699024E8"
    assert mirror.requests[-1].path == "/" + tar
    assert requests.get(mirror.url("nope/missing.zip"), timeout=10).status_code == 404
    assert requests.get(mirror.url("../etc/passwd"), timeout=10).status_code == 404


def test_drive_routes_serve_files_and_folder_listings(world: World, mirror: MirrorServer) -> None:
    catalog = load_catalog(world.write_catalog(mirror.base_url, world.docroot.parent / "c.toml"))
    sam9k = catalog.component("sam-9k").sources[0]
    url = catalog.drive_file_url.format(id=sam9k.id)
    with requests.get(url, timeout=10) as r:
        assert r.status_code == 200 and len(r.content) == sam9k.size
        assert hashlib.sha256(r.content).hexdigest() == sam9k.sha256
    ocr = catalog.component("ocr-vqa").sources[0]
    for folder in (catalog.drive_folder_url.format(id=ocr.folder_id),
                   catalog.drive_folder_url.format(id=ocr.folder_id) + "/"):
        listing = requests.get(folder, timeout=10).json()
        assert {e["name"] for e in listing} == {"dataset.json", "loadDataset.py"}
        assert all(e["type"] == "file" and e["size"] > 0 for e in listing)
    web = catalog.component("wikiart").sources[0]
    listing = requests.get(catalog.drive_folder_url.format(id=web.folder_id), timeout=10).json()
    assert {e["name"] for e in listing} == {
        "web-celebrity.zip", "web-landmark.zip", "wikiart.zip", "share_textvqa.zip"}


# ------------------------------------------------------------------------------------------
# Faults
# ------------------------------------------------------------------------------------------
def test_drop_after_truncates_then_recovers(world: World, mirror: MirrorServer) -> None:
    data = _file(world, COCO)
    mirror.add_fault("/images.cocodataset.org/", Fault(drop_after=1000, methods=("GET",)))
    head_reply = requests.head(mirror.url(COCO), timeout=10)  # HEAD does not consume a GET fault
    assert head_reply.status_code == 200
    head, body = _raw_get(mirror.base_url, "/" + COCO)
    assert head.startswith(b"HTTP/1.1 200")
    assert f"Content-Length: {len(data)}".encode() in head
    assert body == data[:1000]
    assert mirror.requests[-1].faulted and mirror.requests[-1].sent == 1000
    with requests.get(mirror.url(COCO), timeout=10) as r:
        assert r.content == data


def test_drop_after_on_a_range_request_breaks_requests(world: World, mirror: MirrorServer) -> None:
    mirror.add_fault("/" + COCO, Fault(drop_after=10))
    with pytest.raises(requests.exceptions.ChunkedEncodingError), \
            requests.get(mirror.url(COCO), headers={"Range": "bytes=100-"}, timeout=10) as r:
        assert r.status_code == 206
        _ = r.content
    assert mirror.requests[-1].status == 206 and mirror.requests[-1].sent == 10


@pytest.mark.parametrize("status", [403, 404, 429, 500, 503])
def test_status_faults_with_retry_after(world: World, mirror: MirrorServer, status: int) -> None:
    mirror.add_fault("/sam/", Fault(status=status, retry_after="7", times=2))
    url = mirror.url(world.sam_tars[0].path)
    for _ in range(2):
        r = requests.get(url, timeout=10)
        assert r.status_code == status
        assert r.headers["Retry-After"] == "7"
    ok = requests.get(url, timeout=10)
    assert ok.status_code == 200 and ok.content == _file(world, world.sam_tars[0].path)
    assert [q.faulted for q in mirror.requests] == [True, True, False]


def test_faults_apply_in_order_and_forever_until_cleared(world: World, mirror: MirrorServer) -> None:
    url = mirror.url(COCO)
    mirror.add_fault("/images.cocodataset.org", Fault(status=503))
    mirror.add_fault("/images.cocodataset.org", Fault(status=500, times=None))
    assert [requests.head(url, timeout=10).status_code for _ in range(3)] == [503, 500, 500]
    mirror.clear_faults()
    assert requests.head(url, timeout=10).status_code == 200
    assert requests.head(mirror.url(world.sam_tars[0].path), timeout=10).status_code == 200


def test_ignore_range_sends_the_full_body(world: World, mirror: MirrorServer) -> None:
    data = _file(world, COCO)
    mirror.add_fault("/" + COCO, Fault(ignore_range=True))
    with requests.get(mirror.url(COCO), headers={"Range": "bytes=500-"}, timeout=10) as r:
        assert r.status_code == 200 and r.content == data
        assert "Content-Range" not in r.headers
    with requests.get(mirror.url(COCO), headers={"Range": "bytes=500-"}, timeout=10) as r:
        assert r.status_code == 206


def test_etag_override_simulates_an_upstream_change(world: World, mirror: MirrorServer) -> None:
    data = _file(world, COCO)
    old = requests.head(mirror.url(COCO), timeout=10).headers["ETag"]
    mirror.add_fault("/" + COCO, Fault(etag='"changed-upstream"', times=None))
    assert requests.head(mirror.url(COCO), timeout=10).headers["ETag"] == '"changed-upstream"'
    with requests.get(mirror.url(COCO), headers={"Range": "bytes=10-", "If-Range": old}, timeout=10) as r:
        assert r.status_code == 200 and r.content == data
    with requests.get(mirror.url(COCO), headers={"Range": "bytes=10-", "If-Range": '"changed-upstream"'},
                      timeout=10) as r:
        assert r.status_code == 206 and r.content == data[10:]


def test_delay_causes_client_timeouts(world: World, mirror: MirrorServer) -> None:
    mirror.add_fault("/" + COCO, Fault(delay=30.0))
    with pytest.raises(requests.exceptions.ReadTimeout):  # the answer is held back past the client's timeout
        requests.get(mirror.url(COCO), timeout=0.3)


def test_rate_throttles_the_body(world: World) -> None:
    data = _file(world, COCO)
    waits: list[float] = []
    with MirrorServer(world.docroot) as server:
        server.clock = lambda: 0.0  # a clock that stands still: every wait is the whole lead so far
        server.pause = lambda seconds: bool(waits.append(seconds))
        server.add_fault("/" + COCO, Fault(rate=len(data) * 2))
        with requests.get(server.url(COCO), timeout=10) as r:
            assert r.content == data
    # The body went out in small pieces, each held back until the rate allowed it: half a second in all.
    assert len(waits) >= 10 and waits == sorted(waits) and waits[-1] == pytest.approx(0.5)


def test_stop_interrupts_a_slow_response(world: World) -> None:
    server = MirrorServer(world.docroot).start()
    server.add_fault("/", Fault(delay=30))
    url = server.url(COCO)
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        sock.sendall(f"GET /{COCO} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        time.sleep(0.1)
        server.stop()
        # Cut without an answer: a handler still in its 30 s delay would leave the socket open
        # (recv would time out after 10 s instead of reading the end).
        assert sock.recv(100) == b""
    finally:
        sock.close()
    with pytest.raises(RuntimeError):
        _ = server.base_url
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url, timeout=2)


# ------------------------------------------------------------------------------------------
# Hub metadata through the real library
# ------------------------------------------------------------------------------------------
def _hub_meta(endpoint: str, repo: str, name: str) -> huggingface_hub.HfFileMetadata:
    url = huggingface_hub.hf_hub_url(repo, name, repo_type="dataset", endpoint=endpoint)
    return huggingface_hub.get_hf_file_metadata(url)


def test_hub_metadata_from_mirror(world: World, mirror: MirrorServer) -> None:
    for name in JSON_NAMES:
        rel = f"hub/Lin-Chen/ShareGPT4V/{name}"
        data = _file(world, rel)
        meta = _hub_meta(mirror.base_url, "Lin-Chen/ShareGPT4V", name)
        assert meta.size == len(data)
        assert meta.commit_hash == HUB_COMMIT
        assert meta.etag == hashlib.sha256(data).hexdigest()  # X-Linked-Etag, like LFS files
    meta = _hub_meta(mirror.base_url, "liuhaotian/LLaVA-Pretrain", "images.zip")
    assert meta.size == len(_file(world, "hub/liuhaotian/LLaVA-Pretrain/images.zip"))
    with pytest.raises(huggingface_hub.errors.EntryNotFoundError):
        _hub_meta(mirror.base_url, "Lin-Chen/ShareGPT4V", "missing.json")


def test_hub_download_through_the_library(world: World, mirror: MirrorServer, tmp_path: Path) -> None:
    got = huggingface_hub.hf_hub_download("Lin-Chen/ShareGPT4V", HUB_JSON, repo_type="dataset",
                                          endpoint=mirror.base_url, local_dir=tmp_path / "out",
                                          cache_dir=tmp_path / "cache")
    assert Path(got).read_bytes() == _file(world, f"hub/Lin-Chen/ShareGPT4V/{HUB_JSON}")


def test_hub_resolve_route_supports_ranges(world: World, mirror: MirrorServer) -> None:
    data = _file(world, "hub/liuhaotian/LLaVA-Pretrain/images.zip")
    url = huggingface_hub.hf_hub_url("liuhaotian/LLaVA-Pretrain", "images.zip", repo_type="dataset",
                                     endpoint=mirror.base_url)
    head = requests.head(url, timeout=10)
    assert head.headers["X-Repo-Commit"] == HUB_COMMIT
    assert head.headers["X-Linked-Size"] == str(len(data))
    for validator in (head.headers["ETag"], head.headers["X-Linked-Etag"]):
        with requests.get(url, headers={"Range": "bytes=7-", "If-Range": validator}, timeout=10) as r:
            assert r.status_code == 206 and r.content == data[7:]


def test_hub_metadata_from_nginx(world: World, nginx_mirror: NginxServer) -> None:
    data = _file(world, f"hub/Lin-Chen/ShareGPT4V/{HUB_JSON}")
    meta = _hub_meta(nginx_mirror.base_url, "Lin-Chen/ShareGPT4V", HUB_JSON)
    assert meta.size == len(data)
    assert meta.commit_hash == HUB_COMMIT
    assert meta.etag
    url = huggingface_hub.hf_hub_url("Lin-Chen/ShareGPT4V", HUB_JSON, repo_type="dataset",
                                     endpoint=nginx_mirror.base_url)
    with requests.get(url, headers={"Range": "bytes=5-"}, timeout=10) as r:
        assert r.status_code == 206 and r.content == data[5:]


def test_nginx_serves_ranges_if_range_and_416(world: World, nginx_mirror: NginxServer) -> None:
    data = _file(world, COCO)
    url = f"{nginx_mirror.base_url}/{COCO}?ignored=1"
    etag = requests.head(url, timeout=10).headers["ETag"]
    with requests.get(url, headers={"Range": "bytes=20-", "If-Range": etag}, timeout=10) as r:
        assert r.status_code == 206 and r.content == data[20:]
    with requests.get(url, headers={"Range": "bytes=20-", "If-Range": '"other"'}, timeout=10) as r:
        assert r.status_code == 200 and r.content == data
    with requests.get(url, headers={"Range": f"bytes={len(data)}-"}, timeout=10) as r:
        assert r.status_code == 416 and r.headers["Content-Range"] == f"bytes */{len(data)}"


def test_nginx_catalog_sources_are_served(nginx_catalog: Path, nginx_mirror: NginxServer) -> None:
    catalog = load_catalog(nginx_catalog)
    assert catalog.hub_endpoint == nginx_mirror.base_url
    for comp in catalog.components:
        for src in comp.sources:
            if src.kind == "http":
                head = requests.head(src.url, timeout=10)
                assert head.status_code == 200 and int(head.headers["Content-Length"]) == src.size


# ------------------------------------------------------------------------------------------
# The catalog for the world
# ------------------------------------------------------------------------------------------
def _source_url(catalog: Catalog, comp: Component, index: int) -> str | None:
    src = comp.sources[index]
    if src.kind == "http":
        return src.url
    if src.kind == "hub":
        return huggingface_hub.hf_hub_url(src.repo, src.path, repo_type=src.repo_type,
                                          endpoint=catalog.hub_endpoint)
    if src.kind == "drive":
        return catalog.drive_file_url.format(id=src.id)
    return None


def test_catalog_points_at_loopback_with_exact_sizes(world: World, mirror: MirrorServer,
                                                     demo_catalog: Path) -> None:
    catalog = load_catalog(demo_catalog)
    real = load_catalog()
    assert catalog.hub_endpoint == mirror.base_url
    assert catalog.drive_file_url.startswith(mirror.base_url + "/")
    assert catalog.drive_folder_url.startswith(mirror.base_url + "/")
    assert [c.id for c in catalog.components] == [c.id for c in real.components]
    assert set(world.components_served) == {c.id for c in real.components}
    assert catalog.presets == real.presets
    checked = 0
    for comp, real_comp in zip(catalog.components, real.components, strict=True):
        assert (comp.target, comp.layout, comp.archive) == (real_comp.target, real_comp.layout,
                                                            real_comp.archive)
        assert [s.kind for s in comp.sources] == [s.kind for s in real_comp.sources]
        assert comp.file_count == len(world.expected_tree([comp.id]))
        assert comp.approx_extracted == sum(world.expected_sizes([comp.id]).values())
        for index, src in enumerate(comp.sources):
            url = _source_url(catalog, comp, index)
            if url is None:
                continue
            assert urlsplit(url).hostname == "127.0.0.1"
            assert src.size is not None and src.sha256 is not None and src.approx_size is None
            with requests.get(url, timeout=10) as r:
                assert r.status_code == 200, url
                assert len(r.content) == src.size
                assert hashlib.sha256(r.content).hexdigest() == src.sha256
            checked += 1
    assert checked == sum(s.kind in ("http", "hub", "drive") for c in real.components for s in c.sources)
    assert checked >= 19


def test_catalog_text_round_trips(world: World) -> None:
    base = "http://127.0.0.1:8765"
    data = world.catalog_data(base)
    text = world.catalog_text(base)
    assert tomllib.loads(text) == data
    assert tomllib.loads(dumps_toml(data)) == data
    catalog = parse_catalog(tomllib.loads(text))
    assert catalog.hub_endpoint == base
    tricky = {"a": "quote \" back \\ tab \t nl \n del \x7f é", "n": [1, 2], "t": {"x": True}}
    assert tomllib.loads(dumps_toml(tricky)) == tricky


def test_sam_links_file(world: World, mirror: MirrorServer, tmp_path: Path) -> None:
    expires = int(time.time()) + 30 * 24 * 3600
    path = world.sam_links_file(mirror.base_url, tmp_path / "links.tsv", expires=expires)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "file_name\tcdn_link"
    rows = [line.split("\t") for line in lines[1:]]
    names = [name for name, _ in rows]
    extras = {"sa_images_ids.txt", "sa_co_gold.tar", "sa_000999.tar"}  # listed by Meta, not needed here
    assert sorted(n for n in names if n not in extras) == [f"sa_{i:06d}.tar" for i in range(51)]
    assert extras <= set(names)
    assert names != sorted(names)  # Meta's files are not in numeric order
    rows = [(name, link) for name, link in rows if name not in extras]
    for name, link in rows:
        parts = urlsplit(link)
        assert parts.hostname == "127.0.0.1" and parts.path == f"/sam/{name}"
        oe = parse_qs(parts.query)["oe"][0]
        assert len(oe) == 8 and int(oe, 16) == expires
    name, link = rows[0]
    with requests.get(link, timeout=10) as r:
        assert r.status_code == 200 and r.content == _file(world, f"sam/{name}")


# ------------------------------------------------------------------------------------------
# The archives really produce the expected tree
# ------------------------------------------------------------------------------------------
def _members(path: Path, archive: str) -> list[str]:
    if archive == "zip":
        with zipfile.ZipFile(path) as zf:
            return zf.namelist()
    with tarfile.open(path) as tf:
        return [m.name + ("/" if m.isdir() else "") for m in tf.getmembers()]


def test_archives_map_to_the_expected_tree(world: World, mirror: MirrorServer, demo_catalog: Path) -> None:
    catalog = load_catalog(demo_catalog)
    for comp in catalog.components:
        expected = world.expected_tree([comp.id])
        assert expected, comp.id
        if comp.archive == "none":
            continue
        if comp.id == "sam-tars":
            archives = [world.docroot / t.path for t in world.sam_tars]
        else:
            archives = [world.docroot / s.path for s in world.components[comp.id].served if s]
        produced: set[str] = set()
        for archive in archives:
            names = _members(archive, comp.archive)
            # The layout the app uses: the catalog's, or the one other prefix the probe adapts to.
            layout = check_layout(names, comp.layout, archive.name).layout if comp.archive == "zip" else comp.layout
            assert (layout != comp.layout) is (comp.id == "textvqa"), comp.id  # only TextVQA's is disputed
            mapped = {layout.map(m) for m in names}
            produced |= {f"{comp.target}/{m}" for m in mapped if m is not None}
        assert produced == expected, comp.id


def test_sam_tars_hold_jpg_and_json_with_dot_prefix(world: World) -> None:
    assert len(world.sam_tars) == 51
    seen: set[str] = set()
    for tar in world.sam_tars:
        with tarfile.open(world.docroot / tar.path) as tf:
            files = [m.name for m in tf.getmembers() if m.isfile()]
            assert files and all(n.startswith("./sa_") for n in files)
            assert {PurePosixPath(n).suffix for n in files} == {".jpg", ".json"}
            for member in tf.getmembers():
                if member.name.endswith(".jpg"):
                    handle = tf.extractfile(member)
                    assert handle is not None
                    blob = handle.read()
                    assert blob.startswith(JPEG_HEAD) and blob.endswith(JPEG_TAIL)
        jpgs = {n for n in files if n.endswith(".jpg")}
        assert not jpgs & seen
        seen |= jpgs


def test_image_files_are_distinct_jpegs_and_wikiart_names_are_utf8(world: World) -> None:
    digests: set[str] = set()
    count = 0
    for cid in ("coco-train2017", "llava-pretrain", "wikiart", "sam-9k", "vg-part2"):
        served = world.components[cid].served[0]
        assert served is not None
        with zipfile.ZipFile(world.docroot / served.path) as zf:
            for info in zf.infolist():
                if info.is_dir():
                    continue
                blob = zf.read(info)
                assert blob.startswith(b"\xff\xd8\xff\xe0") and blob.endswith(b"\xff\xd9")
                assert 1000 < len(blob) < 8000
                digests.add(hashlib.sha256(blob).hexdigest())
                count += 1
                if cid == "wikiart" and not info.filename.isascii():
                    assert info.flag_bits & 0x800  # UTF-8 name flag
    assert len(digests) == count
    assert "wikiart/images/andré-derain_the-port.jpg" in world.expected_tree(["wikiart"])
    assert "web-celebrity/images/Luke_Evans.jpg" in world.expected_tree(["web-celebrity"])
    assert "llava/llava_pretrain/images/00011/000114116.jpg" in world.expected_tree(["llava-pretrain"])


def test_ocr_vqa_dataset_alive_dead_gif_png(world: World, mirror: MirrorServer, demo_catalog: Path) -> None:
    dataset = requests.get(mirror.url(world.ocr_dataset_path), timeout=10).json()
    assert isinstance(dataset, dict) and len(dataset) == len(world.ocr_images)
    alive: set[str] = set()
    kinds: set[bytes] = set()
    for key, record in dataset.items():
        assert {"imageURL", "questions", "answers", "title", "authorName", "genre", "split"} <= set(record)
        url = record["imageURL"]
        assert url.startswith(mirror.base_url + "/amazon/images/I/")
        with requests.get(url, timeout=10) as r:
            if r.status_code == 200 and key in world.ocr_placeholders:
                assert len(r.content) == 43 and r.content.startswith(b"GIF89a\x01\x00\x01\x00")
            elif r.status_code == 200:
                alive.add(key)
                kinds.add(r.content[:4])
            else:
                assert r.status_code == 404
    assert {f"ocr_vqa/images/{k}.jpg" for k in alive} == world.expected_tree(["ocr-vqa"])
    assert world.ocr_dead_keys == set(dataset) - alive and len(world.ocr_dead_keys) >= 2
    assert kinds == {b"\xff\xd8\xff\xe0", b"GIF8", b"\x89PNG"}
    assert any(r["imageURL"].endswith(".png") for r in dataset.values())


def test_annotation_jsons_reference_what_the_archives_produce(world: World) -> None:
    every = world.expected_tree(world.components_served)
    prefixes = {
        "json-pt": {"coco", "llava", "sam"},
        "json-cap100k": {"coco", "sam", "llava", "web-celebrity", "web-landmark", "wikiart",
                         "share_textvqa"},
        "json-sft": {"coco", "gqa", "ocr_vqa", "textvqa", "vg", "llava", "sam", "web-celebrity",
                     "web-landmark", "wikiart", "share_textvqa"},
    }
    for cid, name in zip(("json-pt", "json-cap100k", "json-sft"), JSON_NAMES, strict=True):
        assert world.expected_tree([cid]) == {f"sharegpt4v/{name}"}
        records = json.loads(_file(world, f"hub/Lin-Chen/ShareGPT4V/{name}"))
        images = [r["image"] for r in records if "image" in r]
        assert set(images) <= every
        assert {i.split("/")[0] for i in images} == prefixes[cid]
        for record in records:
            assert record["conversations"][0]["from"] == "human"
            assert record["conversations"][1]["from"] == "gpt"
            assert record["conversations"][0]["value"].startswith("<image>\n") == ("image" in record)
        text_only = [r for r in records if "image" not in r]
        assert (len(text_only) > 0) == (cid == "json-sft")
    sft = json.loads(_file(world, f"hub/Lin-Chen/ShareGPT4V/{JSON_NAMES[2]}"))
    sam_in_sft = {r["image"] for r in sft if r.get("image", "").startswith("sam/")}
    assert sam_in_sft == world.expected_tree(["sam-9k"])
    pt = json.loads(_file(world, f"hub/Lin-Chen/ShareGPT4V/{JSON_NAMES[0]}"))
    assert {r["image"] for r in pt if r["image"].startswith("sam/")} == world.expected_tree(["sam-tars"])


def test_world_is_deterministic(world: World, tmp_path: Path) -> None:
    again = build_world(tmp_path / "again", base_url="http://127.0.0.1:1")
    world.bind("http://127.0.0.1:1")
    ours = {p.relative_to(world.docroot): p for p in world.docroot.rglob("*") if p.is_file()}
    theirs = {p.relative_to(again.docroot): p for p in again.docroot.rglob("*") if p.is_file()}
    assert ours.keys() == theirs.keys()
    assert all(ours[k].read_bytes() == theirs[k].read_bytes() for k in ours)
    with pytest.raises(KeyError):
        world.expected_tree(["no-such-component"])
