"""The catalog: components, their ranked sources, archive layouts and presets, read from TOML.

The catalog is data (``resources/catalog.toml``). This module loads it, validates every key
(a typo is an error that names the key and suggests the right one) and returns frozen
dataclasses. ``--catalog FILE`` replaces it, which is how a mirror is configured.

A catalog may come from anyone, so every value that becomes a path is checked here before any
code joins it onto the data root (see :func:`check_relative`): relative, no ``..``, no absolute or
drive paths, no backslashes or NUL, outside the app's state folder, and portable (names Windows
refuses are refused everywhere, since the same catalog is used there). Numbers are range-checked,
URLs must be http(s), and a ``name_format`` must format. Errors name the key and, where the TOML
text shows it, the line.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from ..paths import STATE_DIR_NAME
from .errors import Code, SetupError
from .safefs import file_kind, read_regular
from .sources.registry import KIND_NAMES, required_keys

ARCHIVE_KINDS = ("none", "zip", "tar")
_EMPTY_OR_DOT = re.compile(r"/(?:\.?/)+")  # empty and "." components of a member path
DRIVE_FILE_URL = "https://drive.google.com/uc?id={id}"
DRIVE_FOLDER_URL = "https://drive.google.com/drive/folders/{id}"
#: A catalog is a few KB of TOML; anything this large is not one.
MAX_CATALOG_BYTES = 4 * 1024 * 1024
#: At most this many archives in one ``first``…``last`` range (SA-1B has 1,000 tars: 0–999).
MAX_INDEX_RANGE = 1000
#: The most bytes a catalog may give a file or a component (1 PiB; SA-1B's 1,000 tars are ~11 TB in
#: all): a size past it is a typo or a hostile catalog, and the plan would call it a fit.
MAX_BYTES = 1 << 50
#: The most files a component may list (the largest real one, SA-1B, has ~11M images).
MAX_COUNT = 1 << 32
#: Bytes per path component most filesystems allow.
MAX_NAME_BYTES = 255
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{d}{n}" for d in ("COM", "LPT") for n in (*"123456789", "¹", "²", "³")})
_WINDOWS_BAD_CHARS = frozenset('<>:"|?*')


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be one file or folder name on every OS, or None."""
    if name in ("", ".", ".."):
        return f"'{name}' is not a name"
    if "\x00" in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "it contains a control character (NUL, newline, …)"
    if "/" in name or "\\" in name:
        return "it contains a path separator"
    bad = sorted(set(name) & _WINDOWS_BAD_CHARS)
    if bad:
        return f"it contains {' '.join(bad)}, which Windows refuses in names"
    if name.split(".")[0].rstrip(" ").upper() in _WINDOWS_RESERVED:
        return f"'{name}' is a reserved device name on Windows"
    if name[-1] in ". ":
        return "it ends with a dot or a space (Windows drops them)"
    if len(name.encode("utf-8")) > MAX_NAME_BYTES:
        return f"it is {len(name.encode('utf-8'))} bytes long; filesystems allow {MAX_NAME_BYTES}"
    return None


def check_relative(value: str, *, folder_prefix: bool = False) -> str | None:
    """Why ``value`` is not a safe relative path under the data root, or None.

    ``folder_prefix``: a layout prefix such as ``train2017/`` (a trailing slash allowed).
    """
    if not value:
        return "it is empty"
    if "\x00" in value:
        return "it contains NUL"
    if "\\" in value:
        return "it contains a backslash (use / between folders)"
    if value.startswith("/") or (len(value) > 1 and value[1] == ":"):
        return "it is an absolute path (it must be relative to the data root)"
    body = value[:-1] if folder_prefix and value.endswith("/") else value
    parts = body.split("/")
    if ".." in parts:
        return "it contains '..'"
    for part in parts:
        why = name_problem(part)
        if why:
            return f"'{part}': {why}"
    if parts[0].casefold() == STATE_DIR_NAME.casefold():
        return f"it points into the app's own state folder {STATE_DIR_NAME}/"
    return None


