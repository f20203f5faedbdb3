"""The chunked simdjson reader (wizard.engine.jsonscan) against one ijson pass over the whole file:
on generated JSONs with hostile content — escapes, \\/ and \\u, non-ASCII, "image" inside strings
and nested elsewhere, duplicate keys, odd whitespace, "}, {" inside strings — and on broken ones,
cut into chunks of a few hundred bytes, verify's reader gives exactly the single pass's values or
its error, and the chunked read is really what answers."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from wizard.engine import annotations as annotations_mod
from wizard.engine import jsonscan
from wizard.engine.annotations import iter_image_paths
from wizard.engine.errors import SetupError

PIECES = ["a", "Z", "9", " ", "\"", "\\", "/", "\\/", "\n", "\t", "\x01", "é", "中文", "😀", "\u2028",
          "}, {", "[", "]", "{", "\"image\": \"x.jpg\"", "image", ":", ",", "\\u0041", "coco/", "../"]


def hostile_text(rng: random.Random, longest: int = 12) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randrange(0, longest)))


def hostile_value(rng: random.Random) -> Any:
    kind = rng.random()
    if kind < 0.75:
        return hostile_text(rng)
    return rng.choice([None, 0, -1.5e3, True, False, ["x"], {"image": "n.jpg"}, [], {}])


def record(rng: random.Random) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    keys = ["id", "image", "conversations", "model"] + ([hostile_text(rng, 4)] if rng.random() < 0.02 else [])
    rng.shuffle(keys)
    for key in keys:
        roll = rng.random()
        if key == "image":
            if roll < 0.85:
                rec["image"] = hostile_text(rng) if rng.random() < 0.5 else \
                    f"coco/train2017/{rng.randrange(10**12):012d}.jpg"
            elif roll < 0.92:
                rec["image"] = hostile_value(rng)
        elif key == "conversations":
            turns = [{"from": rng.choice(["human", "gpt"]), "value": hostile_text(rng, 30)}
                     for _ in range(rng.randrange(0, 4))]
            if rng.random() < 0.1:
                turns.append({"image": "nested/not-top-level.jpg", "value": "x"})
            rec["conversations"] = turns
        elif roll < 0.6:
            rec[key] = hostile_value(rng)
    return rec


def dump(rng: random.Random, records: list[dict[str, Any]]) -> bytes:
    style = rng.randrange(4)
    if style == 0:
        text = json.dumps(records)
    elif style == 1:
        text = json.dumps(records, indent=rng.choice([1, 2, "\t"]), ensure_ascii=False)
    elif style == 2:
        text = json.dumps(records, separators=(",", ":"), ensure_ascii=False)
    else:
        text = "\r\n " + json.dumps(records, separators=(" ,\n\t", " :\r\n ")) + " \n "
    data = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.1:  # the key spelled with an escape: still "image" to a JSON parser
        data = data.replace(b'"image"', b'"\\u0069mage"', 1)
    if rng.random() < 0.1:  # a duplicate image key, the last one counts
        data = data.replace(b'{"id"', b'{"image": "first.jpg", "id"', 1)
    return data


def broken(rng: random.Random, data: bytes) -> bytes:
    """One damage a download or an editor could do."""
    at = rng.randrange(1, max(2, len(data) - 1))
    return rng.choice([
        lambda: data[:at],  # truncated
        lambda: data.replace(b", ", b" ", 1),  # a missing comma
        lambda: data[:at] + b"\x01" + data[at:],  # a raw control character
        lambda: data.replace(b"\\", b"\\x", 1),  # an invalid escape
        lambda: data[:at] + b"\xff" + data[at:],  # invalid UTF-8
        lambda: data + b" garbage",  # data after the list
        lambda: data.replace(b"]", b"", 1),  # an unclosed array
        lambda: data.replace(b'"', b"", 1),  # a lost quote
    ])()


def outcome(path: Path) -> tuple[str, Any]:
    try:
        return "values", list(iter_image_paths(path))
    except SetupError as exc:
        return "error", exc.problem.message


class Watch:
    """Makes the chunks small and counts what the chunked read did: chunks parsed, chunks that
    went to ijson, whole-file fallbacks."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
        self.chunks = self.by_ijson = self.fell_back = 0
        chunk_values, ijson_values, iter_chunks = jsonscan._chunk_values, jsonscan._ijson_values, jsonscan.iter_chunks

        def counted_chunk(*args: Any) -> list[str | None]:
            self.chunks += 1
            return chunk_values(*args)

        def counted_ijson(doc: bytes) -> list[str | None]:
            self.by_ijson += 1
            return ijson_values(doc)

        def watched(*args: Any, **kwargs: Any) -> Iterator[str | None]:
            try:
                yield from iter_chunks(*args, **kwargs)
            except jsonscan.Fallback:
                self.fell_back += 1
                raise

        monkeypatch.setattr(jsonscan, "CHUNK", chunk)
        monkeypatch.setattr(jsonscan, "_chunk_values", counted_chunk)
        monkeypatch.setattr(jsonscan, "_ijson_values", counted_ijson)
        monkeypatch.setattr(annotations_mod.jsonscan, "iter_chunks", watched)


