"""The catalog: components, their ranked sources, archive layouts and presets, read from TOML.

The catalog is data (``resources/catalog.toml``). This module loads it, validates every key
(a typo is an error that names the key and suggests the right one) and returns frozen
dataclasses. ``--catalog FILE`` replaces it, which is how a mirror is configured.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from .errors import Code, SetupError

SOURCE_KINDS = ("http", "hub", "drive", "sam-links", "ocrvqa", "local")
ARCHIVE_KINDS = ("none", "zip", "tar")
DRIVE_FILE_URL = "https://drive.google.com/uc?id={id}"
DRIVE_FOLDER_URL = "https://drive.google.com/drive/folders/{id}"


@dataclass(frozen=True)
class Layout:
    """How archive member paths map into the component's target folder."""

    strip: str = ""  # prefix removed from member paths; members outside it are skipped
    include: tuple[str, ...] = ()  # glob patterns on the base name; empty = everything
    flatten: bool = False  # keep only the base name

    def map(self, member: str) -> str | None:
        """The member's path relative to the target, or None when the layout skips it."""
        name = member.replace("\\", "/")
        while name.startswith("./"):
            name = name[2:]
        if self.strip:
            if not name.startswith(self.strip):
                return None
            name = name[len(self.strip) :]
        if not name or name.endswith("/"):
            return None
        base = name.rsplit("/", 1)[-1]
        if self.include and not any(fnmatch.fnmatchcase(base, pat) for pat in self.include):
            return None
        return base if self.flatten else name


@dataclass(frozen=True)
class Source:
    """One way to obtain a component. ``kind`` picks the source module."""

    kind: str
    label: str
    url: str = ""
    repo: str = ""
    repo_type: str = "dataset"
    revision: str = "main"
    path: str = ""
    id: str = ""
    folder_id: str = ""
    filename: str = ""
    size: int | None = None
    sha256: str | None = None
    approx_size: int | None = None
    community: bool = False
    first: int = 0
    last: int = 0
    name_format: str = ""
    #: Translations of ``label``: (("label_zh_CN", "…"), ...); see :func:`localized`.
    texts: tuple[tuple[str, str], ...] = ()

    @property
    def file_name(self) -> str:
        """The name the downloaded file is saved under."""
        if self.filename:
            return self.filename
        if self.path:
            return PurePosixPath(self.path).name
        if self.url:
            return PurePosixPath(urlsplit(self.url).path).name or "download"
        return self.id or "download"

    @property
    def planned_size(self) -> int | None:
        return self.size if self.size is not None else self.approx_size

    def host(self, hub_endpoint: str) -> str:
        """The host this source talks to, for per-host concurrency limits."""
        if self.kind == "hub":
            return urlsplit(hub_endpoint).netloc or "hub"
        if self.url:
            return urlsplit(self.url).netloc
        return self.kind


@dataclass(frozen=True)
class Component:
    id: str
    title: str
    group: str
    usage: str
    target: str
    archive: str
    sources: tuple[Source, ...]
    layout: Layout = field(default_factory=Layout)
    file_count: int | None = None
    approx_extracted: int | None = None
    #: Translations of ``title`` and ``usage``: (("title_zh_CN", "…"), ...); see :func:`localized`.
    texts: tuple[tuple[str, str], ...] = ()

    def official_sources(self) -> tuple[Source, ...]:
        return tuple(s for s in self.sources if not s.community)


@dataclass(frozen=True)
class Preset:
    id: str
    title: str
    components: tuple[str, ...]
    texts: tuple[tuple[str, str], ...] = ()  # translations of ``title``


def localized(item: Component | Preset | Source, key: str, language: str) -> str:
    """``item``'s text ``key`` ("title", "usage", "label") in ``language`` ("zh_CN"), falling back
    to the English text when the catalog has no ``<key>_<language>`` entry."""
    return dict(item.texts).get(f"{key}_{language}") or str(getattr(item, key))


@dataclass(frozen=True)
class Catalog:
    components: tuple[Component, ...]
    presets: tuple[Preset, ...]
    hub_endpoint: str
    path: Path | None = None
    #: Templates with an ``{id}`` placeholder; a mirror or the demo points them elsewhere.
    drive_file_url: str = DRIVE_FILE_URL
    drive_folder_url: str = DRIVE_FOLDER_URL

    def component(self, cid: str) -> Component:
        for comp in self.components:
            if comp.id == cid:
                return comp
        raise SetupError(
            Code.UNKNOWN_COMPONENT,
            f"Unknown component '{cid}'.",
            _suggest(cid, [c.id for c in self.components], "Known components: ")
            or "Known components: " + ", ".join(c.id for c in self.components),
        )

    def preset(self, pid: str) -> Preset:
        for preset in self.presets:
            if preset.id == pid:
                return preset
        raise SetupError(
            Code.UNKNOWN_COMPONENT,
            f"Unknown preset '{pid}'.",
            "Known presets: " + ", ".join(p.id for p in self.presets),
        )

    def resolve(self, preset: str | None, components: list[str] | None) -> list[Component]:
        """The components a preset and/or explicit list names, in catalog order, no repeats."""
        wanted: set[str] = set()
        if preset:
            wanted.update(self.preset(preset).components)
        for cid in components or []:
            wanted.add(self.component(cid).id)
        return [c for c in self.components if c.id in wanted]

    def usage_groups(self) -> dict[str, list[str]]:
        """Each distinct usage/licence notice with the titles of the components it applies to."""
        groups: dict[str, list[str]] = {}
        for comp in self.components:
            if comp.usage:
                groups.setdefault(comp.usage, []).append(comp.title)
        return groups

    def with_hub_endpoint(self, endpoint: str) -> Catalog:
        return replace(self, hub_endpoint=endpoint.rstrip("/"))


