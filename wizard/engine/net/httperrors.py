"""The transfer exceptions of the network layer: ``requests``' classes, imported on first use.

Every client of the engine (the ``requests`` session and the keep-alive client of
:mod:`.keepalive`) reports what went wrong as the ``requests`` exception of the same meaning, so
one retry policy (:mod:`.policy`) judges them all. Importing ``requests`` costs ~0.17 s of CPU;
a process that only uses the keep-alive client (the OCR-VQA image process, a share of 80,000
image GETs that usually all succeed) should not pay it to start. So the names here are looked up
on first use: ``except httperrors.RequestException`` evaluates the name only when an exception
reaches it, and the first lookup imports ``requests`` (under the import lock, so from any thread).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from requests.exceptions import (
        ChunkedEncodingError,
        ConnectionError,
        ConnectTimeout,
        ContentDecodingError,
        InvalidHeader,
        InvalidSchema,
        InvalidURL,
        ProxyError,
        ReadTimeout,
        RequestException,
        SSLError,
        Timeout,
        TooManyRedirects,
    )

__all__ = ["ChunkedEncodingError", "ConnectTimeout", "ConnectionError", "ContentDecodingError", "InvalidHeader",
           "InvalidSchema", "InvalidURL", "ProxyError", "ReadTimeout", "RequestException", "SSLError", "Timeout",
           "TooManyRedirects"]


def __getattr__(name: str) -> type[Exception]:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import requests.exceptions

    value: type[Exception] = getattr(requests.exceptions, name)
    globals()[name] = value
    return value


def is_request_exception(exc: BaseException) -> bool:
    """Whether ``exc`` is one of requests' exceptions, without importing requests: none can exist
    before it is imported. For handlers that also catch ``OSError`` (requests' exceptions are
    ``OSError``s): ``except httperrors.RequestException`` ahead of them would import requests at
    the first dropped connection."""
    exceptions = sys.modules.get("requests.exceptions")
    return exceptions is not None and isinstance(exc, exceptions.RequestException)
