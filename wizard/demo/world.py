"""A deterministic miniature ShareGPT4V world: every catalog component, a few KB each.

``build_world(dest)`` writes a docroot that :class:`~wizard.demo.server.MirrorServer` (or nginx)
serves: each archive in its real inner layout (DATA.md), the three annotation JSONs as Hub
files referencing exactly the images the archives produce, 51 tiny SA-1B tars, an OCR-VQA
``dataset.json`` with live, dead, GIF and PNG image URLs, and the Drive files and folders.
:meth:`World.catalog_text` rewrites the real catalog so every source points at the loopback
server with the miniature's exact sizes and checksums; :meth:`World.expected_tree` says what a
correct run leaves under the data root.

Docroot layout (URL path = docroot path unless noted)::

    <host>/<path>                  http sources, e.g. images.cocodataset.org/zips/train2017.zip
    hub/<ns>/<name>/<path>         Hub files (URL /datasets/<ns>/<name>/resolve/<rev>/<path>)
    drive/<file id>                Google Drive files
    drive/folders/<folder id>/<name>  Drive folder contents (listing: GET /drive/folders/<id>/)
    sam/sa_000000.tar ...          SA-1B tars (the links file adds ?...&oe=<hex expiry>)
    amazon/images/I/<code>.jpg     OCR-VQA image URLs (some deliberately missing)
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import shutil
import tarfile
import time
import tomllib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from ..engine.catalog import load_catalog, parse_catalog
from ..paths import default_catalog_path

SEED = "sharegpt4v-mini-1"
ZIP_DATE = (2017, 1, 1, 0, 0, 0)
TAR_MTIME = 1_680_000_000
JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
JPEG_TAIL = b"\xff\xd9"
JSON_DIR = "sharegpt4v"
LINK_LIFETIME = 30 * 24 * 3600


@dataclass(frozen=True)
class _ZipSpec:
    """An image zip: members ``prefix + name`` land at ``target/name``."""

    target: str
    prefix: str
    names: tuple[str, ...]


_ZIPS: dict[str, _ZipSpec] = {
    "llava-pretrain": _ZipSpec("llava/llava_pretrain/images", "", (
        "00000/000000012.jpg", "00000/000000087.jpg", "00011/000114116.jpg", "00011/000119283.jpg")),
    "coco-train2017": _ZipSpec("coco/train2017", "train2017/", (
        "000000000009.jpg", "000000000025.jpg", "000000000030.jpg", "000000000034.jpg")),
    "sam-9k": _ZipSpec("sam/images", "sam_images_share-sft/", (
        "sa_612345.jpg", "sa_700023.jpg", "sa_845067.jpg")),
    "gqa": _ZipSpec("gqa/images", "images/", ("2354786.jpg", "2375429.jpg", "n161313.jpg")),
    # The catalog says train_images/; the real zip's folder is disputed (DATA notes): this one has
    # train_val_images/train_images/, which the layout probe finds and adapts to.
    "textvqa": _ZipSpec("textvqa/train_images", "train_val_images/train_images/", (
        "0000599864fd15b3.jpg", "0004a7e0e4b8a9f8.jpg", "011e7e629fb9ae7b.jpg")),
    "vg-part1": _ZipSpec("vg/VG_100K", "VG_100K/", ("10.jpg", "497987.jpg", "2316472.jpg")),
    "vg-part2": _ZipSpec("vg/VG_100K_2", "VG_100K_2/", ("1.jpg", "214.jpg", "2417997.jpg")),
    "web-celebrity": _ZipSpec("web-celebrity/images", "data/web-celebrity/images/", (
        "Luke_Evans.jpg", "Cate_Blanchett.jpg", "Chow_Yun-fat.jpg")),
    "web-landmark": _ZipSpec("web-landmark/images", "data/web-landmark/images/", (
        "Eiffel_Tower.jpg", "Golden_Gate_Bridge.jpg", "Taj_Mahal.jpg")),
    "wikiart": _ZipSpec("wikiart/images", "data/wikiart/images/", (
        "andré-derain_the-port.jpg", "adriaen-brouwer_inn-with-drunken-peasants.jpg",
        "albrecht-dürer_melencolia-i-1514.jpg")),
    "share-textvqa": _ZipSpec("share_textvqa/images", "data/share_textvqa/images/", (
        "0a0b6d0e2f6c1a3b.jpg", "1c2d3e4f5a6b7c8d.jpg", "e5f1d3c2b4a69788.jpg")),
}
_SAM_TARGET = "sam/images"
_SAM_PER_TAR = 2
#: SA-1B tars served gzip-compressed under their .tar name (some are, per one community script).
_GZIP_TARS = (1,)
_OCR_TARGET = "ocr_vqa/images"
#: OCR-VQA records: (key, image code, URL extension, kind) — kind: jpg | gif | png | dead |
#: placeholder (200 with a 43-byte 1x1 GIF, what image CDNs answer for a missing image).
_OCR_RECORDS: tuple[tuple[str, str, str, str], ...] = (
    ("761183272", "61Y5cOdHJbL", "jpg", "jpg"),
    ("1569900396", "51V2gVbJ1dL", "jpg", "jpg"),
    ("60930691", "41NbtkpDq0L", "jpg", "jpg"),
    ("1885167768", "51rkQ7dG2WL", "jpg", "jpg"),
    ("439139651", "61EwKc6OoJL", "jpg", "gif"),  # a GIF behind a .jpg URL
    ("1402779925", "51kAvz5VnBL", "png", "png"),  # a .png URL
    ("871132753", "51QXa2Ph8sL", "jpg", "dead"),  # 404 today
    ("1580084184", "41MZk0sH0QL", "jpg", "dead"),
    ("1590302842", "31J2nLeUvmL", "jpg", "placeholder"),
)
#: The 1x1 transparent GIF image CDNs serve for a missing image (43 bytes).
PLACEHOLDER_GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00"
                   b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
_JSON_KINDS = ("json-pt", "json-cap100k", "json-sft")


# ------------------------------------------------------------------------------------------
# Bytes
# ------------------------------------------------------------------------------------------
def _rng(name: str) -> random.Random:
    return random.Random(f"{SEED}:{name}")


def jpeg_bytes(name: str) -> bytes:
    """A distinct, deterministic JPEG-looking blob (SOI/APP0 header ... EOI), 1.5–4 KB."""
    rng = _rng(name)
    return JPEG_HEAD + name.encode() + b"\0" + rng.randbytes(rng.randint(1500, 4000)) + JPEG_TAIL


def _gif_bytes(name: str) -> bytes:
    rng = _rng(name)
    return b"GIF89a\x10\x00\x10\x00\x80\x00\x00" + name.encode() + rng.randbytes(1200) + b";"


def _png_bytes(name: str) -> bytes:
    rng = _rng(name)
    ihdr = b"\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x02\x00\x00\x00\x90\x91h6"
    iend = b"\x00\x00\x00\x00IEND\xaeB`\x82"
    return b"\x89PNG\r\n\x1a\n" + ihdr + name.encode() + rng.randbytes(1500) + iend


def _zip_bytes(entries: list[tuple[str, bytes | None]]) -> bytes:
    """A zip with fixed timestamps; ``None`` content = a directory entry."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.create_system = 3  # unix
            if data is None:
                info.external_attr = (0o40755 << 16) | 0x10
                zf.writestr(info, b"")
            else:
                info.external_attr = 0o100644 << 16
                zf.writestr(info, data)
    return buf.getvalue()


