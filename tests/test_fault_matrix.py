"""One network policy for every source kind: each fault row against each kind, on fake time.

A :class:`~faultserver.FaultServer` on 127.0.0.1 misbehaves once (or for a while) and the
source's own entry point must end with the exact bytes in place, having waited what the policy
says (``Retry-After`` in seconds or as an HTTP date, jittered back-off), or — for a body that
never ends — with ``body-too-long`` and nothing kept past the bound. The kinds: ``http``,
``hub`` (its metadata HEAD too), ``drive`` (a loopback URL: gdown's plain-GET path, not Drive's
pages), ``sam-links`` (a tar extracted while it streams) and ``ocrvqa`` (one image). ``local``
copies files from disk and has no network, so it has no row here.

Sleeps go to a fake clock (the job's Control), so the waits are asserted exactly and the test
is fast; only the stall row waits for a real read timeout (0.5 s).
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from faultserver import FaultRule, FaultServer, http_date
from helpers import fast_settings, make_ctx, sha256

from wizard.engine.catalog import Catalog, Component, Layout, Source
from wizard.engine.context import JobContext
from wizard.engine.control import Control
from wizard.engine.errors import Code, SetupError
from wizard.engine.net.bounds import MARGIN
from wizard.engine.net.ratelimit import NetShared
from wizard.engine.sources import kind_of, samlinks

START = 1_800_000_000.0  # the fake wall clock's start (a whole second: HTTP dates have no fractions)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + os.urandom(40_000)
DATA = os.urandom(300_000)


class FakeClock(Control):
    """The job's Control: sleeps are recorded and advance a fake wall clock, nothing waits."""

    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def wall(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.checkpoint()
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


def _tar() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name in ("sa_1.jpg", "sa_2.jpg"):
            info = tarfile.TarInfo(name)
            info.size = len(JPEG)
            tf.addfile(info, io.BytesIO(JPEG))
    return out.getvalue()


TAR = _tar()


@dataclass
class Kind:
    """How to run one source kind against the fault server, and where its faults go."""

    name: str
    prefix: str  # the URL path prefix of its bytes (faults are added there)
    run: Callable[[JobContext, FaultServer, Path], None]  # raises SetupError on failure
    check: Callable[[Path], None]  # the bytes are in place, exactly


def _catalog(server: FaultServer) -> Catalog:
    return Catalog((), (), server.base_url, drive_file_url=server.base_url + "/drive/{id}",
                   drive_folder_url=server.base_url + "/folders/{id}")


def _component(source: Source, target: str, layout: Layout | None = None) -> Component:
    return Component("c", "C", "images", "", target, "none", (source,), layout or Layout())


def _single(kind: str, source: Source) -> Callable[[JobContext, FaultServer, Path], None]:
    def run(ctx: JobContext, server: FaultServer, root: Path) -> None:
        for path in kind_of(kind).fetch(ctx, _component(source, "out"), source, _catalog(server)):
            os.replace(path, root / "result.bin")
    return run


def _check_single(root: Path) -> None:
    assert (root / "result.bin").read_bytes() == DATA


def _run_hub(ctx: JobContext, server: FaultServer, root: Path) -> None:
    source = Source("hub", "hub", repo="ns/name", path="data.bin", size=len(DATA), sha256=sha256(DATA))
    ctx.settings.hf_endpoint = server.base_url
    _single("hub", source)(ctx, server, root)


def _run_sam(ctx: JobContext, server: FaultServer, root: Path) -> None:
    links = root / "links.tsv"
    links.write_text(f"file_name\tcdn_link\nsa_000000.tar\t{server.url('/sam/sa_000000.tar')}"
                     f"?oe={int(START) + 30 * 86400:x}&_nc_sig=secret\n", encoding="utf-8")
    ctx.settings.sam_links = links
    source = Source("sam-links", "sam", name_format="sa_{index:06d}.tar", first=0, last=0, approx_size=len(TAR))
    comp = _component(source, "sam/images", Layout(include=("*.jpg",)))
    results = list(samlinks.fetch_streamed(ctx, comp, source, _catalog(server)))
    assert len(results) == 1


def _check_sam(root: Path) -> None:
    assert sorted(p.name for p in (root / "sam/images").iterdir()) == ["sa_1.jpg", "sa_2.jpg"]
    assert all(p.read_bytes() == JPEG for p in (root / "sam/images").iterdir())


def _run_ocr(ctx: JobContext, server: FaultServer, root: Path) -> None:
    server.files["/folders/OCRF/dataset.json"] = json.dumps({"k1": {"imageURL": server.url("/img/k1.jpg")}}).encode()
    server.listings["OCRF"] = ["dataset.json"]
    source = Source("ocrvqa", "ocr", folder_id="OCRF", filename="dataset.json")
    for _ in kind_of("ocrvqa").fetch(ctx, _component(source, "ocr_vqa/images"), source, _catalog(server)):
        pass
    rows = ctx.journal.items(ctx.job)
    assert len(rows) == 1
    key, _url, status, _http, detail = rows[0]
    if status != "saved":  # an image is recorded dead with the reason, the job itself goes on
        raise SetupError(Code.BODY_TOO_LONG if (detail or "").startswith("body-too-long") else Code.NETWORK,
                         f"{key}: {detail}")


def _check_ocr(root: Path) -> None:
    assert (root / "ocr_vqa/images/k1.jpg").read_bytes() == JPEG


KINDS = {
    "http": Kind("http", "/files/", _single("http", Source("http", "plain", url="", size=len(DATA),
                                                              sha256=sha256(DATA))), _check_single),
    "hub": Kind("hub", "/datasets/", _run_hub, _check_single),
    "drive": Kind("drive", "/drive/", _single("drive", Source("drive", "drive", id="FILEID", size=len(DATA),
                                                                sha256=sha256(DATA))), _check_single),
    "sam-links": Kind("sam-links", "/sam/", _run_sam, _check_sam),
    "ocrvqa": Kind("ocrvqa", "/img/", _run_ocr, _check_ocr),
}


@dataclass(frozen=True)
class Row:
    """One fault: the rules to queue, and what the policy must have waited (fake seconds)."""

    rules: Callable[[FakeClock], list[FaultRule]]
    waits: tuple[float, ...] = ()
    outcome: Code | None = None  # None: the exact bytes arrive
    head: bool = False  # the rules are for the Hub's metadata HEAD (hub only)


ROWS = {
    "429-retry-after-seconds": Row(lambda c: [FaultRule(status=429, retry_after="7")], waits=(7.0,)),
    "429-retry-after-date": Row(lambda c: [FaultRule(status=429, retry_after=lambda: http_date(c.now + 30))],
                                waits=(30.0,)),
    "5xx-storm": Row(lambda c: [FaultRule(status=s) for s in (500, 502, 503, 504, 503)]),
    "redirect-loop": Row(lambda c: [FaultRule(redirect_loop=35)]),
    "redirect-to-file": Row(lambda c: [FaultRule(redirect_to="file:///etc/passwd")]),
    "stall": Row(lambda c: [FaultRule(stall=5.0)]),
    "body-longer-than-declared": Row(lambda c: [FaultRule(extra=1 << 20)]),
    "endless-body": Row(lambda c: [FaultRule(endless=True, times=None)], outcome=Code.BODY_TOO_LONG),
    "hub-head-429-retry-after-seconds": Row(lambda c: [FaultRule(status=429, retry_after="7", methods=("HEAD",))],
                                            waits=(7.0,), head=True),
    "hub-head-429-retry-after-date": Row(lambda c: [FaultRule(status=429, methods=("HEAD",),
                                                              retry_after=lambda: http_date(c.now + 30))],
                                         waits=(30.0,), head=True),
    "hub-head-5xx-storm": Row(lambda c: [FaultRule(status=s, methods=("HEAD",)) for s in (502, 503, 500)],
                              head=True),
}
CASES = [(k, r) for r in ROWS for k in KINDS if not ROWS[r].head or k == "hub"]


@pytest.fixture()
def server() -> Iterator[FaultServer]:
    with FaultServer({"/files/data.bin": DATA, "/hub/ns/name/data.bin": DATA, "/drive/FILEID": DATA,
                      "/sam/sa_000000.tar": TAR, "/img/k1.jpg": JPEG}) as srv:
        yield srv


@pytest.mark.parametrize(("kind", "row"), CASES, ids=[f"{k}-{r}" for k, r in CASES])
def test_fault_row_through_every_source_kind(kind: str, row: str, server: FaultServer, tmp_path: Path) -> None:
    spec, fault = KINDS[kind], ROWS[row]
    clock = FakeClock()
    settings = fast_settings(backoff=1.0, backoff_cap=10.0, retries=6, ocr_retries=6, ocr_workers=1,
                             read_timeout=0.5, connect_timeout=2.0, min_free_bytes=0)
    root = tmp_path / "root"
    ctx, rec = make_ctx(root, settings, job="fault", control=clock,
                        net=NetShared(wall=clock.wall, rand=lambda: 0.5))
    if kind == "http":
        spec = Kind(kind, spec.prefix, _single("http", Source("http", "plain", url=server.url("/files/data.bin"),
                                                                size=len(DATA), sha256=sha256(DATA))),
                    spec.check)
    for rule in fault.rules(clock):
        server.add(spec.prefix, rule)

    if fault.outcome is None:
        spec.run(ctx, server, root)
        spec.check(root)
        assert not server.faults, "every queued fault was met"
    else:
        with pytest.raises(SetupError) as caught:
            spec.run(ctx, server, root)
        assert caught.value.problem.code == fault.outcome, caught.value.problem.render()
    for want in fault.waits:  # Retry-After was honoured exactly (on the fake clock)
        assert any(abs(s - want) < 1e-6 for s in clock.slept), (want, clock.slept)
    assert all(s <= 10.0 * 10 for s in clock.slept)  # nothing waits past the policy's cap
    # Nothing past the bound is kept, and at most one bad copy per file.
    biggest = max(len(DATA), len(TAR), len(JPEG)) + MARGIN
    for path in root.rglob("*"):
        if path.is_file() and "journal" not in path.name:
            assert path.stat().st_size <= biggest, path
    quarantine = root / ".sharegpt4v-setup" / "quarantine"
    if quarantine.is_dir():
        assert len(list(quarantine.iterdir())) <= 1
    # No log line carries the signed part of a URL.
    assert not any("_nc_sig" in text for text in rec.logs())
