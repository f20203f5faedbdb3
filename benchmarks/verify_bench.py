"""Benchmark ``verify`` against two baselines: ``json.load`` + ``os.path.exists``, and a plain
ijson loop + one ``os.scandir`` set per folder.

Generates a synthetic ShareGPT4V-PT-like JSON (default 1,250,000 records of ~1.2 KB, so about
1.5 GB; coco / llava / sam paths mixed like the real file, a few text-only records, a few images
missing) and the matching image trees (empty files, with the size ledger the app's extraction
leaves, so ours also stats every image), then runs the three contenders in turn
(interleaved, ``--reps`` rounds, the order rotating), each in its own subprocess so that peak RSS
(the process and, for ours, its helper processes) is measured independently. Prints each run
(wall time, CPU seconds of the process and its children, peak RSS), the medians, the ratios
ours/json.load and ours/ijson, and the machine's load average before and after. ``--hog`` runs a
Python busy loop on the side for the whole measurement (a parallel CPU hog).

    .venv/bin/python benchmarks/verify_bench.py [--records N] [--reps 3] [--hog] [--workdir DIR] [--keep]

The generated data is reused when the work directory already holds data for the same record
count (generating 1.25M records takes minutes: use ``--records 200000`` on a busy machine).
Targets at 1.25M records: ours <= 0.1 x json.load's time and <= 0.05 x its memory, and faster
than the ijson baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
JSON_NAME = "share-captioner_coco_lcs_sam_1246k_1107.json"
TEXT_ONLY_EVERY = 25_000  # one text-only record per this many
MISSING_EVERY = 1_000  # one image in this many is not created

_VOCABULARY = (
    "the a an image shows depicts large small red blue green white black wooden metal old modern "
    "person man woman child dog cat car bus train street building window door table chair plate "
    "food sky cloud tree grass water river mountain light shadow background foreground left "
    "right center standing sitting holding wearing near next to behind in front of with and "
    "while its their this that scene view photograph composition colour texture detail surface "
    "edge corner sign text letters reads visible partially bright dark soft warm cool tone "
    "atmosphere calm busy"
)
_WORDS = _VOCABULARY.split()
_PROMPTS = (
    "What do you see happening in this image?",
    "Describe this image in detail.",
    "Analyze the image in a comprehensive and detailed manner.",
    "Write a detailed description of the given image.",
    "Can you elaborate on the elements of the picture provided?",
)


def _captions(rng: random.Random, count: int = 512) -> list[str]:
    out = []
    for _ in range(count):
        words: list[str] = []
        length = 0
        target = rng.randint(900, 1100)
        while length < target:
            sentence = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 20)))
            words.append(sentence.capitalize() + ".")
            length += len(sentence) + 2
        out.append(" ".join(words))
    return out


def _image_path(kind: int, i: int) -> tuple[str, str]:
    """(record id, image path) for the i-th image of a kind (0 llava, 1 coco, 2 sam)."""
    if kind == 0:
        return f"{i:09d}", f"llava/llava_pretrain/images/{i // 1000:05d}/{i:09d}.jpg"
    if kind == 1:
        return f"{i:012d}", f"coco/train2017/{i:012d}.jpg"
    return f"sa_{i}", f"sam/images/sa_{i}.jpg"


def generate(workdir: Path, records: int, seed: int = 4) -> Path:
    """Write ``<workdir>/data/sharegpt4v/<PT json>`` and its image trees; return the data root."""
    root = workdir / "data"
    stamp = workdir / f"generated-{records}.ok"
    if stamp.is_file():
        return root
    if root.exists():
        shutil.rmtree(root)
    for old in workdir.glob("generated-*.ok"):
        old.unlink()
    rng = random.Random(seed)
    captions = [json.dumps(c) for c in _captions(rng)]
    prompts = [json.dumps(p + "\n<image>") for p in _PROMPTS]
    counters = [0, 0, 0]
    weights = [0.448, 0.095, 0.457]  # llava / coco / sam shares in the real PT file
    jdir = root / "sharegpt4v"
    jdir.mkdir(parents=True)
    t0 = time.perf_counter()
    created = 0
    made_dirs: set[str] = set()
    with open(jdir / JSON_NAME, "w", encoding="utf-8") as f:
        f.write("[")
        chunk: list[str] = []
        for n in range(records):
            cap = captions[rng.randrange(len(captions))]
            if n % TEXT_ONLY_EVERY == TEXT_ONLY_EVERY - 1:
                chunk.append(f'{{"id": "text_{n}", "conversations": [{{"from": "human", "value": '
                             f'"Tell me a story."}}, {{"from": "gpt", "value": {cap}}}]}}')
            else:
                kind = rng.choices((0, 1, 2), weights)[0]
                rid, image = _image_path(kind, counters[kind])
                counters[kind] += 1
                chunk.append(f'{{"id": "{rid}", "image": "{image}", "conversations": [{{"from": '
                             f'"human", "value": {rng.choice(prompts)}}}, {{"from": "gpt", '
                             f'"value": {cap}}}]}}')
                if n % MISSING_EVERY != 7:
                    folder, _, _ = image.rpartition("/")
                    if folder not in made_dirs:
                        os.makedirs(root / folder, exist_ok=True)
                        made_dirs.add(folder)
                    os.close(os.open(root / image, os.O_CREAT | os.O_WRONLY, 0o644))
                    created += 1
            if len(chunk) >= 10_000:
                f.write(("," if n >= len(chunk) else "") + ",".join(chunk))
                chunk = []
        if chunk:
            f.write(("," if records > len(chunk) else "") + ",".join(chunk))
        f.write("]")
    _record_sizes(root)
    size = (jdir / JSON_NAME).stat().st_size
    print(f"generated {records:,} records ({size / 1e9:.2f} GB) and {created:,} images "
          f"in {time.perf_counter() - t0:.1f} s under {root}", flush=True)
    stamp.write_text("ok")
    return root


def _record_sizes(root: Path) -> None:
    """What the app's extraction leaves: the size of every image (verify stats each one)."""
    sys.path.insert(0, str(REPO))
    from wizard.engine.sizes import SizeLedger

    ledger = SizeLedger(root)
    for folder, _dirs, files in os.walk(root):
        if "sharegpt4v" in folder or ".sharegpt4v-setup" in folder:
            continue
        for name in files:
            ledger.record(os.path.join(folder, name), 0)
    ledger.flush()


