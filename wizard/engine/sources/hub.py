"""Hugging Face Hub files: metadata through huggingface_hub, bytes through the resumable fetcher.

``hf_hub_download`` restarts from byte 0 after a crash (see LIBRARIES notes), so the library
is used for what it does well — endpoint, auth headers, the resolve URL and the file metadata
(size, ETag, commit) — and :func:`wizard.engine.net.transfer.download` moves the bytes.

Pinning. A source's ``revision`` (a commit id in the catalog) is what is fetched; a branch name
such as ``main`` is resolved once through the metadata request and the bytes are then fetched
from the commit the Hub named (``X-Repo-Commit``), recorded in the journal: a later upload cannot
splice into a half-downloaded file, and a resumed download keeps to the recorded commit. A Hub
LFS file's ``X-Linked-Etag`` is its sha256: when the catalog has none, that one is checked and
recorded.

Token trust. The token (``--hf-token``/the GUI, ``HF_TOKEN``, or the one ``hf auth login`` saved)
is sent only to the default endpoint or to an endpoint the user chose (``--hf-endpoint``, the
GUI, ``HF_ENDPOINT``), and only over https unless the host is loopback. A catalog's own
``[hub] endpoint`` gets no token unless the user names the same endpoint.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import threading
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from ..catalog import Catalog, Component, Source
from ..context import JobContext, Settings, hub_endpoint
from ..control import Control
from ..errors import PROXY_HINT, Cancelled, Code, Problem, SetupError
from ..net import client
from ..net.client import redact_url
from ..net.policy import (
    TLS_HINT,
    Attempts,
    Kind,
    RetryLater,
    asks_for_proxy_password,
    classify,
    describe,
    is_proxy_error,
    untrusted_tls,
)
from ..net.transfer import download
from .registry import SourceKind

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://huggingface.co"
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def endpoint_for_settings(settings: Settings, catalog: Catalog) -> str:
    """Setting first, then HF_ENDPOINT (e.g. https://hf-mirror.com), then the catalog."""
    return hub_endpoint(settings, catalog.hub_endpoint)


def _norm(endpoint: str) -> str:
    parts = urlsplit(endpoint.strip().rstrip("/"))
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path}"


def _loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_refusal(settings: Settings, endpoint: str) -> str | None:
    """Why no token may go to ``endpoint`` (None: it may). See the module docstring."""
    chosen = {_norm(DEFAULT_ENDPOINT)}
    for named in (settings.hf_endpoint, os.environ.get("HF_ENDPOINT")):
        if named:
            chosen.add(_norm(named))
    if _norm(endpoint) not in chosen:
        return (f"the Hub endpoint {endpoint} comes from the catalog, not from you (name it with "
                "--hf-endpoint to trust it)")
    parts = urlsplit(endpoint)
    if parts.scheme != "https" and not _loopback(parts.hostname):
        return f"the Hub endpoint {endpoint} is not https"
    return None


def user_token(settings: Settings) -> str | None:
    """The token given (flag, GUI, HF_TOKEN) or the one ``hf auth login`` saved, or None.

    A token given is stripped (``export HF_TOKEN=$(cat token.txt)`` keeps a Windows line end, a paste
    a space); one that still holds what no HTTP header can carry is ``hub-metadata`` at once, not
    seven retries of "connection problem"."""
    given = (settings.hf_token or "").strip()
    if given:
        if not all(33 <= ord(c) < 127 for c in given):
            raise SetupError(Code.HUB_METADATA,
                             "The Hugging Face token given (--hf-token, HF_TOKEN or the wizard's setting) holds "
                             "a space, a line break or a character that is not ASCII, which no request can carry.",
                             "Copy the token again from https://huggingface.co/settings/tokens (it looks like "
                             "hf_ followed by letters and digits), or leave it out to use the one `hf auth login` "
                             "saved.")
        return given
    try:
        from huggingface_hub import get_token

        return get_token() or None
    except Exception as exc:  # e.g. a failed OIDC exchange: go on without a token
        log.warning("cannot read the saved Hugging Face token: %s", type(exc).__name__)
        return None


def token_for(settings: Settings, endpoint: str) -> str | None:
    """The token to send to ``endpoint``, or None when there is none or it may not go there."""
    token = user_token(settings)
    if token is None:
        return None
    why = token_refusal(settings, endpoint)
    if why is not None:
        log.info("not sending the Hugging Face token: %s", why)
        return None
    return token


def auth_headers(settings: Settings, endpoint: str) -> dict[str, str]:
    """The library's request headers (user agent, and the token where it may go)."""
    from huggingface_hub.utils import build_hf_headers

    token = token_for(settings, endpoint)
    return dict(build_hf_headers(token=token if token else False))