def _tar_bytes(entries: list[tuple[str, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = TAR_MTIME
            info.uname = info.gname = ""
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tf.addfile(info)
            else:
                info.mode = 0o644
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _dirs_of(prefix_and_names: Iterable[str]) -> list[str]:
    """Every parent folder entry ("a/", "a/b/") of the given member paths, sorted."""
    dirs: set[str] = set()
    for member in prefix_and_names:
        parts = member.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]) + "/")
    return sorted(dirs)


def _record(rid: str, image: str | None, rng: random.Random) -> dict[str, Any]:
    words = ["a", "photo", "of", "the", "scene", "with", "light", "colour", "people", "sky", "text"]
    caption = " ".join(rng.choice(words) for _ in range(rng.randint(8, 16))).capitalize() + "."
    record: dict[str, Any] = {"id": rid}
    if image is not None:
        record["image"] = image
        human = "<image>\nWhat is in the image? Describe it in detail."
    else:
        human = "Write a haiku about downloading datasets."
    record["conversations"] = [{"from": "human", "value": human}, {"from": "gpt", "value": caption}]
    return record


# ------------------------------------------------------------------------------------------
# The world
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServedFile:
    """A file in the docroot: its docroot-relative path, size and sha256."""

    path: str
    size: int
    sha256: str


