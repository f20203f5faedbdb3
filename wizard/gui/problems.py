"""Engine problems in the wizard's language: a translated summary and hint per problem code.

The engine's messages are English and specific ("HTTP 404 for https://…/train2017.zip"). In
another language the wizard shows the translated summary of the problem's code with the
engine's message as the detail, and the translated hint of the code (the engine's hint when the
table has none). In English the engine's own message and hint are shown unchanged.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication

from ..engine.errors import Code, Problem
from .i18n import current_language


def _table() -> dict[Code, tuple[str, str]]:
    """Code -> (summary, hint), translated (built per call: the language may have changed)."""
    return {
        Code.ROOT_MISSING: (
            QCoreApplication.translate("Problems", "The data root does not exist."),
            QCoreApplication.translate("Problems", "Create its parent folder or choose an existing folder.")),
        Code.ROOT_NOT_DIR: (
            QCoreApplication.translate("Problems", "The data root is a file, not a folder."),
            QCoreApplication.translate("Problems", "Choose a folder.")),
        Code.ROOT_NOT_WRITABLE: (
            QCoreApplication.translate("Problems", "The data root cannot be written."),
            QCoreApplication.translate("Problems", "Choose a folder you own.")),
        Code.ROOT_LOCKED: (
            QCoreApplication.translate("Problems", "Another run is using this data root."),
            QCoreApplication.translate("Problems", "Wait for it to finish or stop it, then start again.")),
        Code.DEMO_ROOT: (
            QCoreApplication.translate("Problems", "This folder is for the demo, or for real data — not both."),
            QCoreApplication.translate("Problems", "Choose another data root.")),
        Code.NO_SPACE: (
            QCoreApplication.translate("Problems", "Not enough free disk space."),
            QCoreApplication.translate("Problems", "Free some space or choose another root; the work so far is kept.")),
        Code.CATALOG_INVALID: (
            QCoreApplication.translate("Problems", "The catalog file is not valid."),
            QCoreApplication.translate("Problems", "Fix the catalog file or use the bundled one.")),
        Code.UNKNOWN_COMPONENT: (
            QCoreApplication.translate("Problems", "Unknown component or preset."),
            QCoreApplication.translate("Problems", "Check the name.")),
        Code.NETWORK: (
            QCoreApplication.translate("Problems", "The network failed."),
            QCoreApplication.translate("Problems", "Check the connection (or a proxy) and retry; downloads resume.")),
        Code.HTTP_STATUS: (
            QCoreApplication.translate("Problems", "The server refused the download."),
            QCoreApplication.translate("Problems", "Retry later, or enable the community mirrors if there are any.")),
        Code.RETRIES_EXHAUSTED: (
            QCoreApplication.translate("Problems", "The download kept failing."),
            QCoreApplication.translate("Problems", "Retry later; what arrived so far is kept.")),
        Code.SIZE_MISMATCH: (
            QCoreApplication.translate("Problems", "The file has an unexpected size."),
            QCoreApplication.translate("Problems", "Retry; if it persists the source has changed.")),
        Code.CHECKSUM_MISMATCH: (
            QCoreApplication.translate("Problems", "The file's checksum does not match."),
            QCoreApplication.translate("Problems", "Retry; the damaged copy is kept aside for inspection.")),
        Code.ARCHIVE_CORRUPT: (
            QCoreApplication.translate("Problems", "The archive is damaged."),
            QCoreApplication.translate("Problems", "Retry to download it again.")),
        Code.ARCHIVE_UNSAFE: (
            QCoreApplication.translate("Problems", "The archive holds unsafe paths and was not extracted."),
            QCoreApplication.translate("Problems", "Use the official source.")),
        Code.ANNOTATIONS_INVALID: (
            QCoreApplication.translate("Problems", "An annotation JSON cannot be read."),
            QCoreApplication.translate("Problems", "Download it again (Retry).")),
        Code.LAYOUT_INCOMPLETE: (
            QCoreApplication.translate("Problems", "Files are missing after extraction."),
            QCoreApplication.translate("Problems", "Retry; the check on the finish page lists what is missing.")),
        Code.HUB_METADATA: (
            QCoreApplication.translate("Problems", "The Hugging Face Hub did not describe the file."),
            QCoreApplication.translate("Problems", "Check the network and the token, or use a Hub mirror.")),
        Code.DRIVE_QUOTA: (
            QCoreApplication.translate("Problems", "Google Drive's download quota for this file is used up."),
            QCoreApplication.translate("Problems", "Retry after about 24 hours, or enable the community mirrors.")),
        Code.DRIVE_PERMISSION: (
            QCoreApplication.translate("Problems", "Google Drive refused access to the file."),
            QCoreApplication.translate("Problems", "Retry later, or enable the community mirrors.")),
        Code.DRIVE_HTML: (
            QCoreApplication.translate("Problems", "Google Drive sent a web page instead of the file."),
            QCoreApplication.translate("Problems", "Retry later, or enable the community mirrors.")),
        Code.SAM_LINKS_MISSING: (
            QCoreApplication.translate("Problems", "The SA-1B links file is needed."),
            QCoreApplication.translate("Problems", "Get it from Meta's SA-1B page and choose it on the options page.")),
        Code.SAM_LINKS_INVALID: (
            QCoreApplication.translate("Problems", "The SA-1B links file cannot be used."),
            QCoreApplication.translate("Problems", "Save the links file from Meta's SA-1B page again.")),
        Code.SAM_LINKS_EXPIRED: (
            QCoreApplication.translate("Problems", "The SA-1B links have expired."),
            QCoreApplication.translate("Problems", "Get a fresh links file from Meta's SA-1B page and retry.")),
        Code.LOCAL_INVALID: (
            QCoreApplication.translate("Problems", "The local copy cannot be used."),
            QCoreApplication.translate("Problems", "Check the path you gave.")),
        Code.NO_SOURCE: (
            QCoreApplication.translate("Problems", "No usable source for this part."),
            QCoreApplication.translate("Problems", "Enable the community mirrors or give a local copy.")),
        Code.CANCELLED: (
            QCoreApplication.translate("Problems", "Cancelled."),
            QCoreApplication.translate("Problems", "The work done so far is kept.")),
        Code.INTERNAL: (
            QCoreApplication.translate("Problems", "An unexpected error (a bug)."),
            QCoreApplication.translate("Problems", "The work so far is kept. Please report it with the log.")),
    }


def problem_text(problem: Problem) -> tuple[str, str]:
    """(message, hint) of ``problem`` in the current language."""
    if current_language() == "en":
        return problem.message, problem.hint
    summary, hint = _table().get(problem.code, ("", ""))
    if not summary:
        return problem.message, problem.hint
    message = QCoreApplication.translate("Problems", "{summary} ({detail})")
    message = message.format(summary=summary, detail=problem.message)
    return message, hint or problem.hint


def problem_paragraph(problem: Problem) -> str:
    """The message and, on a new line, "What to do: …" — how pages show a problem."""
    message, hint = problem_text(problem)
    if not hint:
        return message
    return message + "\n" + QCoreApplication.translate("Problems", "What to do: {hint}").format(hint=hint)
