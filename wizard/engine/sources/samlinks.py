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

import contextlib
import io
import os
import re
import sqlite3
import tarfile
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from .. import tarstream
from ..catalog import Catalog, Component, Source, check_url
from ..context import JobContext, Settings
from ..errors import Code, HttpStatusError, Problem, SetupError
from ..extract import StreamedTar
from ..journal import JobRecord, Journal, state_dir
from ..net.rangefile import RangeNotSupported, policy_retry, read_range
from ..net.transfer import download
from ..safefs import NotRegularFile, file_kind, open_private_file, read_regular, read_state_text, write_text_atomic
from ..units import human
from .registry import SourceKind

if TYPE_CHECKING:
    from ..plan import PlanItem

HEADER = ("file_name", "cdn_link")
#: The download speed assumed when warning that links expire before the work can finish.
ASSUMED_SPEED = 10_000_000  # bytes/s
_EXPIRED_STATUSES = (401, 403, 410)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*\.tar$")
#: The SA-1B image tars (``sa_000000.tar`` … ``sa_000999.tar``); other rows are other files.
_SA1B_TAR = re.compile(r"^sa_\d{6}\.tar$")
#: A row's first field, also when its columns are wrongly separated by spaces.
_ROW_NAME = re.compile(r"[\t ]+")
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
    #: Rows skipped because this component does not need them (their file names, file order).
    skipped: tuple[str, ...] = ()

    def skipped_note(self) -> str | None:
        """One line naming the rows skipped (e.g. ``sa_images_ids.txt``), or None."""
        if not self.skipped:
            return None
        return (f"{self.path.name}: skipped {len(self.skipped)} row(s) this download does not need: "
                f"{_names(self.skipped)}")

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