@dataclass
class MiniComponent:
    """What the world holds for one catalog component."""

    id: str
    #: One entry per catalog source (same order), None where nothing is served (sam-links,
    #: ocrvqa: see ``World.sam_tars`` and ``World.ocr_dataset_path``).
    served: list[ServedFile | None]
    #: Relative paths (under the data root) a correct run leaves, with their sizes.
    tree: dict[str, int]


@dataclass
class World:
    """A built miniature world under ``docroot``. See the module docstring for the layout."""

    docroot: Path
    catalog_path: Path
    components: dict[str, MiniComponent]
    sam_tars: list[ServedFile]
    #: OCR-VQA key -> docroot path of its image URL ("" when the URL is dead).
    ocr_images: dict[str, str]
    ocr_folder_id: str
    #: Annotation JSON component id -> the image paths its records reference.
    references: dict[str, list[str]]
    bound_base: str | None = None
    ocr_dataset: ServedFile | None = field(default=None)
    #: OCR-VQA keys whose URL answers 200 with a placeholder GIF -> its docroot path (dead links too).
    ocr_placeholders: dict[str, str] = field(default_factory=dict)

    # -- queries -------------------------------------------------------------------------------
    @property
    def components_served(self) -> tuple[str, ...]:
        return tuple(self.components)

    @property
    def ocr_dead_keys(self) -> set[str]:
        return {k for k, rel in self.ocr_images.items() if not rel}

    @property
    def ocr_dataset_path(self) -> str:
        """Docroot path of OCR-VQA's ``dataset.json`` (written by :meth:`bind`)."""
        return f"drive/folders/{self.ocr_folder_id}/dataset.json"

    def expected_tree(self, component_ids: Iterable[str]) -> set[str]:
        """The exact files (posix paths relative to the data root) a correct run leaves."""
        tree: set[str] = set()
        for cid in component_ids:
            if cid not in self.components:
                raise KeyError(f"the miniature world has no component '{cid}'")
            tree.update(self.components[cid].tree)
        return tree

    def expected_sizes(self, component_ids: Iterable[str]) -> dict[str, int]:
        """Like :meth:`expected_tree`, with each file's size."""
        sizes: dict[str, int] = {}
        for cid in component_ids:
            sizes.update(self.components[cid].tree)
        return sizes

    # -- base-URL-dependent files --------------------------------------------------------------
    def bind(self, base_url: str) -> None:
        """(Re)write the files that embed absolute URLs (OCR-VQA ``dataset.json``) for ``base_url``.

        The catalog methods call this; the last bound server is the one the image URLs name.
        """
        base = base_url.rstrip("/")
        if base == self.bound_base and self.ocr_dataset is not None:
            return
        dataset: dict[str, Any] = {}
        for index, (key, code, ext, _kind) in enumerate(_OCR_RECORDS):
            rng = _rng(f"ocr:{key}")
            dataset[key] = {
                "imageURL": f"{base}/amazon/images/I/{code}.{ext}",
                "questions": ["Who wrote this book?", "What is the title of this book?",
                              "What is the genre of this book?", "Is this a comedy book?"],
                "answers": [f"Author {index}", f"Book {key}", "Reference", rng.choice(["Yes", "No"])],
                "title": f"Book {key}",
                "authorName": f"Author {index}",
                "genre": "Reference",
                "split": 1 + index % 3,
            }
        data = json.dumps(dataset, indent=1).encode()
        target = self.docroot / self.ocr_dataset_path
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        self.ocr_dataset = ServedFile(self.ocr_dataset_path, len(data), hashlib.sha256(data).hexdigest())
        self.bound_base = base

    def sam_links_file(self, base_url: str, path: Path, expires: int | None = None) -> Path:
        """Write a SA-1B links file (``file_name\\tcdn_link``, shuffled) for the tars on ``base_url``.

        ``expires`` is the Unix time encoded as ``oe=<8 hex digits>`` (default: 30 days ahead).
        """
        base = base_url.rstrip("/")
        when = int(time.time()) + LINK_LIFETIME if expires is None else int(expires)
        rows = []
        for tar in self.sam_tars:
            name = PurePosixPath(tar.path).name
            token = hashlib.sha1(f"{SEED}:{name}".encode()).hexdigest()[:24]
            rows.append(f"{name}\t{base}/{tar.path}?_nc_cat=1&ccb=1-7&_nc_sid=0c1d5f"
                        f"&_nc_ht=scontent-mini&oh=00_{token}&oe={when:08X}")
        # Meta's file also lists files no component uses (its README: "sa_images_ids.txt can be
        # downloaded using the above link as well"), and tars beyond the 51 used here.
        for extra in ("sa_images_ids.txt", "sa_co_gold.tar", "sa_000999.tar"):
            token = hashlib.sha1(f"{SEED}:{extra}".encode()).hexdigest()[:24]
            rows.append(f"{extra}\t{base}/sam/{extra}?_nc_cat=1&oh=00_{token}&oe={when:08X}")
        random.Random(f"{SEED}:links").shuffle(rows)
        path = Path(path)
        path.write_text("file_name\tcdn_link\n" + "\n".join(rows) + "\n", encoding="utf-8")
        return path

    # -- the catalog ---------------------------------------------------------------------------
    def catalog_data(self, base_url: str) -> dict[str, Any]:
        """The real catalog as a dict, pointed at ``base_url`` with the miniature's numbers."""
        base = base_url.rstrip("/")
        self.bind(base)
        data = tomllib.loads(self.catalog_path.read_text(encoding="utf-8"))
        data["hub"] = {"endpoint": base}
        data["drive"] = {"file_url": base + "/drive/{id}", "folder_url": base + "/drive/folders/{id}"}
        for comp in data["component"]:
            mini = self.components[comp["id"]]
            comp["file_count"] = len(mini.tree)
            comp["approx_extracted"] = sum(mini.tree.values())
            for src, served in zip(comp["source"], mini.served, strict=True):
                kind = src["kind"]
                if kind == "http" and served is not None:
                    src["url"] = f"{base}/{served.path}"
                if served is not None:
                    src.pop("approx_size", None)
                    src["size"] = served.size
                    src["sha256"] = served.sha256
                elif kind == "sam-links":
                    src["approx_size"] = sum(t.size for t in self.sam_tars)
                elif kind == "ocrvqa":
                    src["approx_size"] = sum(mini.tree.values())
        return data

    def catalog_text(self, base_url: str) -> str:
        """The real catalog rewritten for the loopback server at ``base_url`` (TOML text)."""
        header = (f"# The ShareGPT4V catalog rewritten for the miniature world served at "
                  f"{base_url.rstrip('/')}.\n# Generated by wizard.demo.world; sizes and checksums "
                  f"are the miniature's.\n\n")
        return header + dumps_toml(self.catalog_data(base_url))

    def write_catalog(self, base_url: str, path: Path) -> Path:
        """Write :meth:`catalog_text` to ``path`` and check that the app's loader accepts it."""
        path = Path(path)
        text = self.catalog_text(base_url)
        parse_catalog(tomllib.loads(text), str(path), path)  # never hand out a rejected catalog
        path.write_text(text, encoding="utf-8")
        return path


