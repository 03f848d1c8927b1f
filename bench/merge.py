"""How long the three-way merge of an outside revision takes on large pages (it runs on the event loop).

    .venv/bin/python -m bench.merge            # prints a markdown table

Pages: the shipped United Kingdom article (328 KB) and a 1 MB page made of the shipped articles (as the
`save` workload of bench/run.py). Cases, each on a copy of the page with unsaved session edits:

* leave-and-save: the outside revision is the live text plus one line (someone left collaborative mode and
  saved the textarea);
* top and bottom: the session edits the first paragraph, the revision the last one (nothing to strip);
* scattered: 50 edits on each side, all over the page;
* rewrite: the revision rewrites a fifth of the page in the middle.

Columns: ``collab.diff3.three_way`` (diff-match-patch, both alignments), the same merge on difflib's
SequenceMatcher, merge3's line merge (difflib), and the whole ``merge_outside`` (merge, minimal diff into
the CRDT, new base). merge3 is only measured when installed (`pip install merge3`; GPL, not a dependency).
"""

from __future__ import annotations

import difflib
import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from collab import diff3, merge
from collab.room import Base, PageRoom, seed_update
from collab.wiki import Revision

from .run import wikitext_of_size

Case = tuple[str, str, str]  # base, ours, theirs


def _edits(text: str, rnd: random.Random, count: int, lo: int = 0, hi: int | None = None) -> str:
    hi = len(text) if hi is None else hi
    for _ in range(count):
        at = rnd.randrange(lo, hi)
        if rnd.random() < 0.6:
            text = text[:at] + f" edit {rnd.randrange(1000)} " + text[at:]
        else:
            text = text[:at] + text[at + rnd.randint(1, 30) :]
    return text


def cases(text: str) -> dict[str, Case]:
    rnd = random.Random(13)
    n = len(text)
    ours = _edits(text, rnd, 5)
    middle = ours.find("\n", len(ours) // 2) + 1
    leave = ours[:middle] + "A line saved from the textarea.\n" + ours[middle:]
    top = _edits(text, rnd, 3, 0, 2000)
    bottom = _edits(text, rnd, 3, n - 2000, n)
    rewrite = text[: 2 * n // 5] + text[2 * n // 5 : 3 * n // 5][::-1] + text[3 * n // 5 :]
    return {
        "leave-and-save": (text, ours, leave),
        "top and bottom": (text, top, bottom),
        "scattered": (text, _edits(text, rnd, 50), _edits(text, rnd, 50)),
        "rewrite": (text, ours, rewrite),
    }


def _difflib_diff(a: str, b: str, budget: object) -> list[tuple[str, int]]:
    ops: list[tuple[str, int]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            ops.append(("=", i2 - i1))
            continue
        if i2 > i1:
            ops.append(("-", i2 - i1))
        if j2 > j1:
            ops.append(("+", j2 - j1))
    return ops


@contextmanager
def _on_difflib() -> Iterator[None]:
    original = diff3._diff
    diff3._diff = _difflib_diff  # type: ignore[assignment]
    try:
        yield
    finally:
        diff3._diff = original


def _best_ms(run: Callable[[], object], reps: int = 3) -> float:
    best = float("inf")
    for _ in range(reps):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best * 1000


def _merge3(base: str, ours: str, theirs: str) -> object:
    import merge3  # type: ignore[import-not-found]

    m = merge3.Merge3(base.splitlines(True), ours.splitlines(True), theirs.splitlines(True))
    return list(m.merge_regions())


def _merge_outside(base: str, ours: str, theirs: str) -> Callable[[], object]:
    def run() -> object:
        room = PageRoom("Bench", Base(1, base, seed_update("Bench", 1, base)))
        room.replace_text(ours, merge.WikiOrigin(None))

        class Registry:
            def set_base(self, room: PageRoom, base: Base) -> None:
                room.base = base

        started = time.perf_counter()
        merge.merge_outside(Registry(), room, Revision(2, theirs, "2026-01-01T00:00:00Z", "Outsider"))  # type: ignore[arg-type]
        return time.perf_counter() - started

    return run


def main() -> None:
    try:
        import merge3  # type: ignore[import-not-found]  # noqa: F401

        have_merge3 = True
    except ImportError:
        have_merge3 = False
    with tempfile.TemporaryDirectory() as tmp:
        pages = {
            "328 KB": (Path(__file__).parent / "data" / "wikitext" / "United-Kingdom.wikitext.gz"),
            "1 MB": wikitext_of_size(1_000_000, Path(tmp) / "page.wikitext"),
        }
        texts = {}
        for label, path in pages.items():
            if path.suffix == ".gz":
                import gzip

                texts[label] = gzip.decompress(path.read_bytes()).decode()
            else:
                texts[label] = path.read_text()
    print("| page | case | three_way (dmp) | three_way (difflib) | merge3 (difflib lines) | merge_outside |")
    print("|---|---|---|---|---|---|")
    for label, text in texts.items():
        for name, (base, ours, theirs) in cases(text).items():
            dmp_ms = _best_ms(lambda b=base, o=ours, t=theirs: diff3.three_way(b, o, t))
            with _on_difflib():
                difflib_ms = _best_ms(lambda b=base, o=ours, t=theirs: diff3.three_way(b, o, t), reps=1)
            m3 = f"{_best_ms(lambda b=base, o=ours, t=theirs: _merge3(b, o, t), reps=1):.0f} ms" if have_merge3 else "-"
            run = _merge_outside(base, ours, theirs)
            whole = min(float(run()) for _ in range(3)) * 1000  # type: ignore[arg-type]
            print(f"| {label} | {name} | {dmp_ms:.1f} ms | {difflib_ms:.0f} ms | {m3} | {whole:.1f} ms |")


if __name__ == "__main__":
    main()
