"""How Google Drive refuses a file, as coded errors: quota (parked), permission, with hints.

Shared by :mod:`.drive` (files) and :mod:`.drive_folder` (folder listings), so neither imports
the other for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import Code, SetupError

if TYPE_CHECKING:
    from ..catalog import Component, Source
    from ..context import JobContext

#: What Google Drive says when a file's download quota is used up (also inside gdown's errors).
QUOTA_TEXT = "Too many users have viewed or downloaded this file recently"


def _community(component: Component | None) -> Source | None:
    if component is None:
        return None
    return next((s for s in component.sources if s.community), None)


def quota_error(what: str, *, ctx: JobContext | None = None, component: Component | None = None) -> SetupError:
    """``drive-quota``, parked: the job waits; the hint names the community mirror if there is one."""
    hint = ("Google Drive's download quota for this file is used up; it resets in about 24 h. "
            "The job waits; run again later")
    mirror = _community(component)
    if mirror is not None and not (ctx is not None and ctx.settings.allow_mirrors):
        hint += f" or allow community mirrors (--allow-mirrors): {mirror.label}"
    hint += ". A copy downloaded in a browser can be given with --local."
    return SetupError(Code.DRIVE_QUOTA, f"Google Drive quota exceeded for {what}.", hint, parked=True)


def drive_error(text: str, what: str, *, ctx: JobContext | None = None,
                component: Component | None = None) -> SetupError:
    """Map what gdown (or Drive) said — e.g. a ``FileURLRetrievalError`` text — to a SetupError."""
    if has_quota_text(text):
        return quota_error(what, ctx=ctx, component=component)
    hint = ("The file may not be shared with 'Anyone with the link' any more, or Drive wants a signed-in "
            "browser. Open its link in a browser; if it downloads there, pass that copy with --local "
            "(or allow community mirrors with --allow-mirrors where the component has one).")
    if "many accesses" in text:
        hint += (" Drive gives this same answer when a file's download quota is used up: if the file "
                 "opens in a browser, wait about 24 h and run again.")
    return SetupError(Code.DRIVE_PERMISSION, f"Google Drive refused {what}: {_reason(text)}", hint)


def has_quota_text(text: str) -> bool:
    """Whether a Drive page or gdown error says the download quota is used up (any line wrapping)."""
    return QUOTA_TEXT.lower() in " ".join(text.split()).lower()


def _reason(text: str) -> str:
    """Drive's own words from a gdown error ("Failed to retrieve file url: <reason> You may ...")."""
    flat = " ".join(text.split())
    flat = flat.removeprefix("Failed to retrieve file url:").strip()
    flat = flat.split(" You may still be able to access", 1)[0].strip()
    return flat[:300] or "no reason given"
