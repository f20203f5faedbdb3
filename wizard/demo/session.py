"""The offline demo: the miniature world, a loopback mirror serving it, and its catalog.

``sharegpt4v-setup run --demo`` and the GUI's ``--demo`` both use a :class:`DemoSession`: the
real catalog rewritten to point at 127.0.0.1, so the demo runs exactly the engine code a real
run does — only the base URLs differ.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from ..engine.catalog import Catalog, Component, load_catalog
from ..engine.safefs import read_state_text, write_text_atomic
from ..engine.sources import is_known
from ..paths import STATE_DIR_NAME
from .server import MirrorServer
from .world import TAR_MTIME, World, build_world


def _stamp_by_content(docroot: Path) -> None:
    """Date every served file by its bytes: the world is rebuilt on each start, and its ETags and
    Last-Modified (made from size and mtime) must stay the same for the same bytes, or a download
    stopped by quitting the demo would start over instead of resuming on the next start."""
    for path in docroot.rglob("*"):
        if path.is_file() and not path.is_symlink():
            stamp = TAR_MTIME * 1_000_000_000 + zlib.crc32(path.read_bytes())  # ns: within 5 s
            os.utime(path, ns=(stamp, stamp))


class DemoSession:
    """Build the world, serve it on 127.0.0.1 and hand out the catalog that points at it."""

    def __init__(self, root: Path | None = None, world_dir: Path | None = None) -> None:
        self.root = root
        if world_dir is None:
            world_dir = (root / STATE_DIR_NAME / "demo-world") if root is not None else Path(
                tempfile.mkdtemp(prefix="sharegpt4v-demo-"))
        self.world_dir = world_dir
        self.world: World | None = None
        self.server: MirrorServer | None = None
        self.catalog_path = world_dir / "catalog.toml"
        self.sam_links: Path | None = None
        self._catalog: Catalog | None = None

    def start(self) -> None:
        if self.world_dir.is_symlink() or (self.world_dir.exists() and not self.world_dir.is_dir()):
            self.world_dir.unlink()  # planted in the state folder: removed, never followed
        elif self.world_dir.exists():
            shutil.rmtree(self.world_dir)  # always the same deterministic world, freshly built
        self.world_dir.mkdir(parents=True)
        self.world = build_world(self.world_dir / "docroot")
        self.server = self._serve(self.world.docroot)
        self.world.write_catalog(self.server.base_url, self.catalog_path)
        _stamp_by_content(self.world.docroot)
        self._catalog = load_catalog(self.catalog_path)
        self.sam_links = self.world.sam_links_file(self.server.base_url, self.world_dir / "sam_links.tsv")

    def _serve(self, docroot: Path) -> MirrorServer:
        """Serve on the same port as last time for this root when it is free: URLs recorded in
        the journal by an earlier demo run (OCR-VQA image URLs) then stay valid."""
        port_file = (self.root / STATE_DIR_NAME / "demo-port") if self.root is not None else None
        port = 0
        if port_file is not None:
            try:
                port = int(read_state_text(port_file, encoding="ascii").strip())
            except (OSError, ValueError):
                port = 0
        try:
            server = MirrorServer(docroot, port=port).start()
        except OSError:
            server = MirrorServer(docroot).start()
        if port_file is not None:
            port_file.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(port_file, str(server.port))  # never through a link planted there
        return server

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __enter__(self) -> DemoSession:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self.server is not None, "start() the session first"
        return self.server.base_url

    @property
    def catalog(self) -> Catalog:
        assert self._catalog is not None, "start() the session first"
        return self._catalog

    @property
    def components(self) -> list[str]:
        """The components this version can fetch from the demo world."""
        return [c.id for c in self.catalog.components
                if c.official_sources() and is_known(c.official_sources()[0].kind)]

    def expected_tree(self, component_ids: Iterable[str], *, full_archives: bool = True) -> set[str]:
        """The files a correct run of these components leaves under the root.

        With ``full_archives=False`` (the engine's default) and annotation JSONs among the
        components, only the images those JSONs reference are extracted.
        """
        assert self.world is not None, "start() the session first"
        ids = list(component_ids)
        expected = self.world.expected_tree(ids)
        jsons = [cid for cid in ids if cid in self.world.references]
        if jsons and not full_archives:
            wanted = set().union(*(self.world.references[j] for j in jsons))
            expected = {p for p in expected if p.startswith("sharegpt4v/") or p in wanted}
        return expected

    def check_tree(self, components: Iterable[Component | str], out: TextIO | None = None, *,
                   full_archives: bool = False) -> bool:
        """Compare the data root with what the world says a correct run leaves; print the verdict.

        When annotation JSONs are among the components (and not ``full_archives``), a correct
        run extracts only the images those JSONs reference.
        """
        assert self.root is not None and self.world is not None
        stream = out or sys.stdout
        ids = [c if isinstance(c, str) else c.id for c in components]
        expected = self.expected_tree(ids, full_archives=full_archives)
        actual = tree_of(self.root)
        # Files of other components (an earlier run on the same root) are fine; anything the
        # world does not know at all is a layout error.
        known = self.world.expected_tree(self.world.components_served)
        missing, extra = sorted(expected - actual), sorted(actual - expected - known)
        if not missing and not extra:
            print(f"Demo check: the tree under {self.root} holds exactly what the world expects "
                  f"({len(expected)} files, nothing misplaced).", file=stream)
            return True
        print(f"Demo check FAILED: {len(missing)} missing, {len(extra)} unexpected.",
              file=stream)
        for path in missing[:20]:
            print(f"  missing    {path}", file=stream)
        for path in extra[:20]:
            print(f"  unexpected {path}", file=stream)
        return False


def tree_of(root: Path) -> set[str]:
    """Every file under ``root`` (posix, relative), leaving out the app's state folder. Folders
    that are links (``coco`` or ``sam/images`` on another disk, as users spread the data) are
    followed, each real folder once (no loops)."""
    found: set[str] = set()
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        rel = Path(dirpath).relative_to(root)
        if rel == Path("."):
            dirnames[:] = [d for d in dirnames if d != STATE_DIR_NAME]
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:
            dirnames[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        for name in filenames:
            found.add((rel / name).as_posix() if rel != Path(".") else name)
    return found
