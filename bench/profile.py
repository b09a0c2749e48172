"""``python -m bench.profile <collapsed.txt> [--under FRAME] [--top N]``: where a py-spy recording went.

Reads the raw (collapsed) stacks ``python -m bench --profile`` writes and prints each function's share
of all samples, inclusive (the function and everything it called) and self (the function's own
frames). ``--under`` restricts the view to the callees directly below the first frame whose name
contains the given text, which is how the tables in docs/benchmarks.md were made.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

_LINE_NUMBER = re.compile(r":\d+\)$")


def _stacks(path: Path) -> Iterator[tuple[list[str], int]]:
    """(frames outermost first, with line numbers dropped so one function is one key; sample count)."""
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield [_LINE_NUMBER.sub(")", frame) for frame in stack.split(";")], int(count)


def shares(path: Path) -> tuple[int, Counter[str], Counter[str]]:
    """Total samples, inclusive samples per function, self samples per function."""
    total, inclusive, own = 0, Counter[str](), Counter[str]()
    for frames, count in _stacks(path):
        total += count
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    return total, inclusive, own


def callees(path: Path, frame_text: str) -> tuple[int, Counter[str]]:
    """Samples below the first frame containing ``frame_text``, by the callee right under it."""
    total, below = 0, Counter[str]()
    for frames, count in _stacks(path):
        total += count
        for depth, frame in enumerate(frames):
            if frame_text in frame:
                below[frames[depth + 1] if depth + 1 < len(frames) else "<self>"] += count
                break
    return total, below


def _print(title: str, counts: Counter[str], total: int, top: int) -> None:
    print(f"--- {title}")
    for name, count in counts.most_common(top):
        print(f"{100 * count / total:5.1f}%  {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("recording", type=Path, help="a *-profile.txt written by `python -m bench --profile`")
    parser.add_argument("--under", help="show the callees directly below the first frame containing this text")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    if args.under:
        total, below = callees(args.recording, args.under)
        _print(f"below {args.under!r} ({total} samples)", below, total, args.top)
        return 0
    total, inclusive, own = shares(args.recording)
    _print(f"inclusive ({total} samples)", inclusive, total, args.top)
    _print("self", own, total, args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