def check_url(value: str) -> str | None:
    """Why ``value`` is not an http(s) URL with a host, or None."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"it is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"only http:// and https:// URLs are allowed, not '{parts.scheme or value}'"
    if not parts.hostname:
        return "it has no host"
    if any(ord(c) < 33 or ord(c) == 127 for c in value):
        return "it contains spaces or control characters"
    return None


@dataclass(frozen=True)
class Layout:
    """How archive member paths map into the component's target folder. macOS' metadata (``__MACOSX/``
    folders, ``._name`` AppleDouble files) is never anyone's data: every layout skips it."""

    strip: str = ""  # prefix removed from member paths; members outside it are skipped
    include: tuple[str, ...] = ()  # glob patterns on the base name; empty = everything
    flatten: bool = False  # keep only the base name

    def map(self, member: str) -> str | None:
        """The member's path relative to the target, or None when the layout skips it."""
        name = member.replace("\\", "/")
        if "//" in name or "/./" in name:  # "a//b", "a/./b" are "a/b" (as unzip and tar write them)
            name = _EMPTY_OR_DOT.sub("/", name)
        while name.startswith("./"):
            name = name[2:]
        if name.startswith("__MACOSX/") or "/__MACOSX/" in name:  # what macOS' Finder adds to a zip
            return None
        if self.strip:
            if not name.startswith(self.strip):
                return None
            name = name[len(self.strip) :]
        if not name or name.endswith("/"):
            return None
        base = name.rsplit("/", 1)[-1]
        if base.startswith("._"):  # AppleDouble metadata of a file (Finder zips, tar on macOS)
            return None
        if self.include and not any(fnmatch.fnmatchcase(base, pat) for pat in self.include):
            return None
        return base if self.flatten else name