def one_pass(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    """What ijson alone gives (the chunked reader never runs)."""

    def refuse(*_args: Any, **_kwargs: Any) -> Iterator[str | None]:
        raise jsonscan.Fallback("reference")
        yield None  # a generator, like the real one

    with monkeypatch.context() as patch:
        patch.setattr(annotations_mod.jsonscan, "iter_chunks", refuse)
        return outcome(path)


def both(path: Path, monkeypatch: pytest.MonkeyPatch,
         chunk: int = 256) -> tuple[tuple[str, Any], tuple[str, Any], Watch]:
    """(the chunked read's outcome, one ijson pass's outcome, what the chunked read did)."""
    reference = one_pass(path, monkeypatch)
    with monkeypatch.context() as patch:
        watch = Watch(patch, chunk)
        fast = outcome(path)
    return fast, reference, watch


def generated(seed: int) -> tuple[random.Random, bytes]:
    rng = random.Random(seed)
    return rng, dump(rng, [record(rng) for _ in range(rng.randrange(2, 40))])


SEEDS = range(30)


@pytest.mark.parametrize("seed", SEEDS)
def test_hostile_jsons_read_exactly_like_one_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  seed: int) -> None:
    rng, data = generated(seed)
    path = tmp_path / "a.json"
    path.write_bytes(data)
    fast, reference, _ = both(path, monkeypatch, chunk=rng.choice([64, 256, 1024, 1 << 20]))
    assert fast == reference
    assert reference[0] == "values"
    path.write_bytes(broken(rng, data))
    fast, reference, _ = both(path, monkeypatch)
    assert fast == reference


