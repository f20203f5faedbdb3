"""Hugging Face Hub files: metadata through huggingface_hub, bytes through the resumable fetcher.

``hf_hub_download`` restarts from byte 0 after a crash (see LIBRARIES notes), so the library
is used for what it does well — endpoint, auth headers, the resolve URL and the file metadata
(size, ETag, commit) — and :func:`wizard.engine.sources.http.download` moves the bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ..catalog import Catalog, Component, Source
from ..context import JobContext, Settings, hub_endpoint
from ..errors import Code, SetupError
from . import http

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def endpoint_for_settings(settings: Settings, catalog: Catalog) -> str:
    """Setting first, then HF_ENDPOINT (e.g. https://hf-mirror.com), then the catalog."""
    return hub_endpoint(settings, catalog.hub_endpoint)


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
        raise SetupError(
            Code.HUB_METADATA,
            f"Could not read {source.repo}/{source.path} from {endpoint}: {_short(exc)}",
            "Check the network or set a Hub mirror (HF_ENDPOINT=https://hf-mirror.com or the "
            "endpoint setting); a gated or private repo needs a token.",
        ) from exc
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