# ------------------------------------------------------------------------------------------
# The three contenders, each run in a child process: python verify_bench.py --child KIND ROOT
# ------------------------------------------------------------------------------------------
CONTENDERS = ("json.load", "ijson", "ours")
HOG = "while True: pass"


def _peak_rss_kb() -> int:
    """Peak RSS of this process plus the largest of its finished children (ours spawns one)."""
    import resource

    own = 0
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                own = int(line.split()[1])
    return own + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def _count(root: Path, images: list[str | None] | object) -> dict[str, int]:
    """Distinct images, missing (one scandir set per folder), text-only, from image values."""
    by_dir: dict[str, set[str]] = {}
    text_only = 0
    for image in images:  # type: ignore[attr-defined]
        if image is None:
            text_only += 1
            continue
        folder, _, name = image.rpartition("/")
        by_dir.setdefault(folder, set()).add(name)
    missing = referenced = 0
    for folder, names in by_dir.items():
        referenced += len(names)
        try:
            with os.scandir(os.path.join(root, folder)) as entries:
                names.difference_update(e.name for e in entries)
        except FileNotFoundError:
            pass
        missing += len(names)
    return {"referenced": referenced, "missing": missing, "text_only": text_only}


def _child(kind: str, root: Path) -> None:
    """Run one contender; print its time and CPU (imports excluded), peak RSS and counts as JSON."""
    path = root / "sharegpt4v" / JSON_NAME
    cpu0 = _cpu()
    if kind == "ours":
        sys.path.insert(0, str(REPO))
        from wizard.engine.verify import verify

        t0 = time.perf_counter()
        report = verify(root)
        summary = {"referenced": report.totals.referenced, "missing": report.totals.missing,
                   "text_only": report.totals.text_only}
    elif kind == "ijson":
        import ijson

        t0 = time.perf_counter()
        with open(path, "rb") as f:
            summary = _count(root, (rec.get("image") for rec in ijson.items(f, "item")))
    else:
        t0 = time.perf_counter()
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        referenced = missing = text_only = 0
        for rec in data:  # the generated records name distinct images, so no de-duplication
            image = rec.get("image")
            if image is None:
                text_only += 1
            else:
                referenced += 1
                if not os.path.exists(os.path.join(root, image)):
                    missing += 1
        summary = {"referenced": referenced, "missing": missing, "text_only": text_only}
    elapsed = time.perf_counter() - t0
    print(json.dumps({"seconds": elapsed, "cpu": _cpu() - cpu0, "peak_kb": _peak_rss_kb(), **summary}))