# ------------------------------------------------------------------------------------------
# Loading and validation
# ------------------------------------------------------------------------------------------
_TOP_KEYS = {"schema", "hub", "drive", "preset", "component"}
_HUB_KEYS = {"endpoint"}
_DRIVE_KEYS = {"file_url", "folder_url"}

_PRESET_KEYS = {"id", "title", "components"}
_COMPONENT_KEYS = {
    "id", "title", "group", "usage", "target", "archive", "layout", "source",
    "file_count", "approx_extracted",
}
_LAYOUT_KEYS = {"strip", "include", "flatten"}
_SOURCE_KEYS = set(Source.__dataclass_fields__)
_REQUIRED_BY_KIND = {
    "http": ("url",),
    "hub": ("repo", "path"),
    "drive": ("id",),
    "sam-links": ("name_format",),
    "ocrvqa": ("folder_id",),
    "local": (),
}


# Translated texts: "title_zh_CN", "usage_zh_CN", "label_zh_CN" next to the English key.
_TEXT_KEY = re.compile(r"^(title|usage|label)_([a-z]{2,3}(?:_[A-Z]{2})?)$")


def _split_texts(ck: _Checker, where: str, raw: Any) -> tuple[Any, tuple[tuple[str, str], ...]]:
    """``raw`` without its translation keys, and those keys as sorted (key, text) pairs."""
    if not isinstance(raw, dict):
        return raw, ()
    texts = {k: v for k, v in raw.items() if _TEXT_KEY.match(k)}
    for key in texts:
        ck.typed(where, texts, key, str)
        english = key.split("_", 1)[0]
        if english not in raw:
            raise ck.fail(where, f"'{key}' translates '{english}', which is missing")
    return {k: v for k, v in raw.items() if k not in texts}, tuple(sorted(texts.items()))


def _suggest(word: str, choices: list[str] | set[str], prefix: str = "did you mean ") -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f"{prefix}'{close[0]}'?" if close else ""