# ------------------------------------------------------------------------------------------
# Building
# ------------------------------------------------------------------------------------------
class _Builder:
    def __init__(self, docroot: Path) -> None:
        self.docroot = docroot

    def put(self, rel: str, data: bytes) -> ServedFile:
        target = self.docroot / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return ServedFile(rel, len(data), hashlib.sha256(data).hexdigest())

    def alias(self, first: ServedFile, rel: str) -> ServedFile:
        """Serve the same bytes under another path (hard link, copy as a fallback)."""
        target = self.docroot / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        try:
            os.link(self.docroot / first.path, target)
        except OSError:
            shutil.copyfile(self.docroot / first.path, target)
        return ServedFile(rel, first.size, first.sha256)


def _source_paths(src: dict[str, Any]) -> list[str]:
    """Docroot paths that serve a file-like source (first = canonical)."""
    kind = src["kind"]
    if kind == "http":
        parts = urlsplit(src["url"])
        return [f"{parts.netloc}{parts.path}"]
    if kind == "hub":
        return [f"hub/{src['repo']}/{src['path']}"]
    if kind == "drive":
        paths = [f"drive/{src['id']}"]
        if src.get("folder_id"):
            name = src.get("filename") or src["id"]
            paths.append(f"drive/folders/{src['folder_id']}/{name}")
        return paths
    return []


