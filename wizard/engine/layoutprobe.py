"""Check a zip's inner layout before extracting it — before downloading it, where the server
honours ``Range``.

A zip's central directory sits at its end (a few hundred KB for 25K members): one suffix range
request (``Range: bytes=-N``), and a second one when the directory starts before that tail, give
every member name without the multi-GB download. The names are checked against the catalog's
layout: when no member sits under the catalog's ``strip`` prefix but all that end with it share
one other prefix (TextVQA: ``train_val_images/train_images/`` instead of ``train_images/``), the
layout is adapted — said in the log, recorded in the job's journal record (``layout_strip``) so
resume and repair use it, and named in the finish summary; otherwise the job fails at once with
the members found. A server without ``Range`` is checked the same way on the downloaded file.
"""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import requests

from .catalog import Catalog, Component, Layout, Source
from .context import JobContext
from .errors import Code, SetupError
from .journal import state_dir
from .net.policy import RetryLater
from .net.rangefile import HttpRangeFile, RangeNotSupported
from .safefs import read_state_text, write_text_atomic
from .sources import kind_of
from .zipdir import UNREADABLE, open_zip

log = logging.getLogger(__name__)

#: Bytes asked for by the first request: the end-of-central-directory record plus, for most
#: archives, the whole central directory.
TAIL_BYTES = 1 << 20
STRIP_KEY = "layout_strip"


class NoRange(Exception):
    """The server does not answer range requests: check after the download instead."""


@dataclass(frozen=True)
class Verdict:
    """What the members say about a layout: ``layout`` to use, ``adapted`` when it changed."""

    layout: Layout
    adapted: bool = False


def _files(names: list[str]) -> list[str]:
    return [n for n in names if n and not n.endswith("/")]


def check_layout(names: list[str], layout: Layout, archive: str) -> Verdict:
    """The layout to extract ``names`` with; raises ``layout-incomplete`` listing members when
    neither the catalog's prefix nor a single other one holds the files."""
    files = _files(names)
    if any(layout.map(n) is not None for n in files):
        return Verdict(layout)
    marker = layout.strip
    prefixes = {n[: n.index("/" + marker) + 1 + len(marker)] for n in files if marker and "/" + marker in n}
    candidates = [replace(layout, strip=p) for p in sorted(prefixes)]
    usable = [c for c in candidates if any(c.map(n) is not None for n in files)]
    if len(usable) == 1:
        return Verdict(usable[0], adapted=True)
    shown = ", ".join(files[:8]) + (f" … ({len(files)} files)" if len(files) > 8 else "")
    raise SetupError(
        Code.LAYOUT_INCOMPLETE,
        f"{archive} holds no files where the catalog expects them (strip '{layout.strip}', include "
        f"{list(layout.include)}); its members: {shown or 'none'}.",
        "The archive's inner layout differs from the catalog: fix the entry's [component.layout] "
        "(--catalog) or choose another source.",
    )


def recorded_layout(component: Component, info: dict[str, object]) -> Layout:
    """The component's layout with an adaptation an earlier check recorded in the journal (for
    the catalog's prefix of then: a catalog edited since wins)."""
    rec = info.get(STRIP_KEY)
    if isinstance(rec, dict) and rec.get("from") == component.layout.strip and isinstance(rec.get("to"), str):
        return replace(component.layout, strip=rec["to"])
    return component.layout


def adopt(ctx: JobContext, component: Component, verdict: Verdict, archive: str) -> Component:
    """Use an adapted layout: log it, record it for resume and repair, return the component."""
    if not verdict.adapted:
        return component
    ctx.log(f"{archive}: its files are under '{verdict.layout.strip}', not '{component.layout.strip}' as the "
            "catalog says; using that prefix", "warning")
    ctx.journal.update_info(ctx.job, **{STRIP_KEY: {"from": component.layout.strip, "to": verdict.layout.strip}})
    return replace(component, layout=verdict.layout)


def adapted_note(component: Component, original: Layout) -> str:
    """For the finish summary: what was adapted, or ""."""
    if component.layout.strip == original.strip:
        return ""
    return f"; layout adapted: files under '{component.layout.strip}', not '{original.strip}'"


def check_local(ctx: JobContext, component: Component, path: Path) -> Component:
    """Check a downloaded zip's members against the layout (adapting it) before extracting, and
    keep its member list (``index/<archive>.zip-members``: repair then knows what it holds)."""
    try:
        with open_zip(path) as zf:
            names = zf.namelist()
    except UNREADABLE:
        return component  # extraction reports a damaged or unsupported archive properly
    with contextlib.suppress(OSError, UnicodeError):
        target = _members_file(ctx.root, path.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(target, "".join(n + "\n" for n in names))
    return adopt(ctx, component, check_layout(names, component.layout, path.name), path.name)


def _members_file(root: Path, archive: str) -> Path:
    return state_dir(root) / "index" / f"{archive}.zip-members"


def zip_members(root: Path, component: Component, layout: Layout) -> set[str] | None:
    """Target-relative paths the component's zip held when it was extracted here, or None when
    no member list was kept."""
    for source in component.sources:
        try:
            text = read_state_text(_members_file(root, source.file_name), errors="surrogateescape")
        except OSError:
            continue
        return {rel for name in text.splitlines() if (rel := layout.map(name)) is not None}
    return None


def remote_url(ctx: JobContext, source: Source, catalog: Catalog) -> tuple[str, dict[str, str]] | None:
    """The URL and request headers that read a source's bytes with Range requests (the kind's
    answer: plain http or the Hub, with the token only where it may go), or None."""
    return kind_of(source.kind).remote_file(ctx, source, catalog)


def remote_names(session: requests.Session, url: str, headers: dict[str, str],
                 timeout: tuple[float, float] = (20.0, 60.0), tail: int = TAIL_BYTES) -> tuple[list[str], int]:
    """Member names of a remote zip and the number of requests made (the tail holding the central
    directory, and one more when it is longer: :class:`~wizard.engine.net.rangefile.HttpRangeFile`);
    raises :class:`NoRange` (also for a body that is not a zip: the download-then-check path
    reports it properly)."""
    try:
        remote = HttpRangeFile(session, url, headers=headers, timeout=timeout, tail=tail)
        with open_zip(io.BufferedReader(remote, 64 * 1024)) as zf:
            return [info.filename for info in zf.infolist()], remote.requests_made
    except RangeNotSupported as exc:
        raise NoRange(str(exc)) from exc
    except (*UNREADABLE, ValueError) as exc:
        raise NoRange(f"its central directory could not be read ({exc})") from exc
    except (requests.RequestException, SetupError, RetryLater) as exc:
        raise NoRange(f"the range request failed ({type(exc).__name__})") from exc


def probe(ctx: JobContext, component: Component, source: Source, catalog: Catalog) -> Verdict | None:
    """Check the layout of a zip on an http/Hub server before downloading it; None when the
    server cannot say (no Range): the check then happens on the downloaded file."""
    remote = remote_url(ctx, source, catalog)
    if remote is None:
        return None
    url, headers = remote
    timeout = (ctx.settings.connect_timeout, ctx.settings.read_timeout)
    try:
        names, count = remote_names(ctx.session, url, headers, timeout)
    except NoRange as exc:
        ctx.log(f"{source.file_name}: layout not checked before downloading ({exc}); checked after")
        return None
    verdict = check_layout(names, component.layout, source.file_name)
    ctx.log(f"{source.file_name}: layout checked before downloading ({len(_files(names)):,} files listed "
            f"with {count} range request(s))")
    return verdict