def parse_links_file(path: Path, needed: Collection[str] | None = None) -> LinksFile:
    """Read and check a SA-1B links file. Raises :class:`LinksFileError` (``sam-links-invalid``).

    Checked: it is UTF-8 text; the first non-empty line is the header ``file_name<TAB>cdn_link``;
    every row the component needs has exactly two tab-separated fields, a tar file name (no
    folders) and an http(s) URL whose ``oe=`` expiry, when present, is hexadecimal; no such name
    twice. Rows may come in any order; blank lines, a BOM and CRLF line ends are accepted.

    Meta's file also lists files no component here uses (``sa_images_ids.txt``, ``sa_co_gold.tar``,
    tars 51–999): such rows are skipped, not checked, and named in :attr:`LinksFile.skipped`.
    ``needed`` is the set of tar names the component uses; None means every ``sa_NNNNNN.tar``.
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
    wanted = None if needed is None else set(needed)
    links: dict[str, Link] = {}
    skipped: list[str] = []
    header_seen = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split("\t")]
        if not header_seen:
            if tuple(f.lower() for f in fields) != HEADER:
                if line.lstrip().startswith("<"):
                    raise LinksFileError(path, number, "this is a web page (HTML), not the links file: the page "
                                         "was saved instead of the file its link downloads. Download the links "
                                         "file itself from Meta's SA-1B download page.")
                found = "spaces instead of a tab" if "\t" not in line and " " in line.strip() else repr(line[:60])
                raise LinksFileError(path, number, f"the header must be 'file_name<TAB>cdn_link', found {found}. "
                                     "Is this the file from Meta's SA-1B download page?")
            header_seen = True
            continue
        name = _ROW_NAME.split(line.strip(), maxsplit=1)[0]
        if not (name in wanted if wanted is not None else _SA1B_TAR.match(name)):
            skipped.append(name[:60])  # a row this component does not need: never an error
            continue
        links_row = _row(path, number, fields, line)
        if links_row.name in links:
            raise LinksFileError(path, number, f"{links_row.name} is listed twice "
                                 f"(first on line {links[links_row.name].line}).")
        links[links_row.name] = links_row
    if not header_seen:
        raise LinksFileError(path, 0, "the file is empty.")
    if not links:
        extra = f" (it lists only {_names(skipped)})" if skipped else ""
        raise LinksFileError(path, 0, f"the file lists no links to the SA-1B tars needed{extra}.")
    return LinksFile(path, links, tuple(skipped))


def _names(names: Collection[str], limit: int = 5) -> str:
    shown = list(names)[:limit]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def _row(path: Path, number: int, fields: list[str], line: str) -> Link:
    if len(fields) != 2:
        hint = " (columns must be separated by one tab)" if len(fields) == 1 else ""
        raise LinksFileError(path, number, f"expected 2 tab-separated fields, found {len(fields)}{hint}.")
    name, url = fields
    if not name:
        raise LinksFileError(path, number, "the file_name field is empty.")
    if not _NAME.match(name):
        raise LinksFileError(path, number, f"'{name[:60]}' is not a SA-1B tar name like sa_000020.tar.")
    why = check_url(url)  # also a URL urlsplit cannot parse (an unclosed [ in the host, a bad port)
    if why:
        raise LinksFileError(path, number, f"the link for {name} is not an http(s) URL ({why}): {url[:60]!r}.")
    parts = urlsplit(url)
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


def fetch(ctx: JobContext, component: Component, source: Source, catalog: Catalog, *,
          only: Collection[str] | None = None) -> Iterator[Path]:
    """Source module entry point for ``kind = "sam-links"``: each tar, in order, one at a time
    (with ``only``: until every wanted image is in place, see :class:`_Wanted`)."""
    for name, link in _todo(ctx, component, source, only):
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
    for name, link in _todo(ctx, component, source, only):
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


def _todo(ctx: JobContext, component: Component, source: Source,
          only: Collection[str] | None = None) -> Iterator[tuple[str, Link]]:
    """The tars not done yet with their links, after the checks (links file, expiry). With
    ``only`` (the images the run's JSONs reference), it stops once they are all in place and
    passes over tars the member index shows to hold none of those still missing."""
    if ctx.settings.sam_links is None:
        raise SetupError(Code.SAM_LINKS_MISSING, f"{component.title} needs the SA-1B links file from Meta.",
                         _GET_FILE_HINT)
    names = tar_names(source)
    links = parse_links_file(ctx.settings.sam_links, names)
    links.require(names)
    note = links.skipped_note()
    if note:
        ctx.log(note)
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
    wanted = _Wanted(ctx, component, only) if only is not None else None
    try:
        for name in remaining:
            ctx.control.checkpoint()
            if wanted is not None and not wanted.still_needed(name):
                if not wanted.missing:
                    return
                continue
            yield from _checked(name, links.links[name])
    finally:
        if wanted is not None:
            with contextlib.suppress(sqlite3.Error, OSError):
                wanted.record()


def _checked(name: str, link: Link) -> Iterator[tuple[str, Link]]:
    """The tar with its link, unless the link has expired meanwhile (then parked)."""
    if link.expires is not None and link.expires <= time.time():
        raise expired_error([name], link.expires_at)
    yield name, link


class _Wanted:
    """The images the run's JSONs reference in this target, and which of them are still missing.

    SA-1B does not publish which tar holds which image, so tars are read in order and the reading
    stops once every wanted image is in place — whichever component placed it (the 9K zip runs
    first, see the runner). Tars the member index of an earlier pass shows to hold none of the
    missing images are passed over without a request. What was learned (how many wanted images
    each tar held) is kept in the job's journal record as ``sam_tar_map``.
    """

    def __init__(self, ctx: JobContext, component: Component, only: Collection[str]) -> None:
        self.ctx = ctx
        self.layout = component.layout
        self.dest = ctx.root / component.target
        self.wanted = set(only)
        self.missing = set(only)
        self.index = tarstream.read_member_index(ctx.root, component.layout)
        self._refresh()
        # In place before any tar was read and in no tar read so far: another component (the SAM
        # 9K zip) brought them. Noted, so a later plan can be exact without them.
        self.elsewhere_file = elsewhere_path(ctx.root, component)
        brought = {p for p in self.wanted - self.missing if p not in self.index.where} - elsewhere(
            ctx.root, component)
        if brought:
            with contextlib.suppress(OSError):
                self.elsewhere_file.parent.mkdir(parents=True, exist_ok=True)
                with open_private_file(self.elsewhere_file, "a", encoding="utf-8") as fh:
                    fh.writelines(p + "\n" for p in sorted(brought))

    def _refresh(self) -> None:
        if self.missing and all("/" not in p for p in self.missing):
            try:
                present = set(os.listdir(self.dest))
            except OSError:
                present = set()
            self.missing -= present
        else:
            self.missing = {p for p in self.missing if not (self.dest / p).is_file()}

    def still_needed(self, name: str) -> bool:
        """Whether tar ``name`` must be read; logs why not when it need not."""
        self._refresh()
        if not self.missing:
            self.ctx.log(f"all {len(self.wanted):,} SAM images the selected annotations reference are in "
                         f"place; {name} and the tars after it are not needed (--full-archives reads them all)")
            return False
        if name in self.index.complete and not self.index.tars_holding(self.missing).get(name):
            self.ctx.log(f"{name}: its member index shows none of the {len(self.missing):,} SAM images still "
                         "needed; not downloaded")
            return False
        return True

    def record(self) -> None:
        """Keep the map learned so far (tar -> wanted images it holds) in the journal."""
        learned = tarstream.read_member_index(self.ctx.root, self.layout)
        self.ctx.journal.update_info(self.ctx.job, sam_tar_map=learned.tars_holding(self.wanted))


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
def _every_tar_indexed(ctx: JobContext, component: Component, source: Source) -> bool:
    return set(tar_names(source)) <= tarstream.read_member_index(ctx.root, component.layout).complete


def _stream_tars(ctx: JobContext, component: Component, source: Source, catalog: Catalog,
                 only: set[str]) -> set[str]:
    """Read tars in order — not those the member index shows to lack the files — until ``only``
    is in place (:func:`fetch_streamed`); the target-relative paths now in place."""
    from ..extract import extract_archive

    dest = ctx.root / component.target
    for item in fetch_streamed(ctx, component, source, catalog, only=only):
        if isinstance(item, tarstream.Streamed):
            continue
        extract_archive(ctx, item, "tar", dest, component.layout, only=only)
        item.unlink(missing_ok=True)
    return {p for p in only if (dest / p).is_file()}


def _repair_from_tar_index(ctx: JobContext, component: Component, source: Source,
                           only: set[str]) -> tuple[set[str], set[str]]:
    """SA-1B images whose place in a tar is indexed: one range request each, no whole tar.

    Returns (found, still wanted). Needs a links file whose links have not expired.
    """
    index = tarstream.read_member_index(ctx.root, component.layout).where
    wanted = {rel: index[rel] for rel in only if rel in index}
    if not wanted or ctx.settings.sam_links is None:
        return set(), set(only)
    links = parse_links_file(ctx.settings.sam_links, tar_names(source)).links
    found: set[str] = set()
    dest = ctx.root / component.target
    whole: dict[str, set[str]] = {}  # compressed tars: no byte range, the one tar that holds them
    for rel, (tar, start, end) in sorted(wanted.items(), key=lambda kv: kv[1]):
        link = links.get(tar)
        if link is None:
            continue
        if start < 0:
            whole.setdefault(tar, set()).add(rel)
            continue
        timeout = (ctx.settings.connect_timeout, ctx.settings.read_timeout)
        try:
            data = read_range(ctx.session, link.url, start, end - 1, timeout=timeout,
                              retry=policy_retry(ctx, f"{rel} from {tar}"), reached=bool(found))
        except HttpStatusError as exc:
            raise _refused(tar, exc) from exc
        except RangeNotSupported as exc:
            ctx.log(f"{tar}: {exc}; reading the tars instead", "warning")
            break  # no ranges here: the caller streams the tars instead
        streamed = StreamedTar(ctx, tar, dest, component.layout, only={rel})
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tf:
                for ti in tf:
                    streamed.member(tf, ti)
        except (tarfile.TarError, EOFError) as exc:  # not the member the index says (the tar changed upstream)
            ctx.log(f"{tar}: the bytes at {rel}'s place are not that member ({exc}); reading the tars instead",
                    "warning")
            break
        found |= streamed.finish().found
    ctx.log(f"restored {len(found)} SA-1B image(s) with one range request each (member index)")
    for tar, rels in sorted(whole.items()):
        ctx.log(f"{tar} is compressed: reading it again for the {len(rels)} image(s) it holds")
        found |= tarstream.stream_tar(ctx, links[tar].url, tar, dest, component.layout, only=rels).found
    return found, set(only) - found


# ------------------------------------------------------------------------------------------
# Planning: which tars the selected annotations need
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TarEstimate:
    """What the plan can say about the SA-1B tars the selected JSONs need."""

    wanted: int  # SAM images the JSONs reference (in this component's folder)
    missing: int  # of those, not in place yet
    tars: tuple[str, ...]  # the tars to read: exactly these (``exact``) or at most these
    exact: bool  # True: an earlier run's member index locates every missing image
    download_bytes: int
    others: int = 0  # missing images an earlier pass saw brought by the folder's other components


def referenced(root: Path, component: Component, jsons: Collection[Path]) -> set[str]:
    """The target-relative image paths ``jsons`` reference under the component's folder (each
    JSON's list is cached under the state folder, keyed on its size and mtime)."""
    from ..subset import remembered

    out: set[str] = set()
    for path in jsons:
        st = path.stat()
        key = f"{st.st_size} {st.st_mtime_ns}"
        out.update(remembered(("paths", str(path.absolute()), key, component.id),
                              partial(_referenced_by, root, component, path, key)))
    return out


def _referenced_by(root: Path, component: Component, path: Path, key: str) -> frozenset[str]:
    """:func:`referenced` for one JSON: from its cache file, else read (and cached)."""
    from ..subset import image_paths

    prefix = component.target + "/"
    cache = state_dir(root) / "index" / f"{path.name}.{component.id}.paths"
    try:
        lines = read_state_text(cache).split("\n")
        if lines[0] == key:
            return frozenset(line for line in lines[1:] if line)
    except (OSError, UnicodeDecodeError):
        pass
    found = sorted(p[len(prefix):] for p in image_paths(path) if p.startswith(prefix))
    with contextlib.suppress(OSError):
        cache.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(cache, key + "\n" + "\n".join(found) + "\n")
    return frozenset(found)


def elsewhere_path(root: Path, component: Component) -> Path:

    return state_dir(root) / "index" / f"{component.id}.elsewhere.txt"


def elsewhere(root: Path, component: Component) -> set[str]:
    """Wanted images an earlier pass found in place before reading any tar (e.g. from the 9K zip)."""
    try:
        return {line for line in read_state_text(elsewhere_path(root, component)).split("\n") if line}
    except (OSError, UnicodeDecodeError):
        return set()


def estimate(root: Path, component: Component, source: Source, jsons: Collection[Path],
             done: Collection[str] = ()) -> TarEstimate:
    """The tars a run with these JSONs reads: in order until every referenced image is in place,
    so at most every tar not ``done``; exactly the ones holding the missing images when the member
    index of an earlier pass locates them all (the learned map)."""
    wanted = referenced(root, component, jsons)
    dest = root / component.target
    try:
        present = set(os.listdir(dest)) if all("/" not in p for p in wanted) else {
            p for p in wanted if (dest / p).is_file()}
    except OSError:
        present = set()
    missing = wanted - present
    names = tar_names(source)
    per_tar = source.planned_size // len(names) if source.planned_size and names else 0
    index = tarstream.read_member_index(root, component.layout)
    located = index.tars_holding(missing)
    others = elsewhere(root, component) & missing  # the other components of the folder bring these
    if not missing:
        tars: list[str] = []
        exact = True
    elif sum(located.values()) + len(others - set(index.where)) == len(missing):
        tars, exact = [n for n in names if located.get(n)], True
    else:
        tars = [n for n in names if n not in done and (n not in index.complete or located.get(n))]
        exact = False
    return TarEstimate(len(wanted), len(missing), tuple(tars), exact, per_tar * len(tars),
                       len(others - set(index.where)) if exact else 0)


class SamLinksKind(SourceKind):
    """``kind = "sam-links"``: the SA-1B tars through Meta's signed links file; streamed into
    place while they download (``Settings.stream_tars``) unless archives are kept."""

    name = "sam-links"
    needs_links_file = True
    waits_for_siblings = True

    def fetch(self, ctx: JobContext, component: Component, source: Source, catalog: Catalog, *,
              only: Collection[str] | None = None) -> Iterator[Path | tarstream.Streamed]:
        if self.streams(component, source, ctx.settings):
            return fetch_streamed(ctx, component, source, catalog, only=only)
        return fetch(ctx, component, source, catalog, only=only)  # with ``only``: stops once in place

    def streams(self, component: Component, source: Source, settings: Settings) -> bool:
        return component.archive == "tar" and settings.stream_tars and not settings.keep_archives

    def unusable(self, component: Component, source: Source, settings: Settings) -> Problem | None:
        if settings.sam_links is not None:
            return None
        return Problem(Code.SAM_LINKS_MISSING, f"{component.title} needs the SA-1B links file from Meta.",
                       "Accept the SA-1B license on Meta's download page, save the links file and pass it "
                       "with --sam-links FILE.")

    def read_annotations(self, root: Path, component: Component, jsons: list[Path]) -> None:
        referenced(root, component, jsons)

    def refine_for_annotations(self, root: Path, item: PlanItem, record: JobRecord | None,
                               jsons: list[Path]) -> PlanItem:
        """SA-1B tars are read in order until the images the JSONs reference are in place: say how
        many that is, and which tars (exactly, once an earlier run's member index locates them)."""
        assert item.source is not None
        done = record.info.get("items_done", []) if record is not None and item.needs_work else []
        try:
            est = estimate(root, item.component, item.source, jsons, done)
        except (SetupError, OSError):
            return item
        shown = ", ".join(est.tars[:6]) + (f" and {len(est.tars) - 6} more" if len(est.tars) > 6 else "")
        if est.exact and est.tars:
            note = (f"the selected annotations reference {est.wanted:,} SAM images; the member index of an earlier "
                    f"run places the {est.missing - est.others:,} not in place in {len(est.tars)} tar(s): {shown} "
                    f"({human(est.download_bytes)})"
                    + (f"; the other {est.others:,} come from the folder's other components" if est.others else ""))
        elif est.exact:
            tars = ", ".join(f"{n} ({k:,})" for n, k in sorted((record.info.get("sam_tar_map") or {}).items())) \
                if record is not None else ""
            note = (f"all {est.wanted:,} SAM images the selected annotations reference are in place"
                    + (f"; they came from {tars}" if tars else ""))
        else:
            note = (f"the selected annotations reference {est.wanted:,} SAM images ({est.missing:,} not in place); "
                    f"tars are read in order and stop once they are all in place: up to "
                    f"{human(est.download_bytes)} ({len(est.tars)} tars)")
        download = est.download_bytes if item.needs_work else 0
        return replace(item, download_bytes=min(item.download_bytes, download) if est.exact else item.download_bytes,
                       notes=(*item.notes, note))

    def holds(self, root: Path, component: Component, source: Source) -> Callable[[str], bool | None] | None:
        index = tarstream.read_member_index(root, component.layout)
        every_tar_read = set(tar_names(source)) <= index.complete
        return lambda rel: True if rel in index.where else (False if every_tar_read else None)

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
            links = parse_links_file(settings.sam_links, tar_names(source))
        except SetupError as exc:
            return (exc.problem.message,)
        return tuple(n for n in (links.skipped_note(), expiry_note(links, left, remaining)) if n)

    def host_label(self, source: Source, hub_endpoint: str, catalog: Catalog) -> str:
        return "Meta (signed links)"

    def item_names(self, source: Source) -> list[str]:
        return tar_names(source)

    def read_links_file(self, path: Path, needed: Collection[str] | None = None) -> LinksFile:
        """Parse and check a links file (raises :class:`LinksFileError` naming the line)."""
        return parse_links_file(path, needed)

    def repair(self, ctx: JobContext, component: Component, source: Source, catalog: Catalog,
               only: set[str]) -> tuple[set[str], set[str]] | None:
        found, rest = _repair_from_tar_index(ctx, component, source, only)
        indexed = tarstream.read_member_index(ctx.root, component.layout).where
        if not rest or (_every_tar_indexed(ctx, component, source)
                        and not any(rel in indexed for rel in rest)):  # the rest is in no tar
            return found, set()
        return found | _stream_tars(ctx, component, source, catalog, rest), set()

    def why_missing(self, journal: Journal, component: Component, path: str) -> str | None:
        for source in component.sources:
            if source.kind == self.name and source.name_format:
                names = tar_names(source)
                return f"not in any of the SA-1B tars {names[0].removesuffix('.tar')}–{names[-1].removesuffix('.tar')}"
        return "not in any of the SA-1B tars"


KIND = SamLinksKind()
