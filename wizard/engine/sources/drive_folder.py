"""Google Drive folders: which files a folder holds and where to download each one.

On Google Drive a folder is listed with ``gdown.download_folder(skip_download=True)`` (no
50-file limit any more) and each file is then fetched by id through :mod:`.drive`. A mirror of
the folders (the demo, nginx with ``autoindex_format json``) answers a JSON listing
``[{"name", "type", ...}]`` and serves each file under the folder URL.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from ..catalog import Catalog
from ..context import JobContext
from ..errors import Code, SetupError
from .drive_errors import drive_error
from .http import HttpStatusError

_RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}


def is_drive_url(url: str) -> bool:
    """Whether gdown applies its Google Drive logic to ``url`` (else it is a plain GET)."""
    return urlsplit(url).hostname in ("drive.google.com", "docs.google.com")


def list_folder(ctx: JobContext, catalog: Catalog, folder_id: str) -> dict[str, str]:
    """The files of a Drive folder: name -> download URL."""
    url = catalog.drive_folder_url.format(id=folder_id)
    if is_drive_url(url):
        return _list_drive_folder(ctx, catalog, folder_id)
    listing_url = url.rstrip("/") + "/"
    timeout = (ctx.settings.connect_timeout, ctx.settings.read_timeout)
    failures = 0
    while True:
        ctx.control.checkpoint()
        try:
            resp = ctx.session.get(listing_url, timeout=timeout)
            if resp.status_code in _RETRY_STATUSES:
                raise requests.ConnectionError(f"server answered {resp.status_code}")
            if resp.status_code >= 400:
                raise HttpStatusError(resp.status_code, listing_url, f"the folder {folder_id}")
            entries = resp.json()
            break
        except (requests.RequestException, ValueError) as exc:
            failures += 1
            if failures > ctx.settings.retries:
                raise SetupError(Code.NETWORK, f"Could not list the Drive folder {folder_id}: {exc}",
                                 "Check the network and run again.") from exc
            ctx.control.sleep(min(ctx.settings.backoff * 2 ** (failures - 1), ctx.settings.backoff_cap))
    if not isinstance(entries, list):
        raise SetupError(Code.DRIVE_HTML, f"The folder listing at {listing_url} is not a JSON list.",
                         "Point the catalog's [drive] folder_url at a server that lists folders as JSON.")
    return {str(e["name"]): f"{listing_url}{quote(str(e['name']))}" for e in entries
            if isinstance(e, dict) and e.get("type", "file") == "file" and "name" in e}


def _list_drive_folder(ctx: JobContext, catalog: Catalog, folder_id: str) -> dict[str, str]:
    import gdown
    from gdown.exceptions import DownloadError, FileURLRetrievalError

    try:
        files = gdown.download_folder(id=folder_id, skip_download=True, quiet=True,
                                      timeout=(ctx.settings.connect_timeout, ctx.settings.read_timeout))
    except FileURLRetrievalError as exc:
        raise drive_error(str(exc), f"the folder {folder_id}", ctx=ctx) from exc
    except (DownloadError, requests.RequestException) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise SetupError(Code.NETWORK, f"Could not list the Google Drive folder {folder_id}: {first}",
                         "Check the network and run again.") from exc
    entries: list[Any] = list(files or [])
    return {PurePosixPath(str(f.path)).name: catalog.drive_file_url.format(id=f.id) for f in entries}


def folder_file_url(ctx: JobContext, catalog: Catalog, folder_id: str, name: str) -> str:
    """The download URL of the file ``name`` in a Drive folder (a clear error when it is not there)."""
    files = list_folder(ctx, catalog, folder_id)
    if name not in files:
        shown = ", ".join(sorted(files)[:10]) or "nothing"
        raise SetupError(Code.DRIVE_PERMISSION, f"The Drive folder {folder_id} has no file {name} (it holds: {shown}).",
                         "The folder changed or is not shared publicly; check it in a browser, or give a "
                         "local copy with --local.")
    return files[name]