def test_most_valid_files_are_really_read_by_simdjson(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above is only worth something if simdjson answers most chunks."""
    chunks = by_simdjson = whole = 0
    for seed in SEEDS:
        _, data = generated(seed)
        path = tmp_path / "a.json"
        path.write_bytes(data)
        fast, reference, watch = both(path, monkeypatch)
        assert fast == reference
        chunks += watch.chunks
        by_simdjson += watch.chunks - watch.by_ijson
        whole += watch.fell_back == 0
    assert chunks >= 3 * len(SEEDS)  # really cut into several chunks
    assert by_simdjson >= chunks // 2  # the others: a duplicate key, "}, {" ending a string...
    assert whole >= len(SEEDS) // 2


def records_of(n: int, caption: str = "plain text") -> list[dict[str, Any]]:
    """Records of varied lengths (so chunks end at varied places in them)."""
    return [{"id": str(i), "image": f"sam/images/sa_{i}.jpg", "conversations": [
        {"from": "human", "value": "<image>" + "?" * (i * 7 % 31)}, {"from": "gpt", "value": caption}]}
        for i in range(n)]


@pytest.mark.parametrize("trap", ["none", "nested", "string"])
def test_a_false_boundary_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trap: str) -> None:
    """A candidate boundary that is not between two records makes its chunk invalid, and the file
    is read in one pass, with the same values: "nested" — twenty conversation turns a record that
    start with the records' first key ``"id"``; "string" — the first key spelled with an escape, so any ``}, {"``
    is a candidate, and captions that end with ``}, {``."""
    monkeypatch.setattr(annotations_mod, "_BATCH", 7)  # the one-pass read yields many short lists
    records = records_of(300, "a}, {" if trap == "string" else "plain text")
    if trap == "nested":
        for r in records:
            r["conversations"] = [{"id": "t", **turn} for turn in r["conversations"] * 10]
    text = json.dumps(records)
    if trap == "string":
        text = text.replace('{"id"', '{"\\u0069d"', 1)
    path = tmp_path / "big.json"
    path.write_text(text)
    fast, reference, watch = both(path, monkeypatch, chunk=4096)
    assert fast == reference == ("values", [r["image"] for r in records])
    assert watch.fell_back == (0 if trap == "none" else 1)
    assert watch.chunks >= (10 if trap == "none" else 1)


def test_the_cut_skips_boundaries_between_conversation_turns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside a record, turns are separated by ``}, {"from"``: only ``}, {"id"`` (the first record's
    first key) is taken as a record boundary, so every chunk parses."""
    records = records_of(500)
    path = tmp_path / "turns.json"
    path.write_bytes(json.dumps(records, indent=1).encode())
    fast, reference, watch = both(path, monkeypatch, chunk=2048)
    assert fast == reference == ("values", [r["image"] for r in records])
    assert (watch.fell_back, watch.by_ijson) == (0, 0) and watch.chunks >= 20


def test_a_broken_later_chunk_gives_the_one_pass_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = json.dumps(records_of(400)).encode()
    path = tmp_path / "cut.json"
    path.write_bytes(data[: len(data) * 3 // 4])
    fast, reference, watch = both(path, monkeypatch, chunk=4096)
    assert fast == reference and fast[0] == "error" and "truncated" in fast[1]
    assert watch.fell_back == 1 and watch.chunks >= 5


def test_a_duplicate_image_key_keeps_the_last_value_like_a_dict(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """simdjson's get() gives the first of two keys, a dict (ijson, json.load) the last: that
    chunk is read by ijson, the others by simdjson."""
    records = records_of(200)
    text = json.dumps(records).replace('"id": "150"', '"image": "first.jpg", "id": "150"')
    text = text.replace('"id": "20", "image": "sam/images/sa_20.jpg"',
                        '"id": "20", "\\u0069mage": "x.jpg", "image": "y.jpg"')
    assert json.loads(text)[150]["image"] == "sam/images/sa_150.jpg" and json.loads(text)[20]["image"] == "y.jpg"
    path = tmp_path / "dup.json"
    path.write_text(text)
    fast, reference, watch = both(path, monkeypatch, chunk=2048)
    expected = [r["image"] for r in json.loads(text)]
    assert fast == reference == ("values", expected)
    assert watch.fell_back == 0 and watch.by_ijson == 2 and watch.chunks >= 10


def test_what_simdjson_cannot_hold_is_read_by_ijson(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Valid JSON that simdjson refuses (a 100-digit number, deep nesting, a lone high surrogate
    that ijson takes) costs that chunk an ijson read, not the file a fallback."""
    records = records_of(100)
    records[30]["n"] = 10 ** 100
    text = json.dumps(records).replace('"id": "60"', '"id": "60", "deep": ' + "[" * 1100 + "]" * 1100)
    path = tmp_path / "odd.json"
    path.write_text(text.replace('"id": "90"', '"id": "90", "c": "x\\ud800y"'))
    fast, reference, watch = both(path, monkeypatch, chunk=2048)
    assert fast == reference and fast[0] == "values" and len(fast[1]) == 100
    assert watch.fell_back == 0 and watch.by_ijson == 3


@pytest.mark.parametrize("content, says", [
    (b'[{"image": "a.jpg"}, {"image": "b\\udc00.jpg"}]', "not valid text"),
    (b'[{"image": "a.jpg"}, [1], {"image": "b.jpg"}]', "record #2 that is a list"),
    (b'[{"image": "a.jpg"}, "text", {"image": "b.jpg"}]', "record #2 that is a str"),
])
def test_errors_are_worded_as_by_one_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes,
                                          says: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    fast, reference, watch = both(path, monkeypatch)
    assert fast == reference and fast[0] == "error" and says in fast[1]
    assert watch.fell_back == 1


@pytest.mark.parametrize("text", ["[]", " [ ] \n", '[{"image": "a.jpg"}]', '\ufeff[{"id": 1}]',
                                  '[{"id": "0", "image": "coco/x.jpg", "conversations": []}]\n'])
def test_small_files_one_record_and_empty_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    path = tmp_path / "small.json"
    path.write_bytes(text.encode())
    fast, reference, watch = both(path, monkeypatch)
    assert fast == reference and fast[0] == "values"
    assert (watch.fell_back, watch.by_ijson, watch.chunks) == (0, 0, 1)


def test_a_record_longer_than_a_chunk_grows_the_buffer_up_to_a_bound(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    records = records_of(20)
    records[5]["conversations"][1]["value"] = "long " * 2000  # 10 KB: more than a 1 KiB chunk
    path = tmp_path / "long.json"
    path.write_text(json.dumps(records))
    fast, reference, watch = both(path, monkeypatch, chunk=1024)
    assert fast == reference and fast[0] == "values" and watch.fell_back == 0
    monkeypatch.setattr(jsonscan, "MAX_CHUNK", 4096)  # past the bound: the whole file by ijson
    fast, reference, watch = both(path, monkeypatch, chunk=1024)
    assert fast == reference and fast[0] == "values" and watch.fell_back == 1


def test_progress_only_advances_and_ends_at_the_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Also across a fallback: ijson re-reading the start does not move the progress back."""
    data = json.dumps(records_of(300)).encode()
    path = tmp_path / "p.json"
    for content in (data, data + b" garbage"):
        path.write_bytes(content)
        seen: list[int] = []
        monkeypatch.setattr(jsonscan, "CHUNK", 2048)
        try:
            list(iter_image_paths(path, progress=seen.append))
        except SetupError:
            assert content.endswith(b"garbage")
        assert seen == sorted(seen) and len(seen) >= 10
        assert seen[-1] == len(content) or content.endswith(b"garbage")


def test_many_braces_in_strings_still_find_the_boundary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Captions of hundreds of ``}``: the last few tried from a chunk's end are all inside strings,
    so the rest of the chunk is scanned for the boundary (once, not ``}`` by ``}``)."""
    records = records_of(100, "}" * 300)
    path = tmp_path / "braces.json"
    path.write_text(json.dumps(records))
    fast, reference, watch = both(path, monkeypatch, chunk=4096)
    assert fast == reference == ("values", [r["image"] for r in records])
    assert (watch.fell_back, watch.by_ijson) == (0, 0) and watch.chunks >= 8


def test_one_huge_string_is_read_by_ijson_in_growing_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ijson (yajl) scans a token cut by the end of a read again from its start at every next read:
    a 128 MB caption read 64 KiB at a time took 87-116 s (~2,000 reads, each scanning up to 128 MB).
    While no record ends, each read is twice the one before; the records after it are read as
    asked again."""
    records = records_of(30)
    records[10]["conversations"][1]["value"] = "x" * (12 << 20)  # 192 reads of 64 KiB
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(records))
    monkeypatch.setattr(jsonscan, "simdjson", None)  # read by ijson (as past MAX_CHUNK)
    reads: list[int] = []
    real_open = open

    class Counted:
        def __init__(self, f: Any) -> None:
            self.f = f

        def read(self, n: int = -1) -> bytes:
            data = self.f.read(n)
            reads.append(len(data))
            return data

        def __getattr__(self, name: str) -> Any:
            return getattr(self.f, name)

        def __enter__(self) -> Counted:
            return self

        def __exit__(self, *exc: object) -> None:
            self.f.close()

    monkeypatch.setattr(annotations_mod, "open", lambda p, mode: Counted(real_open(p, mode)), raising=False)
    assert list(iter_image_paths(path)) == [r["image"] for r in records]
    assert len(reads) <= 16, reads  # 64 KiB, 128 KiB, ... 16 MiB, then the rest


_READ_IN_A_CHILD = """
import sys
from pathlib import Path
from wizard.engine import jsonscan
from wizard.engine.annotations import iter_image_paths
from wizard.engine.errors import SetupError
if sys.argv[2] == "ijson-only":
    jsonscan.simdjson = None
try:
    print(list(iter_image_paths(Path(sys.argv[1]))))
except SetupError as exc:
    print(exc.problem.code, len(exc.problem.message))
with open(sys.argv[1], "rb") as fh:  # as OCR-VQA's dataset.json is read
    try:
        print(len(list(jsonscan.safe_ijson(fh).items(fh, "item"))))
    except jsonscan.ijson.JSONError:
        print("JSONError")
"""


@pytest.mark.parametrize("reader", ["chunked", "ijson-only"])
def test_a_number_of_thousands_of_digits_is_an_error_not_a_crash(tmp_path: Path, reader: str) -> None:
    """Python 3.11 turns at most 4,300 digits into an int; ijson's C backend then crashed the whole
    process (a segfault: verify, the GUI's engine child) instead of raising. Digits in a string
    are only text. Run in a child: on the crash it dies, not the test run."""
    import subprocess
    import sys

    bad, fine = tmp_path / "number.json", tmp_path / "string.json"
    bad.write_text('[{"id": 1, "image": "coco/a.jpg"}, {"id": ' + "7" * 5000 + ', "image": "coco/b.jpg"}]')
    fine.write_text('[{"id": "' + "7" * 5000 + '", "image": "coco/a.jpg"}, {"id": 2, "image": "coco/b.jpg"}]')
    out = {}
    for path in (bad, fine):
        child = subprocess.run([sys.executable, "-c", _READ_IN_A_CHILD, str(path), reader],
                               capture_output=True, text=True, timeout=120)
        assert child.returncode == 0, child.stderr[-2000:]
        out[path.name] = child.stdout.split("\n")
    code, length = out["number.json"][0].split()
    assert code == "annotations-invalid" and int(length) < 1000
    assert out["number.json"][1] == "JSONError"
    assert out["string.json"][:2] == ["['coco/a.jpg', 'coco/b.jpg']", "2"]