def resolve_url(source: Source, endpoint: str, revision: str | None = None) -> str:
    import huggingface_hub

    return str(huggingface_hub.hf_hub_url(source.repo, source.path, repo_type=source.repo_type,
                                          revision=revision or source.revision, endpoint=endpoint))


def fetch(ctx: JobContext, component: Component, source: Source, catalog: Catalog) -> Iterator[Path]:
    """Source module entry point for ``kind = "hub"``."""
    name = source.file_name
    if ctx.item_done(name):
        return
    dest = ctx.downloads / name
    if dest.exists() and source.size in (None, dest.stat().st_size):
        yield dest
        return
    endpoint = endpoint_for_settings(ctx.settings, catalog)
    token = token_for(ctx.settings, endpoint)
    if token is None and user_token(ctx.settings) is not None:
        ctx.log(f"not sending the Hugging Face token: {token_refusal(ctx.settings, endpoint)}", "warning")
    rec = ctx.journal.get(ctx.job)
    recorded = rec.info if rec else {}
    revision = source.revision
    pinned = recorded.get("hub_commit")
    if not _COMMIT.match(revision) and isinstance(pinned, str) and _COMMIT.match(pinned) and _partial(dest):
        revision = pinned  # the half-downloaded file came from this commit: finish it from there
    url = resolve_url(source, endpoint, revision)
    meta = _metadata(ctx, url, token, source, endpoint)
    if source.size is not None and meta.size is not None and meta.size != source.size:
        ctx.log(f"{name}: the Hub reports {meta.size:,} bytes, the catalog {source.size:,}", "warning")
    commit = meta.commit_hash if meta.commit_hash and _COMMIT.match(meta.commit_hash) else None
    hub_sha = meta.etag.strip('"').lower() if meta.etag else None
    hub_sha = hub_sha if hub_sha and _SHA256.match(hub_sha) else None  # LFS files only
    sha256 = source.sha256 or hub_sha
    if source.sha256 and hub_sha and hub_sha != source.sha256:
        ctx.log(f"{name}: the Hub's sha256 is {hub_sha[:12]}…, the catalog's {source.sha256[:12]}…; the "
                "catalog's is checked", "warning")
    if commit and revision != commit:
        ctx.log(f"{name}: {source.repo}@{revision} is commit {commit[:12]}; fetching from that commit")
    ctx.journal.update_info(ctx.job, hub_commit=commit, hub_etag=meta.etag, hub_size=meta.size,
                            hub_sha256=sha256)
    moved = _moved_host(url, meta.location)
    if moved and _official(moved, catalog) and not _official(url, catalog):
        ctx.log(f"{name}: the Hub endpoint {_host(url)} redirects this file to {_host(moved)}: its bytes come "
                "from there, not from the mirror", "warning")
    headers = auth_headers(ctx.settings, endpoint)
    # The resolve URL, not meta.location: a CDN redirect is signed and expires, and each retry
    # should get a fresh one. requests drops the Authorization header on cross-host redirects.
    try:
        path = download(ctx, resolve_url(source, endpoint, commit or revision), dest,
                        size=meta.size or source.size, sha256=sha256, headers=headers)
    except SetupError as exc:
        if not moved or exc.problem.code is not Code.RETRIES_EXHAUSTED or not _unanswered(exc.problem.message):
            raise
        raise _unreachable_redirect(exc.problem, url, moved) from exc
    yield path


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower(), 0)
    return parts.scheme.lower(), f"{(parts.hostname or '').lower()}:{port}"


def _moved_host(url: str, location: str | None) -> str | None:
    """``location`` when the Hub endpoint sent the request on to another host (a CDN, or a mirror
    sending it to huggingface.co), else None."""
    if not location:
        return None
    target = urljoin(url, location)
    return target if _origin(target) != _origin(url) else None


#: How :func:`describe` words a request that got no answer at all (not an answer such as a 503).
#: (A certificate not trusted keeps its own message and hint.)
_NO_ANSWER = ("connection failed", "DNS lookup failed", "the server stopped answering")


def _unanswered(message: str) -> bool:
    return any(phrase in message for phrase in _NO_ANSWER)


def _official(url: str, catalog: Catalog) -> bool:
    """Whether ``url`` is on huggingface.co or the catalog's own Hub endpoint (not a mirror)."""
    return _origin(url) in (_origin(DEFAULT_ENDPOINT), _origin(catalog.hub_endpoint))


