"""Shared fixtures: the miniature ShareGPT4V world and the loopback servers that serve it.

Fixtures:

* ``world`` (session): the world built once in a temp dir. Treat ``world.docroot`` as read-only;
  simulate upstream changes with ``Fault(etag=...)`` or build a private world with
  ``build_world(tmp_path)`` (well under a second).
* ``mirror`` (function): a fresh :class:`MirrorServer` over the world's docroot, so faults and
  request records never leak between tests.
* ``demo_catalog`` (function): the world's catalog written for ``mirror``'s base URL.
* ``sam_links`` (function): a SA-1B links file for ``mirror``, expiring in 30 days.
* ``nginx_mirror`` (session, marks the test ``nginx``): nginx over the same docroot.
* ``nginx_catalog`` (function): the world's catalog written for ``nginx_mirror``.

The catalog fixtures (re)bind OCR-VQA's ``dataset.json`` to their server's base URL.
"""

from __future__ import annotations

import importlib.util
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

# The environment above must be set before Qt or huggingface_hub is imported.
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import NginxServer, nginx_server

from wizard.demo import MirrorServer, World, build_world


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that use nginx get the ``nginx`` marker (``-m "not nginx"`` deselects them); tests
    that drive Qt (``qtbot``) get ``gui`` (the dependency-floors run in .ci/run has no Qt)."""
    for item in items:
        if "nginx_mirror" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.nginx)
        if "qtbot" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.gui)


if importlib.util.find_spec("platformdirs.pytest_plugin") is None:  # platformdirs < 4.12 (the floor)

    @pytest.fixture
    def platformdirs_isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
        """What newer platformdirs' own fixture does: every user folder under ``tmp_path``."""
        for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"):
            monkeypatch.setenv(var, str(tmp_path / var.lower()))
        return tmp_path


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("world") / "docroot")


@pytest.fixture
def mirror(world: World) -> Iterator[MirrorServer]:
    with MirrorServer(world.docroot) as server:
        yield server


@pytest.fixture
def demo_catalog(world: World, mirror: MirrorServer, tmp_path: Path) -> Path:
    return world.write_catalog(mirror.base_url, tmp_path / "demo-catalog.toml")


@pytest.fixture
def sam_links(world: World, mirror: MirrorServer, tmp_path: Path) -> Path:
    return world.sam_links_file(mirror.base_url, tmp_path / "sam_links.tsv")


@pytest.fixture(scope="session")
def nginx_mirror(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NginxServer]:
    with nginx_server(world.docroot, tmp_path_factory.mktemp("nginx")) as server:
        yield server


@pytest.fixture
def nginx_catalog(world: World, nginx_mirror: NginxServer, tmp_path: Path) -> Path:
    return world.write_catalog(nginx_mirror.base_url, tmp_path / "nginx-catalog.toml")
