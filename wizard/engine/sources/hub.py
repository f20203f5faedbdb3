"""Hugging Face Hub files: metadata through huggingface_hub, bytes through the resumable fetcher.

``hf_hub_download`` restarts from byte 0 after a crash (see LIBRARIES notes), so the library
is used for what it does well — endpoint, auth headers, the resolve URL and the file metadata
(size, ETag, commit) — and :func:`wizard.engine.net.transfer.download` moves the bytes.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..catalog import Catalog, Component, Source
from ..context import JobContext, Settings
from ..errors import Code, SetupError
from ..net import client
from ..net.client import redact_url
from ..net.policy import Attempts, Kind, RetryLater, classify, describe
from ..net.transfer import download
from .registry import SourceKind

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def endpoint_for_settings(settings: Settings, catalog: Catalog) -> str:
    """Setting first, then HF_ENDPOINT (e.g. https://hf-mirror.com), then the catalog."""
    return (settings.hf_endpoint or os.environ.get("HF_ENDPOINT") or catalog.hub_endpoint).rstrip("/")


def fetch(ctx: JobContext, component: Component, source: Source, catalog: Catalog) -> Iterator[Path]:
    """Source module entry point for ``kind = "hub"``."""
    name = source.file_name
    if ctx.item_done(name):
        return
    dest = ctx.downloads / name
    if dest.exists() and source.size in (None, dest.stat().st_size):
        yield dest
        return
    import huggingface_hub
    from huggingface_hub.utils import build_hf_headers

    endpoint = endpoint_for_settings(ctx.settings, catalog)
    url = huggingface_hub.hf_hub_url(source.repo, source.path, repo_type=source.repo_type,
                                     revision=source.revision, endpoint=endpoint)
    token = ctx.settings.hf_token or None
    meta = _metadata(ctx, url, token, f"{source.repo}/{source.path}", endpoint)
    if source.size is not None and meta.size is not None and meta.size != source.size:
        ctx.log(f"{name}: the Hub reports {meta.size:,} bytes, the catalog {source.size:,}", "warning")
    ctx.journal.update_info(ctx.job, hub_commit=meta.commit_hash, hub_etag=meta.etag, hub_size=meta.size)
    headers = build_hf_headers(token=token if token else False)
    # The resolve URL, not meta.location: a CDN redirect is signed and expires, and each retry
    # should get a fresh one. requests drops the Authorization header on cross-host redirects.
    yield download(ctx, url, dest, size=meta.size or source.size,
                        sha256=source.sha256, headers=headers)


def _metadata(ctx: JobContext, url: str, token: str | None, what: str, endpoint: str) -> Any:
    """The file's metadata (one HEAD), retried by the network policy: 429/5xx (honouring
    Retry-After), timeouts and connection failures; anything else is ``hub-metadata``."""
    import httpx2
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError

    st = ctx.settings
    attempts = Attempts(f"the Hub metadata of {what}", st.retries, st.backoff, st.backoff_cap, rand=ctx.net.rand)
    while True:
        ctx.control.checkpoint()
        problem: RetryLater
        try:
            meta = huggingface_hub.get_hf_file_metadata(url, token=token if token else False,
                                                        timeout=st.connect_timeout, retry_on_errors=False)
            client.log.info("HEAD %s -> 200 size=%s", redact_url(url), meta.size)
            return meta
        except HfHubHTTPError as exc:
            response = getattr(exc, "response", None)
            status = getattr(response, "status_code", 0) or 0
            client.log.info("HEAD %s -> %s", redact_url(url), status)
            answer = classify(status, getattr(response, "headers", None) or {}, cap=st.backoff_cap * 10,
                              now=ctx.net.wall)
            if answer.kind is not Kind.RETRY:
                raise _metadata_error(what, endpoint, exc) from exc
            problem = RetryLater(answer.reason, answer.wait, throttled=answer.throttled)
        except (httpx2.TransportError, httpx2.TooManyRedirects) as exc:
            client.log.info("HEAD %s -> %s", redact_url(url), type(exc).__name__)
            problem = RetryLater(describe(exc))
        except Exception as exc:  # the library raises many kinds; all mean "no metadata"
            raise _metadata_error(what, endpoint, exc) from exc
        try:
            delay = attempts.failed(problem)
        except SetupError as exc:
            raise _metadata_error(what, endpoint, problem, attempts.failures) from exc
        ctx.log(f"Hub metadata of {what}: {problem}; {attempts.note(delay)}", "warning")
        ctx.control.sleep(delay)


def _metadata_error(what: str, endpoint: str, exc: BaseException, tries: int = 0) -> SetupError:
    after = f" after {tries} attempts" if tries else ""
    return SetupError(
        Code.HUB_METADATA,
        f"Could not read {what} from {endpoint}{after}: {_short(exc)}",
        "Check the network or set a Hub mirror (HF_ENDPOINT=https://hf-mirror.com or the "
        "endpoint setting); a gated or private repo needs a token.",
    )


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


class HubKind(SourceKind):
    """``kind = "hub"``: a file of a Hugging Face repo (endpoint from the settings, HF_ENDPOINT or
    the catalog); a zip is read remotely with Range requests."""

    name = "hub"
    uses_hub = True

    def fetch(self, ctx: JobContext, component: Component, source: Source, catalog: Catalog, *,
              only: Collection[str] | None = None) -> Iterator[Path]:
        return fetch(ctx, component, source, catalog)

    def host(self, source: Source, settings: Settings, catalog: Catalog) -> str:
        return urlsplit(endpoint_for_settings(settings, catalog)).netloc or self.name

    def host_label(self, source: Source, hub_endpoint: str, catalog: Catalog) -> str:
        return urlsplit(hub_endpoint).netloc or self.name

    def remote_file(self, ctx: JobContext, source: Source, catalog: Catalog) -> tuple[str, dict[str, str]] | None:
        import huggingface_hub
        from huggingface_hub.utils import build_hf_headers

        endpoint = endpoint_for_settings(ctx.settings, catalog)
        url = huggingface_hub.hf_hub_url(source.repo, source.path, repo_type=source.repo_type,
                                         revision=source.revision, endpoint=endpoint)
        return url, build_hf_headers(token=ctx.settings.hf_token or False)


KIND = HubKind()
