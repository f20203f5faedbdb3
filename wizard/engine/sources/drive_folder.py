"""Google Drive folders: which files a folder holds and where to download each one.

On Google Drive a folder is listed with ``gdown.download_folder(skip_download=True)`` (no
50-file limit any more) and each file is then fetched by id through :mod:`.drive`. A mirror of
the folders (the demo, nginx with ``autoindex_format json``) answers a JSON listing
``[{"name", "type", ...}]`` and serves each file under the folder URL.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from ..catalog import Catalog
from ..context import JobContext
from ..errors import Code, SetupError
from ..net import client
from ..net.policy import Attempts, Kind, RetryLater, classify, is_retryable
from .drive_cookies import cookies_file
from .drive_errors import drive_error

#: How gdown's folder listing names the status of a refused page: "(status code 500)".
_STATUS = re.compile(r"\(status code (\d{3})\)")


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
    st = ctx.settings
    attempts = Attempts(f"the Drive folder {folder_id}", st.retries, st.backoff, st.backoff_cap, rand=ctx.net.rand)
    while True:
        ctx.control.checkpoint()
        problem: BaseException
        try:
            with client.get(ctx.session, listing_url, timeout=timeout, stream=False) as resp:
                classify(resp.status_code, resp.headers, cap=st.backoff_cap * 10, now=ctx.net.wall).raise_for(
                    listing_url, f"the folder {folder_id}")
                entries = resp.json()
            break
        except RetryLater as exc:
            problem = exc
        except requests.RequestException as exc:
            if not is_retryable(exc) and not isinstance(exc, requests.exceptions.JSONDecodeError):
                raise SetupError(Code.NETWORK, f"Could not list the Drive folder {folder_id}: {exc}",
                                 "Check the network and run again.") from exc
            problem = exc
        except ValueError as exc:
            problem = RetryLater(f"the listing is not JSON ({exc})")
        delay = attempts.failed(problem)
        ctx.log(f"listing the Drive folder {folder_id}: {problem}; {attempts.note(delay)}", "warning")
        ctx.control.sleep(delay)
    if not isinstance(entries, list):
        raise SetupError(Code.DRIVE_HTML, f"The folder listing at {listing_url} is not a JSON list.",
                         "Point the catalog's [drive] folder_url at a server that lists folders as JSON.")
    return {str(e["name"]): f"{listing_url}{quote(str(e['name']))}" for e in entries
            if isinstance(e, dict) and e.get("type", "file") == "file" and "name" in e}


def _list_drive_folder(ctx: JobContext, catalog: Catalog, folder_id: str) -> dict[str, str]:
    import gdown
    from gdown.exceptions import DownloadError, FileURLRetrievalError

    st = ctx.settings
    attempts = Attempts(f"the Google Drive folder {folder_id}", st.retries, st.backoff, st.backoff_cap,
                        rand=ctx.net.rand)
    while True:
        ctx.control.checkpoint()
        cookies = cookies_file(ctx)
        problem: BaseException
        try:
            files = gdown.download_folder(id=folder_id, skip_download=True, quiet=True,
                                          timeout=(st.connect_timeout, st.read_timeout),
                                          use_cookies=cookies is not None, cookies_file=cookies,
                                          verify=client.ca_bundle() or True)
            break
        except FileURLRetrievalError as exc:
            raise drive_error(str(exc), f"the folder {folder_id}", ctx=ctx) from exc
        except (DownloadError, requests.RequestException) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            status = _STATUS.search(first)
            if isinstance(exc, requests.RequestException) and is_retryable(exc):
                problem = exc
            elif status and classify(int(status.group(1)), {}).kind is Kind.RETRY:  # 429, 5xx: Drive is busy
                problem = RetryLater(f"Drive answered {status.group(1)}")
            elif status and status.group(1) in ("401", "403", "404"):  # not shared (any more), or gone
                raise drive_error(first, f"the folder {folder_id}", ctx=ctx) from exc
            else:
                raise SetupError(Code.NETWORK, f"Could not list the Google Drive folder {folder_id}: {first}",
                                 "Check the network and run again.") from exc
        delay = attempts.failed(problem)
        ctx.log(f"listing the Google Drive folder {folder_id}: {problem}; {attempts.note(delay)}", "warning")
        ctx.control.sleep(delay)
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
