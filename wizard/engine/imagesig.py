"""What the first bytes of a file say it is: an image (verify, repair, OCR-VQA) or an HTML page
(a Drive or image host's answer in place of the file).

Its own module because the OCR-VQA image process needs it and nothing else of
:mod:`.annotations` (which imports simdjson and the catalog).
"""

from __future__ import annotations

_HTML_HEADS = (b"<!doctype html", b"<html", b"<head", b"<!--")


def sniff(head: bytes) -> str | None:
    """The image format the first bytes announce: "JPEG", "PNG", "GIF", "WebP" or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return None


def looks_like_html(head: bytes) -> bool:
    """Whether the first bytes are those of an HTML page (after a BOM and white space)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith(_HTML_HEADS)