def _unreachable_redirect(problem: Problem, url: str, target: str) -> SetupError:
    """``problem`` (same code) saying that the endpoint answered but sent the request on to a host that
    failed: hf-mirror.com redirects some files to huggingface.co, so the mirror does not help where
    that host is blocked."""
    via, to = _host(url), _host(target)
    return SetupError(
        problem.code,
        f"{problem.message.rstrip('.')} ({via} sent the request on to {to}, which did not answer).",
        f"The Hub endpoint {via} answered, but redirects this file to {to}; a mirror that does so (hf-mirror.com "
        f"for some files) does not help where {to} cannot be reached. Run again later, use a network or proxy "
        f"(HTTPS_PROXY) that reaches {to}, or download the file elsewhere and pass it with --local "
        "COMPONENT=PATH. Nothing downloaded so far is lost.")


def _partial(dest: Path) -> bool:
    return dest.with_name(dest.name + ".part").exists()


def _metadata(ctx: JobContext, url: str, token: str | None, source: Source, endpoint: str) -> Any:
    """The file's metadata (one HEAD), retried by the network policy: 429/5xx (honouring
    Retry-After), timeouts and connection failures; anything else is ``hub-metadata``."""
    import httpx2
    import huggingface_hub
    from huggingface_hub.errors import HfHubHTTPError

    what = f"{source.repo}/{source.path}"
    sent = token is not None
    st = ctx.settings
    _same_ca_as_requests(huggingface_hub)
    attempts = Attempts(f"the Hub metadata of {what}", st.retries, st.backoff, st.backoff_cap, rand=ctx.net.rand)
    moved: str | None = None  # where the endpoint sent the failed request on to (another Hub host)
    while True:
        ctx.control.checkpoint()
        problem: RetryLater
        try:
            meta = _unless_cancelled(ctx.control, lambda: huggingface_hub.get_hf_file_metadata(
                url, token=token if token else False, timeout=st.connect_timeout, retry_on_errors=False))
            client.log.info("HEAD %s -> 200 size=%s", redact_url(url), meta.size)
            return meta
        except HfHubHTTPError as exc:
            response = getattr(exc, "response", None)
            status = getattr(response, "status_code", 0) or 0
            client.log.info("HEAD %s -> %s", redact_url(url), status)
            answer = classify(status, getattr(response, "headers", None) or {}, cap=st.backoff_cap * 10,
                              now=ctx.net.wall)
            if answer.kind is not Kind.RETRY:
                raise _metadata_error(source, endpoint, exc, sent) from exc
            problem = RetryLater(answer.reason, answer.wait, throttled=answer.throttled)
        except (httpx2.TransportError, httpx2.TooManyRedirects) as exc:
            failed = _request_url(exc)
            client.log.info("HEAD %s -> %s", redact_url(failed or url), type(exc).__name__)
            moved = _moved_host(url, failed)
            if asks_for_proxy_password(exc):  # the proxy's 407 does not pass by waiting
                raise _metadata_error(source, endpoint, exc, sent) from exc
            problem = RetryLater(describe(exc))
        except Cancelled:
            raise
        except Exception as exc:  # the library raises many kinds; all mean "no metadata"
            raise _metadata_error(source, endpoint, exc, sent) from exc
        try:
            delay = attempts.failed(problem)
        except SetupError as exc:
            error = _metadata_error(source, endpoint, problem, sent, attempts.failures)
            if moved and not untrusted_tls(problem):
                error = _unreachable_redirect(error.problem, url, moved)
            raise error from exc
        ctx.log(f"Hub metadata of {what}: {problem}; {attempts.note(delay)}", "warning")
        ctx.control.sleep(delay)


def _same_ca_as_requests(huggingface_hub: Any) -> None:
    """The Hub library's httpx client trusts the certificates every other client of the engine
    trusts (:func:`client.ca_bundle`: a TLS-inspecting proxy's CA, a private mirror's, named in
    ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE`` or ``SSL_CERT_FILE``). httpx reads ``SSL_CERT_FILE``
    (which many systems set to their default bundle), else ``SSL_CERT_DIR``, when its client is
    made, so the bundle is put there and the library's client made again. Called per request, not
    at import: the run has checked the variables by then."""
    ca = client.ca_bundle()
    if ca is None:
        return
    folder = os.path.isdir(ca)
    name = "SSL_CERT_DIR" if folder else "SSL_CERT_FILE"
    if os.environ.get(name) == ca and not (folder and "SSL_CERT_FILE" in os.environ):
        return
    if folder:
        os.environ.pop("SSL_CERT_FILE", None)  # it would win over the folder
    os.environ[name] = ca
    huggingface_hub.close_session()  # a client made before has read its CA already