@dataclass(frozen=True)
class Source:
    """One way to obtain a component. ``kind`` names its kind object (:mod:`.sources.registry`)."""

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
#: The type each source key must have in the TOML (from the dataclass's annotations).
_SOURCE_TYPES: dict[str, type] = {
    name: {"str": str, "str | None": str, "int": int, "int | None": int, "bool": bool}[str(field.type)]
    for name, field in Source.__dataclass_fields__.items() if name != "texts"
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
        ck.text(where, key, texts[key])
        english = key.split("_", 1)[0]
        if english not in raw:
            raise ck.fail(where, f"'{key}' translates '{english}', which is missing")
    return {k: v for k, v in raw.items() if k not in texts}, tuple(sorted(texts.items()))


def _suggest(word: str, choices: list[str] | set[str], prefix: str = "did you mean ") -> str:
    import difflib  # only for a misspelt id: not loaded with every catalog

    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f"{prefix}'{close[0]}'?" if close else ""


class _Checker:
    def __init__(self, origin: str, text: str = "") -> None:
        self.origin = origin
        self.lines = text.splitlines()

    def line_of(self, key: str, value: object) -> int | None:
        """The 1-based line where ``key = <value>`` is written, when the text shows it."""
        needle = str(value)
        quoted = (f'"{needle}"', f"'{needle}'", needle)
        for number, line in enumerate(self.lines, 1):
            head, sep, rest = line.partition("=")
            if sep and head.strip().strip('"\'') == key and any(q in rest for q in quoted):
                return number
        return None

    def fail(self, where: str, message: str, hint: str = "", *, line: int | None = None) -> SetupError:
        origin = f"{self.origin}, line {line}" if line else self.origin
        return SetupError(
            Code.CATALOG_INVALID,
            f"{origin}: {where}: {message}",
            hint or "Fix the catalog file (format: README.md, 'Catalog format') or drop --catalog.",
        )

    def path(self, where: str, key: str, value: str, *, folder_prefix: bool = False,
             single: bool = False) -> None:
        """Refuse a path-like value that could leave the root (``single``: one file name)."""
        why = name_problem(value) if single else check_relative(value, folder_prefix=folder_prefix)
        if why:
            raise self.fail(where, f"'{key}' = {value!r} is refused: {why}",
                            "Paths in a catalog are relative to the data root, use / between folders, "
                            "stay out of .sharegpt4v-setup/ and use names every OS accepts; file names "
                            "are one name, without folders.", line=self.line_of(key, value))

    def url(self, where: str, key: str, value: str) -> None:
        why = check_url(value.replace("{id}", "ID"))
        if why:
            raise self.fail(where, f"'{key}' = {value!r} is refused: {why}",
                            "Use an http:// or https:// address.", line=self.line_of(key, value))

    def number(self, where: str, table: dict[str, Any], key: str, low: int, high: int | None = None) -> None:
        value = self.typed(where, table, key, int)
        if value is None:
            return
        if value < low or (high is not None and value > high):
            bound = f"at least {low}" if high is None else f"between {low} and {high}"
            raise self.fail(where, f"'{key}' = {value} must be {bound}", line=self.line_of(key, value))

    def text(self, where: str, key: str, value: object) -> None:
        """Refuse text that is not a string, or has control characters (terminal escapes)."""
        if value is not None and not isinstance(value, str):
            raise self.fail(where, f"'{key}' must be str, found {value!r}")
        if value and any((ord(c) < 32 and c not in "\n\t") or ord(c) == 127 for c in value):
            raise self.fail(where, f"'{key}' contains control characters",
                            line=self.line_of(key, value[:20]))

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
    kind = file_kind(path)
    if kind not in ("file", "missing"):  # a FIFO would hang, /dev/zero never ends
        raise SetupError(Code.CATALOG_INVALID, f"The catalog {path} is a {kind}, not a regular file.",
                         "Check the path given to --catalog.")
    try:
        text = read_regular(path, MAX_CATALOG_BYTES, "the catalog").decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SetupError(Code.CATALOG_INVALID, f"The catalog {path} is not UTF-8 text.",
                         "Check the path given to --catalog.") from exc
    except ValueError as exc:
        raise SetupError(Code.CATALOG_INVALID, f"{exc}.", "Check the path given to --catalog.") from exc
    except OSError as exc:
        raise SetupError(Code.CATALOG_INVALID, f"Cannot read catalog {path}: {exc.strerror}",
                         "Check the path given to --catalog.") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SetupError(Code.CATALOG_INVALID, f"{path}: not valid TOML: {exc}",
                         "Fix the syntax at the line and column named.") from exc
    except RecursionError as exc:  # tomllib parses nested arrays and tables recursively
        raise SetupError(Code.CATALOG_INVALID, f"{path}: its arrays or tables are nested too deeply to read.",
                         "Check the path given to --catalog: a catalog nests at most a few levels.") from exc
    return parse_catalog(data, str(path), path, text=text)


def parse_catalog(data: dict[str, Any], origin: str = "catalog", path: Path | None = None, *,
                  text: str = "") -> Catalog:
    """Validate the parsed TOML ``data``; ``text`` (the TOML source) lets errors name their line."""
    ck = _Checker(origin, text)
    ck.keys("top level", data, _TOP_KEYS)
    schema = ck.typed("top level", data, "schema", int, required=True)
    if schema != 1:
        raise ck.fail("top level", f"schema {schema} is not supported (this version reads 1)")
    hub = ck.keys("[hub]", data.get("hub", {}), _HUB_KEYS)
    endpoint = ck.typed("[hub]", hub, "endpoint", str) or "https://huggingface.co"
    ck.url("[hub]", "endpoint", endpoint)
    drive = ck.keys("[drive]", data.get("drive", {}), _DRIVE_KEYS)
    drive_file_url = ck.typed("[drive]", drive, "file_url", str) or DRIVE_FILE_URL
    drive_folder_url = ck.typed("[drive]", drive, "folder_url", str) or DRIVE_FOLDER_URL
    for name, template in (("file_url", drive_file_url), ("folder_url", drive_folder_url)):
        if "{id}" not in template:
            raise ck.fail("[drive]", f"'{name}' must contain the placeholder {{id}}")
        ck.url("[drive]", name, template)

    components: list[Component] = []
    seen: set[str] = set()
    saved_as: dict[str, str] = {}  # download file name (casefolded) -> the component saving it
    raw_components = data.get("component", [])
    if not isinstance(raw_components, list) or not raw_components:
        raise ck.fail("top level", "no [[component]] entries")
    for index, raw in enumerate(raw_components):
        where = f"component[{index}]"
        raw, texts = _split_texts(ck, where, raw)
        ck.keys(where, raw, _COMPONENT_KEYS)
        cid = ck.typed(where, raw, "id", str, required=True)
        where = f"component '{cid}'"
        why = name_problem(cid) or ("it starts with a dot" if cid.startswith(".") else None)
        if why:
            raise ck.fail(where, f"id {cid!r} is refused: {why}", line=ck.line_of("id", cid))
        if cid in seen:
            raise ck.fail(where, "duplicate id")
        seen.add(cid)
        archive = ck.typed(where, raw, "archive", str) or "none"
        if archive not in ARCHIVE_KINDS:
            raise ck.fail(where, f"archive '{archive}' is not one of {', '.join(ARCHIVE_KINDS)}")
        target = ck.typed(where, raw, "target", str, required=True)
        ck.path(where, "target", target.rstrip("/") if target.strip("/") else target)
        lay = ck.keys(f"{where} layout", raw.get("layout", {}), _LAYOUT_KEYS)
        include = ck.typed(f"{where} layout", lay, "include", list) or []
        strip = ck.typed(f"{where} layout", lay, "strip", str) or ""
        if strip:
            ck.path(f"{where} layout", "strip", strip, folder_prefix=True)
        layout = Layout(
            strip=strip,
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
            if kind not in KIND_NAMES:
                hint = _suggest(kind, set(KIND_NAMES))
                raise ck.fail(swhere, f"unknown kind '{kind}'" + (f" ({hint})" if hint else ""))
            for req in required_keys(kind):
                ck.typed(swhere, rsrc, req, str, required=True)
            for key, key_type in _SOURCE_TYPES.items():
                ck.typed(swhere, rsrc, key, key_type)
            sha = ck.typed(swhere, rsrc, "sha256", str)
            if sha is not None and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
                raise ck.fail(swhere, "'sha256' must be 64 lowercase hex digits")
            label = rsrc.get("label") or kind
            try:
                source = Source(**{**rsrc, "label": label, "texts": source_texts})
            except TypeError as exc:  # pragma: no cover - keys are checked above
                raise ck.fail(swhere, str(exc)) from exc
            _check_source(ck, swhere, rsrc, source)
            if source.url or source.path or source.filename:  # saved under downloads/ by that name
                other = saved_as.setdefault(source.file_name.casefold(), cid)
                if other != cid:
                    raise ck.fail(swhere, f"saves its download as {source.file_name!r}, as component '{other}' "
                                  "does: the two would write the same file",
                                  "Give one of them its own name with 'filename = \"…\"'.",
                                  line=ck.line_of("url", source.url) or ck.line_of("path", source.path))
            sources.append(source)
        for key in ("title", "usage"):
            ck.text(where, key, raw.get(key))
        ck.number(where, raw, "file_count", 0, MAX_COUNT)
        ck.number(where, raw, "approx_extracted", 0, MAX_BYTES)
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
    raw_presets = data.get("preset", [])
    if not isinstance(raw_presets, list):
        raise ck.fail("top level", f"'preset' must be [[preset]] tables, found {type(raw_presets).__name__}")
    for index, raw in enumerate(raw_presets):
        where = f"preset[{index}]"
        raw, texts = _split_texts(ck, where, raw)
        ck.keys(where, raw, _PRESET_KEYS)
        pid = ck.typed(where, raw, "id", str, required=True)
        members = ck.typed(where, raw, "components", list, required=True)
        for cid in members:
            if not isinstance(cid, str):
                raise ck.fail(f"preset '{pid}'", f"'components' must list component ids, found {cid!r}")
            if cid not in seen:
                hint = _suggest(str(cid), seen)
                raise ck.fail(f"preset '{pid}'", f"names unknown component '{cid}'"
                              + (f" ({hint})" if hint else ""))
        presets.append(Preset(pid, ck.typed(where, raw, "title", str) or pid, tuple(members), texts))
    return Catalog(tuple(components), tuple(presets), endpoint.rstrip("/"), path,
                   drive_file_url, drive_folder_url)


def _check_source(ck: _Checker, where: str, raw: dict[str, Any], source: Source) -> None:
    """Paths, URLs, numbers and the name format of one source."""
    for key in ("filename", "id", "folder_id"):
        if raw.get(key):
            ck.path(where, key, raw[key], single=True)
    if source.path:
        ck.path(where, "path", source.path)
    if source.url:
        ck.url(where, "url", source.url)
    if source.url or source.path or source.filename:  # the name the file is saved under
        why = name_problem(source.file_name)
        if why:
            raise ck.fail(where, f"the file would be saved as {source.file_name!r}, which is refused: {why}",
                          "Give a plain file name with 'filename = \"…\"'.",
                          line=ck.line_of("url", source.url) or ck.line_of("path", source.path))
    ck.number(where, raw, "size", 1, MAX_BYTES)
    ck.number(where, raw, "approx_size", 1, MAX_BYTES)
    ck.text(where, "label", source.label)
    if source.name_format:  # a numbered series of archives (SA-1B)
        ck.number(where, {"first": source.first}, "first", 0)
        ck.number(where, {"last": source.last}, "last", source.first, source.first + MAX_INDEX_RANGE - 1)
        _check_name_format(ck, where, source)


def _check_name_format(ck: _Checker, where: str, source: Source) -> None:
    """``name_format`` must format every index from ``first`` to ``last`` into distinct, safe names."""
    line = ck.line_of("name_format", source.name_format)
    names: set[str] = set()
    for index in range(source.first, source.last + 1):
        try:
            name = source.name_format.format(index=index)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError) as exc:
            raise ck.fail(where, f"'name_format' = {source.name_format!r} does not format "
                          f"({type(exc).__name__}: {exc})",
                          "Use {index} with an optional integer format, e.g. \"sa_{index:06d}.tar\".",
                          line=line) from exc
        why = name_problem(name)
        if why:
            raise ck.fail(where, f"'name_format' gives {name!r} for index {index}, which is refused: {why}",
                          "The name format must give one plain file name per index.", line=line)
        names.add(name)
    if len(names) != source.last - source.first + 1:
        raise ck.fail(where, f"'name_format' = {source.name_format!r} gives the same name for several "
                      "indices", "Include {index} in the name.", line=line)
