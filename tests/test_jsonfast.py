"""The regular-expression reader (wizard.engine.jsonfast) against ijson alone: on every edge case and
on generated hostile and broken files, verify's reader gives exactly ijson's values or ijson's
error, the fast reader really answers the expected shapes, and it hands over on the others."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ijson
import pytest
from test_jsonscan import broken, dump, record

from wizard.engine import annotations as annotations_mod
from wizard.engine import jsonfast
from wizard.engine.annotations import iter_image_paths
from wizard.engine.errors import SetupError
from wizard.engine.jsonscan import NotAnObject, image_of


class Watch:
    """Counts the fast reader's runs and hand-overs (read alone: no two-process split)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, enabled: bool = True) -> None:
        self.runs = self.unexpected = 0
        real = jsonfast.images

        def watched(read: Callable[[int], bytes]) -> Iterator[str | None]:
            self.runs += 1
            if not enabled:
                raise jsonfast.Unexpected("disabled")
            try:
                yield from real(read)
            except jsonfast.Unexpected:
                self.unexpected += 1
                raise

        monkeypatch.setattr(annotations_mod.jsonscan, "can_split", lambda _size: False)
        monkeypatch.setattr(jsonfast, "images", watched)

    @property
    def answered(self) -> bool:
        return self.runs > 0 and self.unexpected == 0


def outcome(path: Path) -> tuple[str, Any]:
    try:
        return "values", list(iter_image_paths(path))
    except SetupError as exc:
        return "error", exc.problem.message
    except ValueError as exc:  # ijson lets a UnicodeDecodeError through (a lone \udc00 escape)
        return "raised", type(exc).__name__


