"""The two-process reader (wizard.engine.jsonscan) against one ijson pass over the whole file: on
generated JSONs with hostile content — escapes, \\/ and \\u, non-ASCII, "image" inside strings and
nested elsewhere, duplicate keys, odd whitespace, "}, {" inside strings — and on broken ones,
verify's reader gives exactly the single pass's values or its error, and the split is really used."""

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


class Split:
    """Makes every file take the two-process read and notes whether it worked out."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.used = self.fell_back = 0
        real = jsonscan.iter_split

        def watched(*args: Any, **kwargs: Any) -> Iterator[str | None]:
            self.used += 1
            try:
                yield from real(*args, **kwargs)
            except jsonscan.Fallback:
                self.fell_back += 1
                raise

        monkeypatch.setattr(annotations_mod.jsonscan, "can_split", lambda _size: True)
        monkeypatch.setattr(annotations_mod.jsonscan, "iter_split", watched)


def both(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[tuple[str, Any], tuple[str, Any], Split]:
    """(the split read's outcome, one ijson pass's outcome, what the split did)."""
    with monkeypatch.context() as patch:
        patch.setattr(annotations_mod.jsonscan, "can_split", lambda _size: False)
        reference = outcome(path)
    with monkeypatch.context() as patch:
        split = Split(patch)
        fast = outcome(path)
    return fast, reference, split


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
    fast, reference, _ = both(path, monkeypatch)
    assert fast == reference
    assert reference[0] == "values"
    path.write_bytes(broken(rng, data))
    fast, reference, _ = both(path, monkeypatch)
    assert fast == reference


def test_most_valid_files_are_really_read_in_two_halves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison above is only worth something if the split read answers most files."""
    worked = 0
    for seed in SEEDS:
        _, data = generated(seed)
        path = tmp_path / "a.json"
        path.write_bytes(data)
        fast, reference, split = both(path, monkeypatch)
        assert fast == reference
        worked += split.used - split.fell_back
    assert worked >= len(SEEDS) // 3  # the others: a "}, {" ending a string, or no cut past the middle


@pytest.mark.parametrize("trap", [False, True])
def test_a_cut_inside_a_string_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trap: bool) -> None:
    """With ``trap`` every caption ends with ``}, {`` so the first cut candidate past the middle
    lies inside a string: the halves do not parse and the file is read in one pass."""
    rng = random.Random(5)
    caption = "a}, {" if trap else "plain text"
    records = [{"id": str(i), "image": f"sam/images/sa_{i}.jpg",
                "conversations": [{"from": "gpt", "value": hostile_text(rng, 20) + caption}]}
               for i in range(3000)]
    path = tmp_path / "big.json"
    path.write_bytes(json.dumps(records).encode())
    fast, reference, split = both(path, monkeypatch)
    assert fast == reference == ("values", [r["image"] for r in records])
    assert (split.used, split.fell_back) == (1, 1 if trap else 0)


def test_a_broken_second_half_gives_the_one_pass_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = [{"id": str(i), "image": f"coco/{i}.jpg", "conversations": []} for i in range(4000)]
    data = json.dumps(records).encode()
    path = tmp_path / "cut.json"
    path.write_bytes(data[: len(data) * 3 // 4])
    fast, reference, split = both(path, monkeypatch)
    assert fast == reference and fast[0] == "error" and "truncated" in fast[1]
    assert (split.used, split.fell_back) == (1, 1)