def _cpu() -> float:
    """CPU seconds of this process and its finished children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _run(kind: str, root: Path) -> dict[str, float]:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, str(root)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"{kind} failed:\n{proc.stderr}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_250_000,
                        help="records in the synthetic JSON (default 1,250,000, about 1.5 GB)")
    parser.add_argument("--reps", type=int, default=3, help="rounds of the three contenders (default 3)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where to generate the data (default: a fresh temp dir, removed after)")
    parser.add_argument("--keep", action="store_true", help="keep a temp work dir afterwards")
    parser.add_argument("--hog", action="store_true", help="run a Python busy loop on the side")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "ROOT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], Path(args.child[1]))
        return 0
    temp = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="verify-bench-")) if temp else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in CONTENDERS}
    hog: subprocess.Popen[bytes] | None = None
    try:
        root = generate(workdir, args.records)
        print(f"before: {_load()}", flush=True)
        hog = subprocess.Popen([sys.executable, "-c", HOG]) if args.hog else None
        for rep in range(args.reps):
            order = CONTENDERS[rep % 3:] + CONTENDERS[:rep % 3]
            for kind in order:
                r = _run(kind, root)
                runs[kind].append(r)
                print(f"  rep {rep + 1} {kind:<9}: {r['seconds']:7.2f} s  CPU {r['cpu']:7.2f} s  "
                      f"peak RSS {r['peak_kb'] / 1024:8.1f} MiB", flush=True)
        print(f"after:  {_load()}" + ("  (with a Python busy loop on the side)" if args.hog else ""))
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
        if temp and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    first = runs["ours"][0]
    for kind in CONTENDERS[:2]:
        for key in ("referenced", "missing", "text_only"):
            if runs[kind][0][key] != first[key]:
                print(f"MISMATCH {key}: ours {first[key]:,} vs {kind} {runs[kind][0][key]:,}")
    print(f"records {args.records:,}: {int(first['referenced']):,} images referenced, "
          f"{int(first['missing']):,} missing, {int(first['text_only']):,} text-only")
    med = {k: (statistics.median(r["seconds"] for r in runs[k]), statistics.median(r["peak_kb"] for r in runs[k]),
               statistics.median(r["cpu"] for r in runs[k])) for k in CONTENDERS}
    for kind in CONTENDERS:
        print(f"median {kind:<9}: {med[kind][0]:7.2f} s   CPU {med[kind][2]:7.2f} s   "
              f"peak RSS {med[kind][1] / 1024:8.1f} MiB")
    t_load, m_load = med["ours"][0] / med["json.load"][0], med["ours"][1] / med["json.load"][1]
    t_ijson = med["ours"][0] / med["ijson"][0]
    print(f"ours/json.load: time {t_load:.3f} (target <= 0.1)   memory {m_load:.3f} (target <= 0.05)   "
          f"CPU {med['ours'][2] / med['json.load'][2]:.3f}")
    print(f"ours/ijson+scandir: time {t_ijson:.3f} (target < 1)"
          + ("" if args.records == 1_250_000 else "   [targets are set for 1,250,000 records]"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