class _Checker:
    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, where: str, message: str, hint: str = "") -> SetupError:
        return SetupError(
            Code.CATALOG_INVALID,
            f"{self.origin}: {where}: {message}",
            hint or "Fix the catalog file (format: README.md, 'Catalog format') or drop --catalog.",
        )

    def keys(self, where: str, table: Any, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(table, dict):
            raise self.fail(where, f"expected a table, found {type(table).__name__}")
        for key in table:
            if key not in allowed:
                hint = _suggest(key, allowed)
                raise self.fail(where, f"unknown key '{key}'" + (f" ({hint})" if hint else ""))
        return table

    def typed(self, where: str, table: dict[str, Any], key: str, kind: type | tuple[type, ...],
              required: bool = False) -> Any:
        if key not in table:
            if required:
                raise self.fail(where, f"missing required key '{key}'")
            return None
        value = table[key]
        if isinstance(value, bool) and kind is int:
            raise self.fail(where, f"'{key}' must be an integer, found {value!r}")
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(where, f"'{key}' must be {names}, found {value!r}")
        return value


def load_catalog(path: Path | None = None) -> Catalog:
    """Read and validate a catalog file (the bundled one when ``path`` is None)."""
    from ..paths import default_catalog_path

    path = path or default_catalog_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SetupError(Code.CATALOG_INVALID, f"Cannot read catalog {path}: {exc.strerror}",
                         "Check the path given to --catalog.") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SetupError(Code.CATALOG_INVALID, f"{path}: not valid TOML: {exc}",
                         "Fix the syntax at the line and column named.") from exc
    return parse_catalog(data, str(path), path)


def parse_catalog(data: dict[str, Any], origin: str = "catalog", path: Path | None = None) -> Catalog:
    ck = _Checker(origin)
    ck.keys("top level", data, _TOP_KEYS)
    schema = ck.typed("top level", data, "schema", int, required=True)
    if schema != 1:
        raise ck.fail("top level", f"schema {schema} is not supported (this version reads 1)")
    hub = ck.keys("[hub]", data.get("hub", {}), _HUB_KEYS)
    endpoint = ck.typed("[hub]", hub, "endpoint", str) or "https://huggingface.co"
    drive = ck.keys("[drive]", data.get("drive", {}), _DRIVE_KEYS)
    drive_file_url = ck.typed("[drive]", drive, "file_url", str) or DRIVE_FILE_URL
    drive_folder_url = ck.typed("[drive]", drive, "folder_url", str) or DRIVE_FOLDER_URL
    for name, template in (("file_url", drive_file_url), ("folder_url", drive_folder_url)):
        if "{id}" not in template:
            raise ck.fail("[drive]", f"'{name}' must contain the placeholder {{id}}")

    components: list[Component] = []
    seen: set[str] = set()
    raw_components = data.get("component", [])
    if not isinstance(raw_components, list) or not raw_components:
        raise ck.fail("top level", "no [[component]] entries")
    for index, raw in enumerate(raw_components):
        where = f"component[{index}]"
        raw, texts = _split_texts(ck, where, raw)
        ck.keys(where, raw, _COMPONENT_KEYS)
        cid = ck.typed(where, raw, "id", str, required=True)
        where = f"component '{cid}'"
        if cid in seen:
            raise ck.fail(where, "duplicate id")
        seen.add(cid)
        archive = ck.typed(where, raw, "archive", str) or "none"
        if archive not in ARCHIVE_KINDS:
            raise ck.fail(where, f"archive '{archive}' is not one of {', '.join(ARCHIVE_KINDS)}")
        target = ck.typed(where, raw, "target", str, required=True)
        tpath = PurePosixPath(target)
        if tpath.is_absolute() or ".." in tpath.parts or not target.strip("/"):
            raise ck.fail(where, f"target '{target}' must be a relative folder inside the root")
        lay = ck.keys(f"{where} layout", raw.get("layout", {}), _LAYOUT_KEYS)
        include = ck.typed(f"{where} layout", lay, "include", list) or []
        layout = Layout(
            strip=ck.typed(f"{where} layout", lay, "strip", str) or "",
            include=tuple(str(p) for p in include),
            flatten=bool(ck.typed(f"{where} layout", lay, "flatten", bool)),
        )
        sources: list[Source] = []
        raw_sources = raw.get("source", [])
        if not isinstance(raw_sources, list) or not raw_sources:
            raise ck.fail(where, "needs at least one [[component.source]]")
        for sindex, rsrc in enumerate(raw_sources):
            swhere = f"{where} source[{sindex}]"
            rsrc, source_texts = _split_texts(ck, swhere, rsrc)
            ck.keys(swhere, rsrc, _SOURCE_KEYS - {"texts"})
            kind = ck.typed(swhere, rsrc, "kind", str, required=True)
            if kind not in SOURCE_KINDS:
                hint = _suggest(kind, set(SOURCE_KINDS))
                raise ck.fail(swhere, f"unknown kind '{kind}'" + (f" ({hint})" if hint else ""))
            for req in _REQUIRED_BY_KIND[kind]:
                ck.typed(swhere, rsrc, req, str, required=True)
            for intkey in ("size", "approx_size", "first", "last"):
                ck.typed(swhere, rsrc, intkey, int)
            sha = ck.typed(swhere, rsrc, "sha256", str)
            if sha is not None and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
                raise ck.fail(swhere, "'sha256' must be 64 lowercase hex digits")
            label = rsrc.get("label") or kind
            try:
                sources.append(Source(**{**rsrc, "label": label, "texts": source_texts}))
            except TypeError as exc:  # pragma: no cover - keys are checked above
                raise ck.fail(swhere, str(exc)) from exc
        components.append(
            Component(
                id=cid,
                title=ck.typed(where, raw, "title", str) or cid,
                group=ck.typed(where, raw, "group", str) or "images",
                usage=ck.typed(where, raw, "usage", str) or "",
                target=target.strip("/"),
                archive=archive,
                sources=tuple(sources),
                layout=layout,
                file_count=ck.typed(where, raw, "file_count", int),
                approx_extracted=ck.typed(where, raw, "approx_extracted", int),
                texts=texts,
            )
        )
    presets: list[Preset] = []
    for index, raw in enumerate(data.get("preset", [])):
        where = f"preset[{index}]"
        raw, texts = _split_texts(ck, where, raw)
        ck.keys(where, raw, _PRESET_KEYS)
        pid = ck.typed(where, raw, "id", str, required=True)
        members = ck.typed(where, raw, "components", list, required=True)
        for cid in members:
            if cid not in seen:
                hint = _suggest(str(cid), seen)
                raise ck.fail(f"preset '{pid}'", f"names unknown component '{cid}'"
                              + (f" ({hint})" if hint else ""))
        presets.append(Preset(pid, ck.typed(where, raw, "title", str) or pid, tuple(members), texts))
    return Catalog(tuple(components), tuple(presets), endpoint.rstrip("/"), path,
                   drive_file_url, drive_folder_url)
