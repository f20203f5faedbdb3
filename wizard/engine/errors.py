"""Errors as values: a stable code, a message for people, and a hint saying what to do next.

The GUI and the CLI render a :class:`Problem` the same way. Engine code raises
:class:`SetupError` (which carries a Problem) and the runner turns it into an event; nothing
else is allowed to escape a job.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Code(StrEnum):
    """Stable error codes. Tests, logs and the journal refer to these strings."""

    ROOT_MISSING = "root-missing"
    ROOT_NOT_DIR = "root-not-dir"
    ROOT_NOT_WRITABLE = "root-not-writable"
    ROOT_LOCKED = "root-locked"
    DEMO_ROOT = "demo-root"
    NO_SPACE = "no-space"
    CATALOG_INVALID = "catalog-invalid"
    UNKNOWN_COMPONENT = "unknown-component"
    NETWORK = "network"
    HTTP_STATUS = "http-status"
    RETRIES_EXHAUSTED = "retries-exhausted"
    SIZE_MISMATCH = "size-mismatch"
    BODY_TOO_LONG = "body-too-long"
    CHECKSUM_MISMATCH = "checksum-mismatch"
    ARCHIVE_CORRUPT = "archive-corrupt"
    ARCHIVE_UNSAFE = "archive-unsafe"
    ARCHIVE_TOO_LARGE = "archive-too-large"
    ARCHIVE_UNSUPPORTED = "archive-unsupported"
    ANNOTATIONS_INVALID = "annotations-invalid"
    LAYOUT_INCOMPLETE = "layout-incomplete"
    HUB_METADATA = "hub-metadata"
    DRIVE_QUOTA = "drive-quota"
    DRIVE_PERMISSION = "drive-permission"
    DRIVE_HTML = "drive-html"
    SAM_LINKS_MISSING = "sam-links-missing"
    SAM_LINKS_INVALID = "sam-links-invalid"
    SAM_LINKS_EXPIRED = "sam-links-expired"
    LOCAL_INVALID = "local-invalid"
    PATH_BLOCKED = "path-blocked"
    NAME_TOO_LONG = "name-too-long"
    CASE_COLLISION = "case-collision"
    IO_ERROR = "io-error"
    NO_SOURCE = "no-source"
    CANCELLED = "cancelled"
    INTERNAL = "internal"


@dataclass(frozen=True)
class Problem:
    """What went wrong, for whom, and what to do about it."""

    code: Code
    message: str
    hint: str = ""
    #: True when the job should wait (quota, expired links) rather than count as failed.
    parked: bool = False

    def render(self) -> str:
        """The one-paragraph text shown by both the CLI and the GUI."""
        text = f"[{self.code}] {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class SetupError(Exception):
    """An exception that carries a :class:`Problem`; raised inside the engine only."""

    def __init__(self, code: Code, message: str, hint: str = "", *, parked: bool = False) -> None:
        super().__init__(message)
        self.problem = Problem(code, message, hint, parked)

    @classmethod
    def of(cls, problem: Problem) -> SetupError:
        return cls(problem.code, problem.message, problem.hint, parked=problem.parked)


class HttpStatusError(SetupError):
    """A final (non-retryable) HTTP status; sources map some of them to their own codes."""

    def __init__(self, status: int, url: str, name: str, *, expired: bool = False) -> None:
        if expired:  # an S3-style "Request has expired": the signed link's time ran out
            super().__init__(
                Code.HTTP_STATUS,
                f"The server answered {status} for {name}: its signed link has expired "
                "(the server says \"Request has expired\").",
                "Signed links work for a limited time only: get a fresh URL for it from the mirror and give it "
                "in your catalog (--catalog FILE); what was downloaded so far is kept.",
            )
        else:
            super().__init__(
                Code.HTTP_STATUS,
                f"The proxy asks for a user name and password (HTTP 407) for {name}." if status == 407
                else f"The server answered {status} for {name}.",
                _status_hint(status),
            )
        self.status = status
        self.url = url
        self.expired = expired


#: What to check when a proxy set in the environment is what failed (407, refused, unknown name).
PROXY_HINT = ("Check the proxy set in HTTPS_PROXY / HTTP_PROXY / ALL_PROXY (and NO_PROXY, the hosts reached "
              "directly): one that asks for a password takes it in its URL, e.g. "
              "HTTPS_PROXY=http://user:password@proxy.example:3128 (and HTTP_PROXY alike). "
              "Nothing downloaded so far is lost.")


def _status_hint(status: int) -> str:
    if status == 407:
        return PROXY_HINT
    if status in (401, 403):
        return "Access was refused: the link may have expired or need a token; get a fresh link."
    if status == 404:
        return "The file is not there any more: point the catalog at a mirror (--catalog)."
    return "Try again later; the run can be resumed at any time."


class Cancelled(Exception):
    """Raised at a checkpoint when the user cancelled; the work done so far is kept."""
