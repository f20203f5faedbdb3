"""SA-1B tars through the signed links file Meta hands out after the license is accepted.

The links file is tab-separated with the header ``file_name\\tcdn_link`` and one row per tar, in
any order. Each CDN link carries ``oe=<hex Unix time>``: its expiry, typically days away.
:func:`parse_links_file` checks the file (a problem names its line) and is what the GUI uses to
check a file on the spot. :func:`fetch` takes the catalog's range of tars (``sa_000000.tar`` …
``sa_000050.tar``), warns when the links expire before the download can finish, parks the job
when they have expired (or a tar answers 401/403/410), and otherwise downloads each tar that is
not done yet under its ``file_name`` — not the long CDN name — and yields it for extraction.
Tars finished earlier stay finished; a rerun with a fresh links file continues with the next.
:func:`fetch_streamed` (the pipeline's choice with ``Settings.stream_tars``) extracts each tar
while it downloads instead, so no tar is ever stored.
"""

from __future__ import annotations

import re
import tarfile
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .. import tarstream
from ..catalog import Catalog, Component, Source
from ..context import JobContext, Settings
from ..errors import Code, HttpStatusError, Problem, SetupError
from ..extract import StreamedTar
from ..journal import Journal, state_dir
from ..net import client
from ..net.transfer import download
from ..safefs import NotRegularFile, file_kind, read_regular
from .registry import SourceKind

HEADER = ("file_name", "cdn_link")
#: The download speed assumed when warning that links expire before the work can finish.
ASSUMED_SPEED = 10_000_000  # bytes/s
_EXPIRED_STATUSES = (401, 403, 410)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.tar$")
_GET_FILE_HINT = ("Accept the SA-1B license on Meta's download page (ai.meta.com/datasets/segment-anything-"
                  "downloads), save the links file it offers as it is, and pass it with --sam-links FILE.")
_FRESH_HINT = "Get a fresh links file from Meta's SA-1B page and pass --sam-links FILE; finished tars are kept."


class LinksFileError(SetupError):
    """A links file that cannot be used. ``line`` is 1-based (0: the file as a whole)."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        where = f"{path.name}, line {line}: " if line else f"{path.name}: "
        super().__init__(Code.SAM_LINKS_INVALID, f"The SA-1B links file {where}{reason}", _GET_FILE_HINT)
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class Link:
    """One row of the links file."""

    name: str  # file_name column, e.g. sa_000020.tar
    url: str
    line: int
    expires: int | None  # Unix time from oe=, None when the link has no oe= parameter

    @property
    def expires_at(self) -> datetime | None:
        return None if self.expires is None else datetime.fromtimestamp(self.expires, UTC)


@dataclass(frozen=True)
class LinksFile:
    """A checked links file: its links by tar name, in the file's order."""

    path: Path
    links: dict[str, Link]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.links)

    def missing(self, expected: list[str]) -> list[str]:
        """The expected tar names the file has no link for."""
        return [n for n in expected if n not in self.links]

    def earliest_expiry(self, names: list[str] | None = None) -> datetime | None:
        """The earliest ``oe=`` expiry (UTC) among the links of ``names`` (default: all links);
        None when none of them carries an ``oe=``."""
        stamps = [link.expires for n, link in self.links.items()
                  if link.expires is not None and (names is None or n in names)]
        return datetime.fromtimestamp(min(stamps), UTC) if stamps else None

    def expired(self, now: datetime | None = None) -> bool:
        """Whether any link has expired at ``now`` (default: now)."""
        return bool(self.expired_names(None, None if now is None else now.timestamp()))

    def expired_names(self, names: list[str] | None = None, now: float | None = None) -> list[str]:
        """Names (of ``names``, default all) whose link has expired at ``now`` (Unix time; default now)."""
        moment = time.time() if now is None else now
        return [n for n, link in self.links.items()
                if (names is None or n in names) and link.expires is not None and link.expires <= moment]

    def require(self, expected: list[str]) -> None:
        """Raise ``sam-links-invalid`` listing the expected tars the file does not link."""
        missing = self.missing(expected)
        if missing:
            shown = ", ".join(missing[:12]) + (f" and {len(missing) - 12} more" if len(missing) > 12 else "")
            raise SetupError(Code.SAM_LINKS_INVALID,
                             f"The SA-1B links file {self.path.name} has no link for {len(missing)} of the "
                             f"{len(expected)} tars needed: {shown}.",
                             "Save the complete links file from Meta's SA-1B page (it lists sa_000000.tar "
                             "to sa_000999.tar) and pass it with --sam-links FILE.")