def build_world(dest: Path, catalog_path: Path | None = None, base_url: str | None = None) -> World:
    """Generate the miniature world under ``dest`` (the docroot) and describe it.

    Covers every component of the catalog (the bundled one by default); raises ``ValueError``
    for a component id it has no miniature for. Deterministic: the same bytes on every call.
    OCR-VQA's ``dataset.json`` embeds absolute image URLs, so it is written only once a base
    URL is known: pass ``base_url`` here, or call :meth:`World.bind` / :meth:`World.write_catalog`.
    """
    docroot = Path(dest)
    docroot.mkdir(parents=True, exist_ok=True)
    catalog_path = catalog_path or default_catalog_path()
    catalog = load_catalog(catalog_path)
    raw = tomllib.loads(catalog_path.read_text(encoding="utf-8"))
    builder = _Builder(docroot)
    known = set(_ZIPS) | set(_JSON_KINDS) | {"sam-tars", "ocr-vqa"}
    unknown = [c.id for c in catalog.components if c.id not in known]
    if unknown:
        raise ValueError(f"the miniature world has no data for component(s) {', '.join(unknown)}")

    # Content first: image archives, SAM tars, OCR-VQA images.
    payloads: dict[str, bytes] = {}
    trees: dict[str, dict[str, int]] = {}
    for cid, spec in _ZIPS.items():
        members = [spec.prefix + name for name in spec.names]
        blobs = {name: jpeg_bytes(f"{cid}/{name}") for name in spec.names}
        entries: list[tuple[str, bytes | None]] = [(d, None) for d in _dirs_of(members)]
        entries += [(spec.prefix + name, blobs[name]) for name in spec.names]
        payloads[cid] = _zip_bytes(entries)
        trees[cid] = {f"{spec.target}/{name}": len(blob) for name, blob in blobs.items()}

    sam_src = catalog.component("sam-tars").sources[0]
    sam_tars: list[ServedFile] = []
    trees["sam-tars"] = {}
    sam_ids: list[int] = []
    sam_by_tar: dict[int, list[str]] = {}
    for index in range(sam_src.first, sam_src.last + 1):
        entries = [("./", None)]
        for k in range(_SAM_PER_TAR):
            sid = index * 11_200 + 1 + k * 37
            sam_ids.append(sid)
            image = jpeg_bytes(f"sam-tars/sa_{sid}.jpg")
            masks = json.dumps({"image": {"image_id": sid, "file_name": f"sa_{sid}.jpg"},
                                "annotations": []}).encode()
            entries += [(f"./sa_{sid}.jpg", image), (f"./sa_{sid}.json", masks)]
            trees["sam-tars"][f"{_SAM_TARGET}/sa_{sid}.jpg"] = len(image)
            sam_by_tar.setdefault(index, []).append(f"{_SAM_TARGET}/sa_{sid}.jpg")
        name = sam_src.name_format.format(index=index)
        blob = _tar_bytes(entries)
        if index in _GZIP_TARS:
            blob = gzip.compress(blob, mtime=0)
        sam_tars.append(builder.put(f"sam/{name}", blob))
    if set(trees["sam-tars"]) & set(trees["sam-9k"]):  # pragma: no cover - a data bug
        raise AssertionError("SAM tar and 9K ids overlap")

    ocr_src = catalog.component("ocr-vqa").sources[0]
    ocr_images: dict[str, str] = {}
    trees["ocr-vqa"] = {}
    ocr_placeholders: dict[str, str] = {}
    for key, code, ext, kind in _OCR_RECORDS:
        if kind == "placeholder":
            ocr_placeholders[key] = builder.put(f"amazon/images/I/{code}.{ext}", PLACEHOLDER_GIF).path
        if kind in ("dead", "placeholder"):
            ocr_images[key] = ""
            continue
        maker = {"jpg": jpeg_bytes, "gif": _gif_bytes, "png": _png_bytes}[kind]
        blob = maker(f"ocr-vqa/{key}")
        image_file = builder.put(f"amazon/images/I/{code}.{ext}", blob)
        ocr_images[key] = image_file.path
        trees["ocr-vqa"][f"{_OCR_TARGET}/{key}.jpg"] = image_file.size
    builder.put(f"drive/folders/{ocr_src.folder_id}/loadDataset.py",
                b"# OCR-VQA's own downloader (placeholder in the miniature world): never run it.\n")

    # The annotation JSONs reference exactly what the archives produce.
    def images(cid: str, limit: int | None = None) -> list[str]:
        return sorted(trees[cid])[:limit]

    alive_ocr = sorted(trees["ocr-vqa"])
    web = ["web-celebrity", "web-landmark", "wikiart", "share-textvqa"]
    references: dict[str, list[str]] = {
        "json-pt": images("coco-train2017") + images("llava-pretrain") + images("sam-tars"),
        # cap100k's SAM images: the 9K zip's and a few from the first tars (as upstream: tars 0-2),
        # so a run reads sa_000000 and sa_000001 and stops; it never asks for a later tar.
        "json-cap100k": (images("coco-train2017", 2) + images("sam-9k") + sam_by_tar[0] + sam_by_tar[1][:1]
                         + images("llava-pretrain", 2) + [p for w in web for p in images(w, 2)]),
        "json-sft": (images("coco-train2017", 3) + images("gqa") + alive_ocr + images("textvqa")
                     + images("vg-part1") + images("vg-part2") + images("llava-pretrain", 2)
                     + images("sam-9k") + [p for w in web for p in images(w, 1)]),
    }
    for cid in _JSON_KINDS:
        rng = _rng(cid)
        records = [_record(PurePosixPath(img).stem, img, rng) for img in references[cid]]
        if cid == "json-sft":  # text-only ShareGPT records have no "image" key
            records.insert(3, _record("i6IyJda_0", None, rng))
            records.append(_record("QWJhYvA_12", None, rng))
        payloads[cid] = json.dumps(records, indent=1).encode()
        name = PurePosixPath(catalog.component(cid).sources[0].path).name
        trees[cid] = {f"{JSON_DIR}/{name}": len(payloads[cid])}

    # Serve every file-like source of every component.
    components: dict[str, MiniComponent] = {}
    for comp in raw["component"]:
        cid = comp["id"]
        served: list[ServedFile | None] = []
        canonical: ServedFile | None = None
        for src in comp["source"]:
            paths = _source_paths(src)
            first: ServedFile | None = None
            for rel in paths:
                if canonical is None:
                    canonical = builder.put(rel, payloads[cid])
                    made = canonical
                else:
                    made = builder.alias(canonical, rel)
                first = first or made
            served.append(first)
        components[cid] = MiniComponent(cid, served, trees[cid])

    world = World(docroot, catalog_path, components, sam_tars, ocr_images, ocr_src.folder_id,
                  references, ocr_placeholders=ocr_placeholders)
    if base_url is not None:
        world.bind(base_url)
    return world


# ------------------------------------------------------------------------------------------
# A small TOML writer for the catalog's shape (tables, arrays of tables, scalars, lists)
# ------------------------------------------------------------------------------------------
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _toml_str(value: str) -> str:
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as a TOML value")


def _toml_key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key)
    return key if bare else _toml_str(key)


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _toml_table(table: dict[str, Any], path: list[str], lines: list[str]) -> None:
    for key, value in table.items():
        if not isinstance(value, dict) and not _is_table_array(value):
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in table.items():
        header = ".".join(_toml_key(k) for k in [*path, key])
        if isinstance(value, dict):
            lines += ["", f"[{header}]"]
            _toml_table(value, [*path, key], lines)
        elif _is_table_array(value):
            for item in value:
                lines += ["", f"[[{header}]]"]
                _toml_table(item, [*path, key], lines)


def dumps_toml(data: dict[str, Any]) -> str:
    """TOML text for nested dicts / lists of dicts / scalars / scalar lists (no dates)."""
    lines: list[str] = []
    _toml_table(data, [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"
