"""The cookies.txt gdown gets: a private copy per job in the state folder, never gdown's own file.

On Google Drive gdown loads its cookies file when a session starts and writes the session's
cookies back after every answer, emptying the file first. Two Drive jobs sharing one file (the
run downloads two Drive files at once) read each other's half-written file: gdown then warns,
goes on with no cookies and writes that back — the user's Google sign-in (``--drive-cookies``,
for users the quota stops) is lost for the rest of the run. gdown's default file
(``~/.cache/gdown/cookies.txt``) is also outside the data root. So each job gets its own copy,
made from ``--drive-cookies FILE`` or, without it, from gdown's default file when the user put
one there (read, never written); with neither, gdown uses no cookies file at all.
Shared by :mod:`.drive` (files) and :mod:`.drive_folder` (folder listings).
"""

from __future__ import annotations

import http.cookiejar
import logging
import os
from pathlib import Path

from ..context import JobContext
from ..errors import Code, SetupError
from ..safefs import NotRegularFile, open_private_file, read_regular

log = logging.getLogger(__name__)

#: A browser's cookies.txt is a few KB; anything far larger is not that file.
_MAX_COOKIES_BYTES = 4 * 1024 * 1024
#: Where gdown looks by default, and where its FAQ tells users to put a browser's cookies.
GDOWN_COOKIES = Path("~/.cache/gdown/cookies.txt")


def cookies_file(ctx: JobContext) -> str | None:
    """This job's private cookies.txt for gdown, or None: no cookies (pass ``use_cookies=False``)."""
    source = ctx.settings.drive_cookies
    named = source is not None
    if source is None:
        source = GDOWN_COOKIES.expanduser()
        if not source.is_file():
            return None
    hint = ("Export cookies.txt (Netscape format) from a browser signed in to Google and pass "
            "--drive-cookies FILE.")
    copy = ctx.downloads.parent / f"drive-cookies.{ctx.job}.txt"
    try:
        data = read_regular(source, _MAX_COOKIES_BYTES, "the Drive cookies file")
        with open_private_file(copy, "wb") as out:
            if hasattr(os, "fchmod"):  # POSIX: session cookies are this user's only
                os.fchmod(out.fileno(), 0o600)
            out.write(data)
        # As gdown reads it: one that fails there would be dropped with a Python warning.
        http.cookiejar.MozillaCookieJar(str(copy)).load(ignore_discard=True, ignore_expires=True)
    except (OSError, ValueError, NotRegularFile, http.cookiejar.LoadError, UnicodeDecodeError) as exc:
        copy.unlink(missing_ok=True)
        if not named:  # gdown's own file, not one the user named here: go on without it
            ctx.log(f"not using {source} for Google Drive: it is not a readable cookies.txt", "warning")
            return None
        if isinstance(exc, http.cookiejar.LoadError | UnicodeDecodeError):
            raise SetupError(Code.LOCAL_INVALID, f"The Drive cookies file {source} is not a cookies.txt in "
                             "Netscape format (its first line must be '# Netscape HTTP Cookie File' or "
                             "'# HTTP Cookie File').", hint) from exc
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or "not a regular file"
        raise SetupError(Code.LOCAL_INVALID, f"Cannot use the Drive cookies file {source}: {why}.", hint) from exc
    return str(copy)