#: Meta's links file for all 1,000 tars is about 500 KB; anything far larger is not that file.
MAX_LINKS_FILE_BYTES = 16 * 1024 * 1024


def parse_links_file(path: Path) -> LinksFile:
    """Read and check a SA-1B links file. Raises :class:`LinksFileError` (``sam-links-invalid``).

    Checked: it is UTF-8 text; the first non-empty line is the header ``file_name<TAB>cdn_link``;
    every other non-empty line has exactly two tab-separated fields, a tar file name (no folders)
    and an http(s) URL whose ``oe=`` expiry, when present, is hexadecimal; no name twice. Rows
    may come in any order; blank lines, a BOM and CRLF line ends are accepted.
    """
    path = Path(path)
    kind = file_kind(path)
    if kind not in ("file", "missing", "folder"):  # a FIFO would hang, /dev/zero never ends
        raise LinksFileError(path, 0, f"this is a {kind}, not a regular file.")
    try:
        text = read_regular(path, MAX_LINKS_FILE_BYTES, "the links file").decode("utf-8-sig")
    except ValueError as exc:
        if isinstance(exc, UnicodeDecodeError):
            raise LinksFileError(path, 0, "the file is not UTF-8 text.") from None
        raise LinksFileError(path, 0, f"{exc} (Meta's file is about 500 KB).") from None
    except NotRegularFile:
        raise LinksFileError(path, 0, "this is not a regular file.") from None
    except FileNotFoundError:
        raise LinksFileError(path, 0, "the file does not exist.") from None
    except IsADirectoryError:
        raise LinksFileError(path, 0, "this is a folder, not the links file.") from None
    except UnicodeDecodeError:
        raise LinksFileError(path, 0, "the file is not UTF-8 text.") from None
    except OSError as exc:
        raise LinksFileError(path, 0, f"cannot read the file: {exc.strerror or exc}.") from None
    links: dict[str, Link] = {}
    header_seen = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split("\t")]
        if not header_seen:
            if tuple(f.lower() for f in fields) != HEADER:
                found = "spaces instead of a tab" if "\t" not in line and " " in line.strip() else repr(line[:60])
                raise LinksFileError(path, number, f"the header must be 'file_name<TAB>cdn_link', found {found}. "
                                     "Is this the file from Meta's SA-1B download page?")
            header_seen = True
            continue
        links_row = _row(path, number, fields, line)
        if links_row.name in links:
            raise LinksFileError(path, number, f"{links_row.name} is listed twice "
                                 f"(first on line {links[links_row.name].line}).")
        links[links_row.name] = links_row
    if not header_seen:
        raise LinksFileError(path, 0, "the file is empty.")
    if not links:
        raise LinksFileError(path, 0, "the file lists no links.")
    return LinksFile(path, links)