def _request_url(exc: BaseException) -> str | None:
    """The URL of the request an httpx error is about (the library follows redirects between Hub
    hosts itself: hf-mirror.com -> huggingface.co)."""
    try:
        return str(exc.request.url)  # type: ignore[attr-defined]
    except (AttributeError, RuntimeError):  # httpx raises RuntimeError when no request is attached
        return None


def _unless_cancelled(control: Control, request: Callable[[], Any]) -> Any:
    """``request()`` on a helper thread; a cancel returns at once (:class:`Cancelled`), leaving
    the thread to end by its own timeout. huggingface_hub's httpx client has no hook that shuts a
    request still waiting for its answer (``client.abort_in_flight`` reaches only the engine's
    requests sessions), so a Stop would otherwise wait for the timeout (20 s)."""
    outcome: list[tuple[bool, Any]] = []
    ended = threading.Event()

    def work() -> None:
        try:
            outcome.append((True, request()))
        except BaseException as exc:  # handed to the waiting thread as is
            outcome.append((False, exc))
        finally:
            ended.set()

    threading.Thread(target=work, name="hub-metadata", daemon=True).start()
    with control.on_cancel(ended.set):
        ended.wait()
    if not outcome:
        raise Cancelled()
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def _metadata_error(source: Source, endpoint: str, exc: BaseException, sent_token: bool,
                    tries: int = 0) -> SetupError:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    explanation = _explain(exc)
    where = f"{source.repo}/{source.path} from {endpoint}" + (f" after {tries} attempts" if tries else "")
    if status == 407 or is_proxy_error(exc):
        why = "the proxy asks for a user name and password (HTTP 407)" if status == 407 else describe(exc)
        return SetupError(Code.HUB_METADATA, f"Could not read {where}: {why}.", PROXY_HINT)
    if status in (401, 403) or type(exc).__name__ == "GatedRepoError":
        page = f"{DEFAULT_ENDPOINT}/{'datasets/' if source.repo_type == 'dataset' else ''}{source.repo}"
        login = ("the token sent was refused: check that it can read this repo" if sent_token else
                 "no token was sent: log in with `hf auth login` (or set HF_TOKEN)")
        return SetupError(Code.HUB_METADATA, f"The Hub refused {where} (HTTP {status}): {explanation}",
                          f"Accept the terms on {page} while logged in to the Hub; {login}.")
    if untrusted_tls(exc):
        return SetupError(Code.HUB_METADATA, f"Could not read {where}: {explanation}", TLS_HINT)
    if type(exc).__name__ == "OfflineModeIsEnabled":  # HF_HUB_OFFLINE=1, often set for training jobs
        return SetupError(Code.HUB_METADATA, f"Could not read {where}: HF_HUB_OFFLINE is set, which keeps the "
                          "Hugging Face library from asking the Hub anything.",
                          "Run this command with HF_HUB_OFFLINE unset (or HF_HUB_OFFLINE=0); training can keep "
                          "it. Nothing downloaded so far is lost.")
    if status == 404:
        return SetupError(Code.HUB_METADATA, f"Could not read {where}: {explanation}",
                          "The endpoint has no such file. Check that --hf-endpoint or HF_ENDPOINT is the mirror's "
                          "root URL (e.g. https://hf-mirror.com, with no path); on huggingface.co itself the file "
                          "was moved or renamed upstream: point a catalog at it (--catalog).")
    return SetupError(
        Code.HUB_METADATA,
        f"Could not read {where}: {explanation}",
        "Check the network or set a Hub mirror (HF_ENDPOINT=https://hf-mirror.com or the "
        "endpoint setting); a gated or private repo needs a token (`hf auth login`).",
    )


def _explain(exc: BaseException) -> str:
    """The server's own explanation (e.g. why a gated repo refused) rather than only the
    library's first line "403 Client Error."."""
    server = getattr(exc, "server_message", None)
    # httpx's pointer to a page about the status says nothing of this request: its first line does
    lines = [line.strip() for line in str(exc).strip().splitlines()
             if line.strip() and not line.strip().startswith("For more information check:")]
    if server and str(server).strip():
        text = str(server).strip()
    elif len(lines) > 1:
        text = " ".join(lines[1:])
    else:
        text = lines[0] if lines else type(exc).__name__
    text = re.sub(r"https?://\S+", lambda m: m.group(0).split("?", 1)[0], text)  # never a query string
    return text[:400]


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
        endpoint = endpoint_for_settings(ctx.settings, catalog)
        return resolve_url(source, endpoint), auth_headers(ctx.settings, endpoint)  # token only where trusted


KIND = HubKind()
