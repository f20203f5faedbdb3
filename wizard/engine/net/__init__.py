"""The network layer: the only part of the engine that talks HTTP.

* :mod:`.transfer` — resumable, verified downloads of one URL to one file (``download``);
* :mod:`.segments` — one file over several connections, journaled for resume;
* :mod:`.ratelimit` — the run's bandwidth limiter and per-host connection gates;
* :mod:`.rangefile` — a seekable file over HTTP byte ranges (members of a remote zip).

Sources (:mod:`wizard.engine.sources`) and the tar streamer call into these modules; none of
them keeps its own retry rules. Nothing is imported here, so importing a submodule stays cheap.
"""