def _row(path: Path, number: int, fields: list[str], line: str) -> Link:
    if len(fields) != 2:
        hint = " (columns must be separated by one tab)" if len(fields) == 1 else ""
        raise LinksFileError(path, number, f"expected 2 tab-separated fields, found {len(fields)}{hint}.")
    name, url = fields
    if not name:
        raise LinksFileError(path, number, "the file_name field is empty.")
    if not _NAME.match(name):
        raise LinksFileError(path, number, f"'{name[:60]}' is not a SA-1B tar name like sa_000020.tar.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LinksFileError(path, number, f"the link for {name} is not an http(s) URL: {url[:60]!r}.")
    values = parse_qs(parts.query).get("oe")
    expires: int | None = None
    if values:
        try:
            expires = int(values[0], 16)
            datetime.fromtimestamp(expires, UTC)
        except (ValueError, OverflowError, OSError):
            raise LinksFileError(path, number, f"the link for {name} has an expiry oe={values[0][:20]} that is "
                                 "not a hexadecimal Unix time.") from None
    return Link(name, url, number, expires)


def tar_names(source: Source) -> list[str]:
    """The tar names a sam-links source covers: ``name_format`` for ``first`` … ``last``."""
    return [source.name_format.format(index=i) for i in range(source.first, source.last + 1)]


def _remaining_bytes(source: Source, total_tars: int, remaining: int) -> int | None:
    size = source.planned_size
    return None if size is None or total_tars == 0 else size * remaining // total_tars


def expiry_note(links: LinksFile, names: list[str], remaining_bytes: int | None,
                now: float | None = None) -> str | None:
    """A warning when the links of ``names`` expire before an estimated finish, else None."""
    moment = time.time() if now is None else now
    earliest = links.earliest_expiry(names)
    if earliest is None:
        return None
    left = earliest.timestamp() - moment
    needed = (remaining_bytes or 0) / ASSUMED_SPEED
    if left <= 0:
        return f"The SA-1B links expired on {earliest:%Y-%m-%d %H:%M} UTC."
    if left < max(needed, 24 * 3600):
        return (f"The SA-1B links expire on {earliest:%Y-%m-%d %H:%M} UTC (in {_duration(left)}); the "
                f"{len(names)} tar(s) left need about {_duration(needed)} at 10 MB/s. When they expire "
                "the job waits for a fresh links file (--sam-links); finished tars are kept.")
    return None


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{max(1, seconds // 60)} min"


def expired_error(names: list[str], when: datetime | None) -> SetupError:
    at = f" on {when:%Y-%m-%d %H:%M} UTC" if when else ""
    shown = ", ".join(names[:5]) + (" …" if len(names) > 5 else "")
    return SetupError(Code.SAM_LINKS_EXPIRED, f"The SA-1B links expired{at} ({shown}).", _FRESH_HINT, parked=True)


def fetch(ctx: JobContext, component: Component, source: Source, catalog: Catalog) -> Iterator[Path]:
    """Source module entry point for ``kind = "sam-links"``: each tar, in order, one at a time."""
    for name, link in _todo(ctx, component, source):
        yield _download(ctx, name, link)


def fetch_streamed(ctx: JobContext, component: Component, source: Source, catalog: Catalog, *,
                   only: Collection[str] | None = None) -> Iterator[Path | tarstream.Streamed]:
    """Like :func:`fetch`, but each tar is extracted into the target while it downloads
    (:mod:`wizard.engine.tarstream`) and never stored; yields a :class:`Streamed` per tar. A tar
    with bytes already in the downloads folder from an earlier run, or a compressed one, is
    downloaded and yielded as a file instead, for the pipeline to extract."""
    dest = ctx.root / component.target
    names = tar_names(source)
    size = source.planned_size // len(names) if source.planned_size and names else None
    for name, link in _todo(ctx, component, source):
        if not (ctx.downloads / name).exists() and not (ctx.downloads / f"{name}.part").exists():
            try:
                result = tarstream.stream_tar(ctx, link.url, name, dest, component.layout, only=only, size=size)
            except HttpStatusError as exc:
                raise _refused(name, exc) from exc
            except tarstream.NotStreamable as exc:
                ctx.log(f"{exc}: downloading it first, then extracting it")
            else:
                yield tarstream.Streamed(name, result)
                continue
        yield _download(ctx, name, link)


def _todo(ctx: JobContext, component: Component, source: Source) -> Iterator[tuple[str, Link]]:
    """The tars not done yet with their links, after the checks (links file, expiry)."""
    if ctx.settings.sam_links is None:
        raise SetupError(Code.SAM_LINKS_MISSING, f"{component.title} needs the SA-1B links file from Meta.",
                         _GET_FILE_HINT)
    links = parse_links_file(ctx.settings.sam_links)
    names = tar_names(source)
    links.require(names)
    remaining = [n for n in names if not ctx.item_done(n)]
    if not remaining:
        return
    expired = links.expired_names(remaining)
    if expired:
        raise expired_error(expired, links.earliest_expiry(remaining))
    note = expiry_note(links, remaining, _remaining_bytes(source, len(names), len(remaining)))
    if note:
        ctx.log(note, "warning")
    if len(remaining) < len(names):
        ctx.log(f"{len(names) - len(remaining)} of {len(names)} SA-1B tars were finished earlier; "
                f"continuing with {remaining[0]}")
    for name in remaining:
        ctx.control.checkpoint()
        link = links.links[name]
        if link.expires is not None and link.expires <= time.time():
            raise expired_error([name], link.expires_at)
        yield name, link


def _download(ctx: JobContext, name: str, link: Link) -> Path:
    try:
        return download(ctx, link.url, ctx.downloads / name)
    except HttpStatusError as exc:
        raise _refused(name, exc) from exc


def _refused(name: str, exc: HttpStatusError) -> SetupError:
    """401/403/410 from Meta's CDN: the links expired (parked); other statuses stay as they are."""
    if exc.status in _EXPIRED_STATUSES:
        return SetupError(Code.SAM_LINKS_EXPIRED,
                          f"Meta's CDN refused {name} (HTTP {exc.status}): the SA-1B links have expired "
                          "or were revoked.", _FRESH_HINT, parked=True)
    return exc


# ------------------------------------------------------------------------------------------
# Repair: one image back with one range request (the streamed tars' member index)
# ------------------------------------------------------------------------------------------
def _tar_index(ctx: JobContext, component: Component) -> dict[str, tuple[str, int, int]]:
    """Target-relative path -> (tar name, first byte, end byte) from the streamed tars' indexes."""
    index: dict[str, tuple[str, int, int]] = {}
    folder = state_dir(ctx.root) / "index"
    for path in sorted(folder.glob("*.members.tsv")) if folder.is_dir() else []:
        tar = path.name.removesuffix(".members.tsv")
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) != 3:
                continue
            rel = component.layout.map(parts[0])
            if rel is not None:
                index[rel] = (tar, int(parts[1]), int(parts[2]))
    return index


def _every_tar_indexed(ctx: JobContext, source: Source) -> bool:
    folder = state_dir(ctx.root) / "index"
    return all((folder / f"{name}.members.tsv").is_file() for name in tar_names(source))


def _repair_from_tar_index(ctx: JobContext, component: Component, source: Source,
                           only: set[str]) -> tuple[set[str], set[str]]:
    """SA-1B images whose place in a tar is indexed: one range request each, no whole tar.

    Returns (found, still wanted). Needs a links file whose links have not expired.
    """
    index = _tar_index(ctx, component)
    wanted = {rel: index[rel] for rel in only if rel in index}
    if not wanted or ctx.settings.sam_links is None:
        return set(), set(only)
    links = parse_links_file(ctx.settings.sam_links).links
    found: set[str] = set()
    dest = ctx.root / component.target
    for rel, (tar, start, end) in sorted(wanted.items(), key=lambda kv: kv[1]):
        link = links.get(tar)
        if link is None:
            continue
        headers = {"Range": f"bytes={start}-{end - 1}", "Accept-Encoding": "identity"}
        timeout = (ctx.settings.connect_timeout, ctx.settings.read_timeout)
        with client.get(ctx.session, link.url, headers=headers, timeout=timeout) as resp:
            if resp.status_code in (401, 403, 410):
                raise SetupError(Code.SAM_LINKS_EXPIRED, "The SA-1B links have expired.",
                                 "Get a fresh links file from Meta's SA-1B page and pass --sam-links.",
                                 parked=True)
            if resp.status_code != 206:
                break  # no ranges here: the caller downloads the tars instead
            streamed = StreamedTar(ctx, tar, dest, component.layout, only={rel})
            with tarfile.open(fileobj=resp.raw, mode="r|") as tf:
                for ti in tf:
                    streamed.member(tf, ti)
            found |= streamed.finish().found
    ctx.log(f"restored {len(found)} SA-1B image(s) with one range request each (member index)")
    return found, set(only) - found


class SamLinksKind(SourceKind):
    """``kind = "sam-links"``: the SA-1B tars through Meta's signed links file; streamed into
    place while they download (``Settings.stream_tars``) unless archives are kept."""

    name = "sam-links"
    needs_links_file = True

    def fetch(self, ctx: JobContext, component: Component, source: Source, catalog: Catalog, *,
              only: Collection[str] | None = None) -> Iterator[Path | tarstream.Streamed]:
        if self.streams(component, source, ctx.settings):
            return fetch_streamed(ctx, component, source, catalog, only=only)
        return fetch(ctx, component, source, catalog)

    def streams(self, component: Component, source: Source, settings: Settings) -> bool:
        return component.archive == "tar" and settings.stream_tars and not settings.keep_archives

    def unusable(self, component: Component, source: Source, settings: Settings) -> Problem | None:
        if settings.sam_links is not None:
            return None
        return Problem(Code.SAM_LINKS_MISSING, f"{component.title} needs the SA-1B links file from Meta.",
                       "Accept the SA-1B license on Meta's download page, save the links file and pass it "
                       "with --sam-links FILE.")

    def pieces(self, source: Source) -> int:
        return max(1, source.last - source.first + 1)

    def remaining_bytes(self, source: Source, downloads: Path, items_done: Collection[str]) -> int:
        names = tar_names(source)
        left = [n for n in names if n not in items_done]
        return (source.planned_size or 0) * len(left) // max(1, len(names))

    def plan_notes(self, source: Source, settings: Settings, items_done: Collection[str],
                   remaining: int) -> tuple[str, ...]:
        left = [n for n in tar_names(source) if n not in items_done]
        if settings.sam_links is None or not left:
            return ()
        try:
            note = expiry_note(parse_links_file(settings.sam_links), left, remaining)
        except SetupError as exc:
            return (exc.problem.message,)
        return (note,) if note else ()

    def host_label(self, source: Source, hub_endpoint: str, catalog: Catalog) -> str:
        return "Meta (signed links)"

    def item_names(self, source: Source) -> list[str]:
        return tar_names(source)

    def read_links_file(self, path: Path) -> LinksFile:
        """Parse and check a links file (raises :class:`LinksFileError` naming the line)."""
        return parse_links_file(path)

    def repair(self, ctx: JobContext, component: Component, source: Source, catalog: Catalog,
               only: set[str]) -> tuple[set[str], set[str]] | None:
        found, rest = _repair_from_tar_index(ctx, component, source, only)
        if rest and _every_tar_indexed(ctx, source):  # the rest is in no tar: nothing to download
            rest = set()
        return found, rest

    def why_missing(self, journal: Journal, component: Component, path: str) -> str | None:
        for source in component.sources:
            if source.kind == self.name and source.name_format:
                names = tar_names(source)
                return f"not in any of the SA-1B tars {names[0].removesuffix('.tar')}–{names[-1].removesuffix('.tar')}"
        return "not in any of the SA-1B tars"


KIND = SamLinksKind()