def compare(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[tuple[str, Any], Watch]:
    """(verify's outcome, what the fast reader did), after checking it equals ijson alone's."""
    with monkeypatch.context() as patch:
        Watch(patch, enabled=False)
        reference = outcome(path)
    with monkeypatch.context() as patch:
        watch = Watch(patch)
        fast = outcome(path)
    assert fast == reference
    return fast, watch


def direct(data: bytes) -> tuple[list[str | None], bool]:
    """(values the fast reader gave, whether it read the whole file)."""
    reader = iter([data[i:i + jsonfast.CHUNK] for i in range(0, len(data), jsonfast.CHUNK)] + [b""])
    values: list[str | None] = []
    try:
        for value in jsonfast.images(lambda _n: next(reader, b"")):
            values.append(value)
    except jsonfast.Unexpected:
        return values, False
    return values, True


def ijson_values(data: bytes) -> tuple[list[str | None], bool]:
    """(ijson's values, whether ijson read the whole file without an error)."""
    import io

    values: list[str | None] = []
    try:
        for r in ijson.items(io.BytesIO(data), "item"):
            values.append(image_of(r))
    except (ijson.JSONError, ValueError, NotAnObject):
        return values, False
    return values, True


def agrees(data: bytes) -> bool:
    """The fast reader's values are ijson's: all of them, or the first ones before it hands over."""
    values, whole = direct(data)
    reference, ok = ijson_values(data)
    if whole:
        return ok and values == reference
    return values == reference[:len(values)] and (ok or len(values) <= len(reference))


def rec(image: Any = None, value: str = "A caption.", **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": "000000000009"}
    if image is not None:
        out["image"] = image
    out["conversations"] = [{"from": "human", "value": "<image>\nDescribe the image."},
                            {"from": "gpt", "value": value}]
    out.update(extra)
    return out


PLAIN = json.dumps([rec("coco/train2017/000000000009.jpg"), rec(), rec("sam/images/sa_1.jpg")])

#: name -> (file bytes, whether the fast reader is expected to answer the whole file)
CASES: dict[str, tuple[bytes, bool]] = {
    "plain": (PLAIN.encode(), True),
    "compact": (json.dumps([rec("a/b.jpg"), rec()], separators=(",", ":")).encode(), True),
    "spaced": (json.dumps([rec("a/b.jpg"), rec()], separators=(" , ", " : ")).encode(), True),
    "pretty-printed": (json.dumps([rec("a/b.jpg"), rec()], indent=2).encode(), True),
    "one record a line": (b"[\n" + b",\n".join(json.dumps(r).encode() for r in [rec("a.jpg"), rec()])
                          + b"\n]\n", True),
    "tabs and CRLF": (json.dumps([rec("a.jpg"), rec()], indent="\t").replace("\n", "\r\n").encode(), True),
    "trailing newline": (PLAIN.encode() + b"\n", True),
    "byte order mark": (b"\xef\xbb\xbf" + PLAIN.encode(), True),
    "empty list": (b"[]", True),
    "empty list, spaces": (b" [ ] ", True),
    "escaped image": (json.dumps([rec("coco/a\u00e9\"b\\c/d.jpg")]).replace("/", "\\/").encode(), True),
    "unicode image": (json.dumps([rec("wikiart/images/é中😀.jpg")], ensure_ascii=False).encode(), True),
    "unicode escapes, surrogate pair": (json.dumps([rec("wikiart/😀.jpg", value="😀 é")]).encode(), True),
    "lone surrogate in a caption": (PLAIN.replace("A caption.", "a \\ud800 b", 1).encode(), False),
    "lone low surrogate in an image": (PLAIN.replace("sa_1", "sa_\\udc00", 1).encode(), False),
    "lone surrogate in an image": (PLAIN.replace("sa_1", "sa_\\ud83d1", 1).encode(), False),
    "no image anywhere": (json.dumps([rec(), rec()]).encode(), True),
    "image inside a turn": (json.dumps([{"id": "1", "conversations": [{"from": "human", "image": "x.jpg",
                                                                      "value": "v"}]}]).encode(), True),
    "image inside a nested object": (json.dumps([rec(meta={"image": "x.jpg"})]).encode(), False),
    "image key in a caption": (json.dumps([rec(value='"image": "x.jpg", {"image": "y"}'), rec("a.jpg")]).encode(),
                               True),
    "image key raw in a caption": (PLAIN.replace("A caption.", '\\"image\\": \\"x\\"}, {\\"image', 1).encode(),
                                   True),
    "escaped backslashes": (PLAIN.replace("A caption.", "a\\\\\\\\\\\"b\\\\", 1).encode(), True),
    "duplicate image key": (PLAIN.replace('{"id"', '{"image": "first.jpg", "id"', 1).encode(), True),
    "image key spelled with an escape": (PLAIN.replace('"image"', '"\\u0069mage"', 1).encode(), False),
    "null image": (json.dumps([rec(), {"id": "1", "image": None}]).encode(), False),
    "number image": (json.dumps([{"id": "1", "image": 5}]).encode(), False),
    "numbers and literals": (json.dumps([rec("a.jpg", id=-12.5e3, n=0, t=True, f=False, z=None)]).encode(),
                             True),
    "a huge integer": (json.dumps([rec("a.jpg", id=10 ** 40)]).encode(), False),
    "list of scalars": (json.dumps([rec("a.jpg", tags=["x", 1, None])]).encode(), True),
    "record not an object": (json.dumps([rec("a.jpg"), ["b.jpg"]]).encode(), False),
    "truncated": (PLAIN.encode()[:-30], False),
    "trailing comma": (PLAIN.encode()[:-1] + b",]", False),
    "missing comma": (PLAIN.replace("}, {", "} {", 1).encode(), False),
    "invalid escape": (PLAIN.replace("A caption.", "a \\x b", 1).encode(), False),
    "raw control character": (PLAIN.replace("A caption.", "a \x01 b", 1).encode(), False),
    "raw tab in a string": (PLAIN.replace("A caption.", "a \t b", 1).encode(), False),
    "invalid UTF-8": (PLAIN.encode().replace(b"A caption.", b"a \xff b", 1), False),
    "overlong UTF-8": (PLAIN.encode().replace(b"sa_1", b"sa_\xc0\xaf", 1), False),
    "data after the list": (PLAIN.encode() + b" x", False),
    "a second list": (PLAIN.encode() + b"[]", False),
    "a lost quote": (PLAIN.replace('"', "", 1).encode(), False),
    "a form feed as whitespace": (PLAIN.replace(", ", ",\x0c", 1).encode(), False),
    "not a list": (b'{"image": "a.jpg"}', False),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_edge_cases_read_exactly_like_ijson(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    data, answered = CASES[name]
    path = tmp_path / "a.json"
    path.write_bytes(data)
    _, watch = compare(path, monkeypatch)
    if data.lstrip(b"\xef\xbb\xbf").lstrip()[:1] == b"[":  # else the start check refuses it first
        assert watch.answered == answered


def test_the_values_of_the_edge_cases() -> None:
    """What the cases above must read as, spelled out for the tricky ones."""
    assert direct(CASES["escaped image"][0]) == (["coco/a\u00e9\"b\\c/d.jpg"], True)
    assert direct(CASES["unicode image"][0]) == (["wikiart/images/é中😀.jpg"], True)
    assert direct(CASES["image inside a turn"][0]) == ([None], True)
    assert direct(CASES["image key in a caption"][0]) == ([None, "a.jpg"], True)
    assert direct(CASES["duplicate image key"][0])[0][0] == "coco/train2017/000000000009.jpg"
    assert direct(CASES["plain"][0]) == (["coco/train2017/000000000009.jpg", None, "sam/images/sa_1.jpg"], True)
    assert direct(CASES["image key spelled with an escape"][0]) == ([], False)
    assert direct(CASES["null image"][0]) == ([None], False)  # the first record, then it hands over


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
def test_records_across_chunk_boundaries(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    monkeypatch.setattr(jsonfast, "CHUNK", chunk)
    monkeypatch.setattr(jsonfast, "LONGEST", 1 << 20)
    for name, (data, answered) in CASES.items():
        if data.startswith(b"\xef\xbb\xbf"):
            continue
        assert direct(data)[1] == answered, name
        assert agrees(data), name


def test_a_record_longer_than_the_limit_is_left_to_ijson(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonfast, "CHUNK", 16)
    monkeypatch.setattr(jsonfast, "LONGEST", 300)
    data = json.dumps([rec("a.jpg"), rec("b.jpg", value="x" * 400)]).encode()
    assert direct(data) == (["a.jpg"], False)


def _generated(seed: int) -> tuple[random.Random, bytes]:
    rng = random.Random(1000 + seed)
    return rng, dump(rng, [record(rng) for _ in range(rng.randrange(2, 40))])


@pytest.mark.parametrize("seed", range(40))
def test_hostile_files_read_exactly_like_ijson(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """Generated records with escapes, non-ASCII, "image" in strings and nested, odd key orders
    and whitespace, and each file once more with one damage."""
    rng, data = _generated(seed)
    path = tmp_path / "a.json"
    for sample in (data, broken(rng, data)):
        path.write_bytes(sample)
        compare(path, monkeypatch)
        monkeypatch.setattr(jsonfast, "CHUNK", rng.choice([5, 100, 4096]))
        assert agrees(sample)
        monkeypatch.undo()


def test_the_shipped_shapes_are_answered_by_the_fast_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records as the hub's JSONs spell them (json.dumps defaults), text-only ones among them,
    several chunks long: read wholly by the fast reader, the same values as ijson."""
    monkeypatch.setattr(jsonfast, "CHUNK", 4096)
    rng = random.Random(3)
    records = [rec(None if i % 97 == 5 else f"llava/llava_pretrain/images/{i // 1000:05d}/{i:09d}.jpg",
                   value=" ".join(rng.choice(["a", "b\nc", "d\"e", "ü"]) for _ in range(rng.randrange(300))))
               for i in range(2000)]
    path = tmp_path / "pt.json"
    path.write_bytes(json.dumps(records).encode())
    fast, watch = compare(path, monkeypatch)
    assert watch.answered
    assert fast == ("values", [r.get("image") for r in records])
