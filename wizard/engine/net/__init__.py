"""The network layer: the only part of the engine that talks HTTP.

* :mod:`.policy` — what is retried, how long to wait (``Retry-After``, jittered back-off), the
  If-Range rule, how an answer is read, one ``describe()``; one ``RetryLater`` exception;
* :mod:`.client` — sending a request and its log line (``redact_url``: no query, no credentials);
* :mod:`.transfer` — resumable, verified downloads of one URL to one file (``download``);
* :mod:`.segments` and :mod:`.ramp` — one file over several connections, as many as pay off;
* :mod:`.durable` — background write-back and syncs, the written log, finished files settled later;
* :mod:`.bounds` — how many bytes a transfer may accept; one quarantined copy per file;
* :mod:`.ratelimit` — the run's bandwidth limiter and per-host connection gates (``NetShared``);
* :mod:`.rangefile` — a seekable file over HTTP byte ranges (members of a remote zip).
* :mod:`.keepalive` — many small GETs over kept-alive connections, a lean HTTP/1.1 client (OCR-VQA's images);
  its failures are raised as requests' exceptions, so :mod:`.policy` judges them like any other.

Sources (:mod:`wizard.engine.sources`) and the tar streamer call into these modules; none of
them keeps its own retry rules. Nothing is imported here, so importing a submodule stays cheap.
"""
