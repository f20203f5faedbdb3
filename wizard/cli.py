"""Command line: ``sharegpt4v-setup [plan|run|status|verify] ...``; no subcommand opens the wizard.

Exit codes: 0 everything asked for is in place; 1 a job failed; 2 bad input; 3 not enough
space; 4 jobs are waiting (quota, expired links, full disk); 130 cancelled (work kept).
No input ends in a traceback: ``main`` maps every exception to a coded problem (an unexpected one
is written to the run log, and one line names that file).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TextIO

from . import __version__
from .engine.errors import Cancelled, Code, Problem, SetupError
from .engine.settings import DEMO_MIN_FREE, MAX_JOBS

# Each command imports what it uses, so that --version and plan start fast (no HTTP stack, no runner),
# and the double-click start builds no argument parser (argparse is imported with the parser).
if TYPE_CHECKING:
    import argparse

    from .engine.catalog import Catalog, Component
    from .engine.context import Settings
    from .engine.control import Control
    from .engine.plan import Plan
    from .engine.runner import RunResult

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SPACE, EXIT_WAITING, EXIT_CANCELLED = 0, 1, 2, 3, 4, 130


def _add_selection(p: argparse.ArgumentParser, *, select: bool = True) -> None:
    p.add_argument("--root", type=_root, help="the data root (training's --image_folder); with --demo "
                   "it defaults to demo-root in the user's cache folder")
    if select:
        p.add_argument("--preset", help="pt | sft | cap100k | all")
        p.add_argument("--components", help="comma-separated component ids (adds to --preset)")
    else:
        p.set_defaults(preset=None, components=None)
    p.add_argument("--catalog", type=Path, help="use this catalog file instead of the bundled one")
    p.add_argument("--hf-endpoint", help="Hugging Face endpoint, e.g. https://hf-mirror.com")
    p.add_argument("--hf-token", help="Hugging Face token (default: HF_TOKEN, else the token `hf auth login` "
                   "saved). Prefer those two: a flag is visible to other users in the process list. The "
                   "token goes only to https://huggingface.co or an endpoint you name (--hf-endpoint, "
                   "HF_ENDPOINT), over https unless it is this machine")
    p.add_argument("--allow-mirrors", action="store_true", help="allow community re-hosts as fallback")
    p.add_argument("--keep-archives", action="store_true", help="keep archives after extraction")
    p.add_argument("--full-archives", action="store_true",
                   help="extract every image, not only those the selected annotation JSONs reference")
    p.add_argument("--sam-links", type=Path, help="the SA-1B links file saved from Meta's page")
    p.add_argument("--drive-cookies", type=Path, metavar="FILE",
                   help="cookies.txt exported from a browser signed in to Google, passed to gdown: may get "
                   "past Drive's 'too many users' quota (a copy is used; your file is not changed)")
    p.add_argument("--no-stream-tars", dest="stream_tars", action="store_false",
                   help="download each SA-1B tar fully before extracting it (default: extract while "
                   "downloading, never storing the tar)")
    p.add_argument("--min-free", type=_size, metavar="SIZE", default=None,
                   help="pause new work while the root's disk has less free than this (default 512M; 0: never)")
    p.add_argument("--local", action="append", default=[], metavar="COMPONENT=PATH",
                   help="use a copy you already have (archive or folder); repeatable")
    p.add_argument("--local-mode", choices=("hardlink", "copy", "move"), default=None,
                   help="how --local copies are put in place: hardlink (default; copies across "
                   "filesystems), copy, or move (consumes your copy)")
    p.add_argument("--concurrency", type=_count("--concurrency", MAX_JOBS), default=None,
                   help=f"jobs at once, 1 to {MAX_JOBS} (default 3)")
    p.add_argument("--per-host", type=_count("--per-host", MAX_JOBS), default=None,
                   help=f"jobs at once per host, 1 to {MAX_JOBS} (default 2)")
    p.add_argument("--demo", action="store_true",
                   help="use the offline demo mirror on 127.0.0.1 instead of the internet")
    p.add_argument("--json", action="store_true",
                   help="machine-readable output (run: one JSON object with the result on stdout at the end; "
                   "everything else goes to stderr)")


def _rate(text: str) -> int:
    import argparse

    from .engine.net.ratelimit import parse_rate

    try:
        return parse_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _size(text: str) -> int:
    import argparse

    from .engine.net.ratelimit import parse_rate

    if text.strip() == "0":
        return 0
    try:
        return parse_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--min-free wants a size such as 2G or 500M, not {text!r}") from exc


def _root(text: str) -> Path:
    """``--root``: a path; an empty one (an unset shell variable, ``--root "$DATA"``) is a usage
    error, not the current folder."""
    if not text.strip():
        import argparse

        raise argparse.ArgumentTypeError("--root is empty (an unset variable?); pass the data root's path, "
                                         "or '.' for the current folder")
    return Path(text)


def _count(flag: str, most: int | None = None) -> Callable[[str], int]:
    """An argument type: a whole number of at least 1 (and at most ``most``), else a usage error
    naming ``flag``."""
    wanted = "of at least 1" if most is None else f"from 1 to {most}"

    def parse(text: str) -> int:
        import argparse

        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1 or (most is not None and value > most):
            raise argparse.ArgumentTypeError(f"{flag} wants a whole number {wanted}, not {text!r}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="sharegpt4v-setup",
        description="Download, extract and lay out the ShareGPT4V training data, resumably. "
        "Without a subcommand the graphical wizard opens.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--demo", action="store_true", help="open the wizard on the offline demo mirror")
    parser.add_argument("--demo-root", type=Path, metavar="DIR",
                        help="with --demo: the data root the wizard starts with (default: the last one)")
    parser.add_argument("--self-test", action="store_true",
                        help="run the offline demo end to end (engine and wizard, headless) and report")
    sub = parser.add_subparsers(dest="command")
    p_plan = sub.add_parser("plan", help="show what would be downloaded and the disk it needs")
    _add_selection(p_plan)
    p_run = sub.add_parser("run", help="download, verify, extract and lay out")
    _add_selection(p_run)
    p_run.add_argument("--yes", "-y", action="store_true", help="do not ask before starting")
    p_run.add_argument("--force", action="store_true", help="start even if the plan does not fit")
    p_run.add_argument("--quiet", "-q", action="store_true", help="only problems and the summary")
    p_run.add_argument("--verbose", "-v", action="store_true",
                       help="also show every request and retry (what the run log under <root>/.sharegpt4v-setup/logs "
                       "always has)")
    p_run.add_argument("--limit-rate", type=_rate, metavar="RATE",
                       help="bandwidth limit over all downloads, bytes/s; K/M/G suffixes (20M, 500K)")
    p_run.add_argument("--segments", type=_count("--segments"), metavar="N",
                       help="connections per large file (default: by size, up to 8; 1 = one stream)")
    p_verify = sub.add_parser("verify", help="check every image the annotation JSONs reference")
    p_verify.add_argument("--root", type=_root, required=True)
    p_verify.add_argument("jsons", nargs="*", type=Path, metavar="JSON",
                          help="annotation JSONs (default: the ones in <root>/sharegpt4v/)")
    p_verify.add_argument("--deep", action="store_true",
                          help="also open each image: empty, truncated, not an image, GIF/PNG named .jpg")
    p_verify.add_argument("--catalog", type=Path, help="catalog file (for the JSON names)")
    p_verify.add_argument("--json", action="store_true", help="print the report as JSON")
    p_repair = sub.add_parser("repair", help="fetch only what verify finds missing, then verify again")
    _add_selection(p_repair, select=False)
    p_repair.add_argument("--deep", action="store_true", help="also replace damaged images (reads every image)")
    p_repair.add_argument("--verbose", "-v", action="store_true", help="also show every request and retry")
    p_status = sub.add_parser("status", help="what the journal of a root says")
    p_status.add_argument("--root", type=_root, required=True)
    p_status.add_argument("--json", action="store_true")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    from .engine.catalog import check_url
    from .engine.context import Settings
    from .engine.errors import Code, SetupError

    local: dict[str, Path] = {}
    for spec in args.local:
        cid, sep, path = spec.partition("=")
        if not sep or not cid or not path:
            raise SetupError(Code.LOCAL_INVALID, f"--local {spec!r} is not COMPONENT=PATH.",
                             "Example: --local coco-train2017=/data/downloads/train2017.zip")
        local[cid] = expand_path(Path(path), f"--local {cid}")
    endpoint = args.hf_endpoint or os.environ.get("HF_ENDPOINT")
    if endpoint and (why := check_url(endpoint)) is not None:  # "hf-mirror.com": no request could work
        named = "--hf-endpoint" if args.hf_endpoint else "HF_ENDPOINT"
        raise SetupError(Code.HUB_METADATA, f"The Hub endpoint {named} {endpoint!r} is not usable: {why}.",
                         "Give it as a full URL, e.g. https://hf-mirror.com (or leave it out for huggingface.co).")
    # (both were checked as they were read: by _count, and by _resume for the recorded ones)
    concurrency = 3 if args.concurrency is None else args.concurrency
    per_host = 2 if args.per_host is None else args.per_host
    settings = Settings(
        hf_endpoint=args.hf_endpoint, hf_token=args.hf_token or os.environ.get("HF_TOKEN"),
        keep_archives=args.keep_archives, allow_mirrors=args.allow_mirrors, concurrency=concurrency,
        per_host=per_host, sam_links=args.sam_links.expanduser().absolute() if args.sam_links else None,
        local=local, local_mode=getattr(args, "local_mode", None) or "hardlink",
        drive_cookies=args.drive_cookies.expanduser().absolute() if args.drive_cookies else None,
        force=getattr(args, "force", False), full_archives=args.full_archives,
        limit_rate=getattr(args, "limit_rate", None), segments=getattr(args, "segments", None),
        stream_tars=getattr(args, "stream_tars", True), verbose=getattr(args, "verbose", False),
        demo=getattr(args, "demo", False),
    )
    if getattr(args, "min_free", None) is not None:
        settings.min_free_bytes = args.min_free
    elif settings.demo:
        settings.min_free_bytes = DEMO_MIN_FREE
    return settings


def expand_path(path: Path, what: str) -> Path:
    """``~`` and ``~user`` expanded, or a coded problem when that user has no home folder."""
    try:
        return path.expanduser()
    except RuntimeError as exc:
        raise SetupError(Code.ROOT_MISSING, f"{what}: cannot expand {str(path)!r}: {exc}.",
                         "Write the path out in full (or ~/… for your own home folder).") from exc


def _check_local(catalog: Catalog, args: argparse.Namespace) -> None:
    """Every ``--local COMPONENT=PATH`` names a component of the catalog."""
    for spec in args.local:
        catalog.component(spec.partition("=")[0])


def _select(catalog: Catalog, args: argparse.Namespace) -> list[Component]:
    from .engine.journal import read_last_run
    _check_local(catalog, args)
    ids = [c.strip() for c in (args.components or "").split(",") if c.strip()]
    if not args.preset and not ids and getattr(args, "root", None) is not None:
        last = read_last_run(args.root.expanduser().absolute())
        if last:  # "run --root DIR" again: resume what the last run on this root asked for
            print(f"Resuming the last run on this root: {', '.join(last)}", file=sys.stderr)
            ids = [cid for cid in last if any(c.id == cid for c in catalog.components)]
    if not args.preset and not ids:
        raise SetupError(Code.UNKNOWN_COMPONENT, "Nothing selected.",
                         "Pass --preset (" + ", ".join(p.id for p in catalog.presets)
                         + ") or --components a,b.")
    return catalog.resolve(args.preset, ids)


def _resume(args: argparse.Namespace) -> None:
    """``run``/``plan``/``repair --root R`` without a selection: the same run as last time.

    The catalog, Hub endpoint, links file, local copies and options the journal recorded are
    restored unless given now; recorded files must still exist. Prints "resuming with: ...".
    """
    from .engine.journal import read_journal
    if args.preset or args.components:
        return
    root = args.root.expanduser().absolute()
    last = read_journal(root).last_run_args if root.is_dir() else None  # read-only, never raises
    if not isinstance(last, dict):
        return
    raw_opts = last.get("options")
    opts: dict[str, Any] = raw_opts if isinstance(raw_opts, dict) else {}
    said: list[str] = []

    def existing(flag: str, value: object) -> Path:
        path = Path(str(value))
        if not path.exists():
            code = {"--catalog": Code.CATALOG_INVALID, "--sam-links": Code.SAM_LINKS_MISSING}.get(
                flag, Code.LOCAL_INVALID)
            raise SetupError(code, f"The last run on {root} used {flag} {path}, which no longer exists.",
                             f"Pass {flag} with the file's new place (a flag given now replaces the recorded "
                             "one), or start anew with --preset/--components.")
        return path

    if not args.demo:  # the demo supplies its own catalog, endpoint and links file
        if args.catalog is None and last.get("catalog"):
            args.catalog = existing("--catalog", last["catalog"])
            said.append(f"--catalog {args.catalog}")
        if args.hf_endpoint is None and opts.get("hf_endpoint"):
            args.hf_endpoint = str(opts["hf_endpoint"])
            said.append(f"--hf-endpoint {args.hf_endpoint}")
        if args.sam_links is None and opts.get("sam_links"):
            args.sam_links = existing("--sam-links", opts["sam_links"])
            said.append(f"--sam-links {args.sam_links}")
    if args.drive_cookies is None and opts.get("drive_cookies"):
        args.drive_cookies = existing("--drive-cookies", opts["drive_cookies"])
        said.append(f"--drive-cookies {args.drive_cookies}")
    given = {spec.partition("=")[0] for spec in args.local}
    raw_local = opts.get("local")
    recorded_local: dict[str, Any] = raw_local if isinstance(raw_local, dict) else {}
    for cid, path in sorted(recorded_local.items()):
        if cid not in given:
            args.local.append(f"{cid}={existing('--local', path)}")
            said.append(f"--local {cid}={path}")
    if args.local_mode is None and opts.get("local_mode") == "copy":  # the journal is outside input
        args.local_mode = "copy"
        said.append("--local-mode copy")
    elif args.local_mode is None and opts.get("local_mode") == "move" and args.local:
        # never from the journal: it would take (delete) files from folders outside the root
        print("not resumed: --local-mode move (it consumes your copies); the copies are hardlinked or "
              "copied now, or give --local-mode move again", file=sys.stderr)
    for flag in ("allow_mirrors", "keep_archives", "full_archives"):
        if not getattr(args, flag) and opts.get(flag) is True:
            setattr(args, flag, True)
            said.append("--" + flag.replace("_", "-"))
    for flag in ("concurrency", "per_host"):
        value = opts.get(flag)
        if getattr(args, flag) is None and isinstance(value, int) and not isinstance(value, bool) \
                and 1 <= value <= MAX_JOBS:
            setattr(args, flag, opts[flag])
            said.append(f"--{flag.replace('_', '-')} {opts[flag]}")
    if said:
        print("resuming with: " + " ".join(said), file=sys.stderr)


def print_plan(plan: Plan, out: TextIO | None = None) -> None:

    from .engine.plan import human
    def say(text: str) -> None:
        print(text, file=out or sys.stdout)

    say(f"Data root: {plan.root}")
    for item in plan.items:
        src = "no source" if item.source is None else item.source.label
        mark = " [community mirror]" if item.source and item.source.community else ""
        size = "in place" if item.status == "done" else f"{human(item.download_bytes)} to download"
        say(f"  {item.component.id:<16} {item.status:<8} {size:<22} from {src}{mark}")
        if item.problem:
            say(f"      {item.problem.render()}")
        for note in item.notes:
            say(f"      note: {note}")
    say(f"Download: {human(plan.download_bytes)}; disk at peak: {human(plan.peak_bytes)}; "
        f"at the end: {human(plan.final_bytes)}; free: {human(plan.free_bytes)}")
    if not plan.fits:
        problem = plan.space_problem()
        assert problem is not None
        say(problem.render())
    too_large = plan.file_size_problem()
    if too_large is not None:
        say(too_large.render())


def _fail(problem: Problem, code: int = EXIT_USAGE, *, said: bool = False) -> int:
    """Print ``problem`` on stderr, unless ``said`` (already printed on stdout) and stdout is
    the same file as stderr (``run … > log 2>&1``, a terminal, ``--json``): there it is said once."""
    if not (said and _one_output()):
        print(problem.render(), file=sys.stderr)
    return code


def _one_output() -> bool:
    """Whether stdout and stderr write to the same file (a terminal, ``> log 2>&1``)."""
    if sys.stdout is sys.stderr:
        return True
    try:
        out, err = os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):  # no file behind one of them (a test's capture)
        return False
    return (out.st_dev, out.st_ino) == (err.st_dev, err.st_ino)


def cmd_plan(args: argparse.Namespace) -> int:
    from .engine.plan import build_plan, check_root
    _resume(args)
    with _demo_if_asked(args) as catalog:
        root = check_root(args.root, writable=False)  # a plan writes nothing: a read-only root is fine
        plan = build_plan(root, catalog, _select(catalog, args), _settings(args))
        if args.json:
            print(json.dumps(plan.to_json(), indent=2))
        else:
            print_plan(plan)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    if not args.json:
        return _run(args)
    out = args._json_out = sys.stdout  # the result goes there; what a person reads goes to stderr
    try:
        with contextlib.redirect_stdout(sys.stderr):
            return _run(args)
    except Exception as exc:  # a run that never started (a locked root, a bad catalog) has its object too
        from .failures import problem_for

        root = args.root.absolute() if getattr(args, "root", None) is not None else None
        problem, code = problem_for(exc, root, "sharegpt4v-setup run")
        _fail(problem, code)
        _json_result(out, code, None, problem)
        return code


def _refuse(args: argparse.Namespace, problem: Problem, code: int, *, said: bool = False) -> int:
    """:func:`_fail` for a run that does not start; with ``--json`` its one result object too."""
    _fail(problem, code, said=said)
    out = getattr(args, "_json_out", None)
    if out is not None:
        _json_result(out, code, None, problem)
    return code


def _run(args: argparse.Namespace) -> int:
    from .engine import demoroot
    from .engine.control import Control
    from .engine.plan import build_plan, check_root
    from .engine.rebuild import heal
    from .engine.runner import Runner, RunResult  # not for --version: it imports the transfer code
    from .termprogress import TerminalReporter

    _resume(args)
    with _demo_if_asked(args) as catalog:
        settings = _settings(args)
        components = _select(catalog, args)  # a usage error leaves no new empty root behind
        root = check_root(args.root, create=True)
        demoroot.check(root, settings.demo)  # before the journal is opened (healed) below
        healed = heal(root, catalog)  # a damaged journal: set aside and rebuilt from disk
        if healed:
            print(healed, file=sys.stderr)
        plan = build_plan(root, catalog, components, settings)
        if not args.quiet:
            print_plan(plan)
        if not plan.todo:
            print("Everything asked for is already in place; nothing to do.")
            return _after_run(args, RunResult(skipped=[i.component.id for i in plan.items]))
        if not plan.fits and not settings.force:
            problem = plan.space_problem()
            assert problem is not None
            return _refuse(args, problem, EXIT_SPACE, said=not args.quiet)  # print_plan said it
        too_large = plan.file_size_problem()  # no --force: such a file cannot be written at all
        if too_large is not None:
            return _refuse(args, too_large, EXIT_SPACE, said=not args.quiet)
        if not args.yes:
            if sys.stdin is None or not sys.stdin.isatty():  # None: started with stdin closed (<&-)
                return _refuse(args, Problem(Code.CANCELLED, "Not starting without confirmation.",
                                             "Pass --yes to start without asking."), EXIT_USAGE)
            if input("Start? [y/N] ").strip().lower() not in ("y", "yes"):
                return EXIT_CANCELLED
        control = Control()
        with _stop_on_signals(control):
            result = Runner(plan, catalog, settings, TerminalReporter(quiet=args.quiet), control).run()
        return _after_run(args, result)


#: Signals that stop a run like the Stop button (work kept, exit 130): Ctrl-C, ``kill``, a closed
#: SSH session or terminal (unless ignored when the run started, as under ``nohup``).
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def _stop_on_signals(control: Control) -> Iterator[None]:
    """Turn :data:`STOP_SIGNALS` into ``control.cancel()`` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        log.warning("%s received: stopping; the work so far is kept", name)
        with contextlib.suppress(OSError, ValueError):  # SIGHUP: the terminal may be gone
            print(f"\nStopping ({name})… (the work so far is kept)", file=sys.stderr)
        control.cancel()

    # A signal already ignored stays ignored: ``nohup`` (SIGHUP) and a shell's background job
    # (SIGINT) ask for the run to outlive the terminal.
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    previous = {sig: handler for sig, handler in previous.items() if handler is not signal.SIG_IGN}
    for sig in previous:
        signal.signal(sig, on_signal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _after_run(args: argparse.Namespace, result: RunResult) -> int:
    code = _report_run(args, result)
    out = getattr(args, "_json_out", None)
    if out is not None:
        _json_result(out, code, result, None)
    return code


def _json_result(out: TextIO, code: int, result: RunResult | None, problem: Problem | None) -> None:
    """``run --json``'s one result object; ``problem``: why the run did not start (``result`` None)."""
    def coded(p: Problem) -> dict[str, str]:
        return {"code": str(p.code), "message": p.message, "hint": p.hint}

    found: dict[str, object] = {
        "ok": code == EXIT_OK, "exit": code, "done": result.done if result else [],
        "skipped": result.skipped if result else [],
        "failed": {cid: coded(p) for cid, p in result.failed.items()} if result else {},
        "waiting": {cid: coded(p) for cid, p in result.waiting.items()} if result else {},
        "cancelled": result.cancelled if result else False}
    if problem is not None:
        found["problem"] = coded(problem)
    print(json.dumps(found, indent=2), file=out)


def _report_run(args: argparse.Namespace, result: RunResult) -> int:
    for cid, problem in result.failed.items():
        print(f"FAILED  {cid}: {problem.render()}", file=sys.stderr)
    for cid, problem in result.waiting.items():
        print(f"WAITING {cid}: {problem.render()}", file=sys.stderr)
    if result.cancelled:
        print("Cancelled. Everything downloaded so far is kept; run the same command to resume.",
              file=sys.stderr)
        return EXIT_CANCELLED
    check = getattr(args, "_demo_check", None)
    if check is not None and not check():
        return EXIT_FAILED
    if result.failed:
        return EXIT_FAILED
    if result.waiting:
        return EXIT_WAITING
    print(f"Done: {len(result.done)} prepared, {len(result.skipped)} already in place. "
          f"Train with {shlex.join(['--image_folder', str(args.root.expanduser().absolute())])}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from .engine.errors import Code, Problem
    from .engine.journal import check_state_folder, read_journal
    from .engine.plan import human

    root = args.root.expanduser().absolute()
    if root.is_dir():
        check_state_folder(root)  # a file or a link there: path-blocked, as run, plan and verify say
    view = read_journal(root) if root.is_dir() else None
    if view is not None and view.note:
        print(view.note, file=sys.stderr)
    records = view.records if view is not None else None
    if records is None:
        if view is not None and view.unreadable:
            if args.json:
                print("[]")
            return EXIT_OK
        return _fail(Problem(Code.ROOT_MISSING, f"{root} has no sharegpt4v-setup journal.",
                             "Run 'sharegpt4v-setup run --root ...' first."))
    if args.json:
        print(json.dumps([{
            "id": r.id, "stage": r.stage, "source": r.source, "bytes_done": r.bytes_done,
            "bytes_total": r.bytes_total, "updated": r.updated,
            "problem": None if r.problem is None else {"code": str(r.problem.code),
                                                       "message": r.problem.message,
                                                       "hint": r.problem.hint},
        } for r in records], indent=2))
    else:
        for r in records:
            size = f"{human(r.bytes_done)} / {human(r.bytes_total)}" if r.bytes_total else ""
            print(f"{r.id:<16} {r.stage:<12} {size:<22} {r.source}")
            if r.problem:
                print(f"    {r.problem.render()}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    from .engine.catalog import load_catalog
    from .engine.errors import Code, Problem
    from .engine.verify import verify

    root = args.root.expanduser().absolute()
    if not root.is_dir():
        return _fail(Problem(Code.ROOT_MISSING, f"{root} is not a folder.", "Pass the data root you prepared."))
    catalog = load_catalog(args.catalog)
    jsons = [j if j.exists() or not (root / j).exists() else root / j for j in args.jsons]
    report = verify(root, jsons or None, deep=args.deep, catalog=catalog)
    print(json.dumps(report.to_json(), indent=2) if args.json else report.render_text())
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_repair(args: argparse.Namespace) -> int:
    from .engine.control import Control
    from .engine.errors import Code, Problem
    from .engine.repair import repair
    from .termprogress import TerminalReporter

    _resume(args)
    with _demo_if_asked(args) as catalog:
        root = args.root.expanduser().absolute()
        if not root.is_dir():
            return _fail(Problem(Code.ROOT_MISSING, f"{root} is not a folder.", "Pass the data root you prepared."))
        settings = _settings(args)
        _check_local(catalog, args)
        control = Control()
        try:
            with _stop_on_signals(control):
                report = repair(root, catalog, settings, TerminalReporter(quiet=False), control, deep=args.deep)
        except Cancelled:
            print("Cancelled. What was restored so far is kept; run the same command to go on.", file=sys.stderr)
            return EXIT_CANCELLED
        if args.json:
            print(json.dumps({"ok": report.ok, "restored": report.restored,
                              "unrecoverable": report.unrecoverable,
                              "after": report.after.to_json() if report.after else None}, indent=2))
        else:
            print(report.render_text())
        return EXIT_OK if report.ok else EXIT_FAILED


class _demo_if_asked:
    """Context manager: the catalog to use, with the demo mirror running when --demo is given."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.session: object | None = None

    def __enter__(self) -> Catalog:
        from .engine.catalog import load_catalog
        from .engine.plan import check_root

        args = self.args
        if not args.demo:
            return load_catalog(args.catalog.expanduser().absolute() if args.catalog else None)
        from .demo.session import DemoSession
        from .engine import demoroot

        root = check_root(args.root, create=True)
        demoroot.check(root, demo=True)  # before the demo writes its world into the root's state folder
        session = DemoSession(root)
        self.session = session
        session.start()
        if not args.preset and not args.components and args.command != "repair":
            args.components = ",".join(session.components)
        args.hf_endpoint = session.base_url
        if session.sam_links is not None and args.sam_links is None:
            args.sam_links = session.sam_links
        if args.command == "run":
            args._demo_check = lambda: session.check_tree(_select(session.catalog, args),
                                                          full_archives=args.full_archives)
        return session.catalog

    def __exit__(self, *exc: object) -> None:
        if self.session is not None:
            self.session.stop()  # type: ignore[attr-defined]


def open_wizard(*, demo: bool, demo_root: Path | None) -> int:
    """The graphical wizard (``sharegpt4v-setup`` with no subcommand)."""
    from .syslibs import check_gui, report

    problem = check_gui()
    if problem is not None:  # say what to install instead of letting Qt abort
        report(problem)
        return EXIT_USAGE
    try:
        from .gui.app import main as gui_main
    except ImportError as exc:
        print(f"The graphical wizard is not available ({exc}).", file=sys.stderr)
        build_parser().print_help()
        return EXIT_USAGE
    return gui_main(demo=demo, demo_root=demo_root)


class _Output:
    """``sys.stdout``/``sys.stderr`` while a command runs: when the reader goes away (``| head -1``,
    a log collector that died, a closed terminal), the rest of the output is dropped. The work
    goes on and the command ends with its own exit code, instead of the reporter's next line
    failing the jobs with a disk error (``io-error``) about a broken pipe."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self.stream.write(text)
            except OSError as exc:
                self._gone(exc)
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except OSError as exc:
                self._gone(exc)

    def _gone(self, exc: OSError) -> None:
        if not isinstance(exc, BrokenPipeError) and exc.errno != errno.EIO:
            raise exc
        self.gone = True
        with contextlib.suppress(OSError, ValueError, AttributeError):  # the buffered rest: nowhere
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextlib.contextmanager
def _guarded_output() -> Iterator[None]:
    saved = sys.stdout, sys.stderr
    with contextlib.ExitStack() as closing:
        def usable(stream: TextIO | None) -> TextIO:
            """A stream closed when the command started (``>&-``: Python's is None) is os.devnull; one
            whose encoding cannot write a character writes it as an escape rather than failing."""
            if stream is None:
                return closing.enter_context(open(os.devnull, "w", encoding="utf-8"))
            if getattr(stream, "errors", None) == "strict":  # an ASCII or Latin-1 terminal, a non-ASCII path
                with contextlib.suppress(AttributeError, ValueError, OSError):
                    stream.reconfigure(errors="backslashreplace")  # type: ignore[attr-defined]
            return stream

        sys.stdout, sys.stderr = _Output(usable(sys.stdout)), _Output(usable(sys.stderr))
        try:
            yield
        finally:
            sys.stdout, sys.stderr = saved


def main(argv: Sequence[str] | None = None, *, self_test: Callable[[], int] | None = None) -> int:
    """The command line. ``self_test`` runs ``--self-test`` (:mod:`wizard.entry` passes it: the
    self-test drives this CLI, so this module does not import it)."""
    if not (sys.argv[1:] if argv is None else argv):  # the double-click case: no parser to build first
        return open_wizard(demo=False, demo_root=None)
    parser = build_parser()
    args = parser.parse_args(argv)  # --version exits here, having imported next to nothing
    if args.self_test:
        if self_test is None:
            return _fail(Problem(Code.INTERNAL, "--self-test is run by the sharegpt4v-setup command.",
                                 "Run 'sharegpt4v-setup --self-test' or 'python -m wizard --self-test'."))
        return self_test()
    if args.command is None:
        return open_wizard(demo=args.demo, demo_root=args.demo_root)

    if hasattr(args, "root") and args.root is None and not getattr(args, "demo", False):
        parser.error("the following arguments are required: --root")
    with _guarded_output():
        return _command(args)


def _command(args: argparse.Namespace) -> int:
    from .paths import default_demo_root

    handlers = {"plan": cmd_plan, "run": cmd_run, "status": cmd_status, "verify": cmd_verify,
                "repair": cmd_repair}
    root: Path | None = None
    try:
        if hasattr(args, "root") and args.root is None:  # --demo: in the user's cache folder
            args.root = default_demo_root()
            args.root.mkdir(parents=True, exist_ok=True)
        if getattr(args, "root", None) is not None:
            args.root = expand_path(args.root, "--root")
            root = args.root.absolute()
        return handlers[args.command](args)
    except KeyboardInterrupt:
        print("\nInterrupted. The work so far is kept; run the same command to resume.", file=sys.stderr)
        return EXIT_CANCELLED
    except Exception as exc:  # every other exception becomes a coded problem, never a traceback
        from .failures import problem_for  # not before the wizard's first window: sqlite3, logging setup

        mapped, code = problem_for(exc, root, f"sharegpt4v-setup {args.command}")
        return _fail(mapped, code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
