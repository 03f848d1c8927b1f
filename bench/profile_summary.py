"""Summarise py-spy's collapsed stacks (``--format raw``): self time and inclusive time per function."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


def main(path: str, top: int = 30) -> None:
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in Path(path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    print(f"{total} samples")
    print("-- self --")
    for f, n in own.most_common(top):
        print(f"{100 * n / total:5.1f}% {f}")
    print("-- inclusive --")
    for f, n in incl.most_common(top):
        print(f"{100 * n / total:5.1f}% {f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 30)
