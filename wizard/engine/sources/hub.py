"""Hugging Face Hub files: metadata through huggingface_hub, bytes through the resumable fetcher.

``hf_hub_download`` restarts from byte 0 after a crash (see LIBRARIES notes), so the library
is used for what it does well — endpoint, auth headers, the resolve URL and the file metadata
(size, ETag, commit) — and :func:`wizard.engine.sources.http.download` moves the bytes.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from ..catalog import Catalog, Component, Source
from ..context import JobContext, Settings
from ..errors import Code, SetupError
from ..runlog import redact, requests_log
from . import http
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
    try:
        meta = huggingface_hub.get_hf_file_metadata(url, token=token if token else False,
                                                    timeout=ctx.settings.connect_timeout)
    except Exception as exc:  # the library raises many kinds; all mean "no metadata"
        requests_log.debug("HEAD %s -> failed: %s", redact(url), _short(exc))
        raise SetupError(
            Code.HUB_METADATA,
            f"Could not read {source.repo}/{source.path} from {endpoint}: {_short(exc)}",
            "Check the network or set a Hub mirror (HF_ENDPOINT=https://hf-mirror.com or the "
            "endpoint setting); a gated or private repo needs a token.",
        ) from exc
    requests_log.debug("HEAD %s -> size %s, commit %s, etag %s", redact(url), meta.size, meta.commit_hash,
                       meta.etag)
    if source.size is not None and meta.size is not None and meta.size != source.size:
        ctx.log(f"{name}: the Hub reports {meta.size:,} bytes, the catalog {source.size:,}", "warning")
    ctx.journal.update_info(ctx.job, hub_commit=meta.commit_hash, hub_etag=meta.etag, hub_size=meta.size)
    headers = build_hf_headers(token=token if token else False)
    # The resolve URL, not meta.location: a CDN redirect is signed and expires, and each retry
    # should get a fresh one. requests drops the Authorization header on cross-host redirects.
    yield http.download(ctx, url, dest, size=meta.size or source.size,
                        sha256=source.sha256, headers=headers)


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
