"""Body extraction over a folder of real mail: how many parsed, how many raised (must be 0), and
the time per message; then the same for the new text (`quotes.new_text` on that body), which
processing derives next.

    .venv/bin/python bench/parse_corpus.py [FOLDER] [--repeat 20] [--show]

FOLDER defaults to the repo's tests/data/parse; every file under it is read as one message. Each
message is timed --repeat times and its best time kept, so the figures measure extract_body and
new_text and not a busy machine. --show prints, per file, the text length, attachments and the
text's start.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
import traceback
from pathlib import Path

from mailhub.body import extract_body  # noqa: E402
from mailhub.quotes import new_text  # noqa: E402

SKIP_NAMES = {"LICENSE", "COPYING", "README.md", "NOTICE"}


def messages(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in SKIP_NAMES)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", nargs="?", default=str(Path(__file__).resolve().parent.parent / "tests" / "data" / "parse"))
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--show", action="store_true")
    args = ap.parse_args()

    files = messages(Path(args.folder))
    if not files:
        print(f"no files under {args.folder}")
        return 1
    times: list[tuple[float, Path]] = []
    quote_times: list[tuple[float, Path]] = []
    raised = 0
    for path in files:
        raw = path.read_bytes()
        best = float("inf")
        try:
            for _ in range(max(1, args.repeat)):
                start = time.perf_counter()
                text, attachments = extract_body(raw)
                best = min(best, time.perf_counter() - start)
        except Exception:  # noqa: BLE001 - counting these is the point
            raised += 1
            print(f"RAISED {path}", file=sys.stderr)
            traceback.print_exc()
            continue
        times.append((best, path))
        best = float("inf")
        try:
            for _ in range(max(1, args.repeat)):
                start = time.perf_counter()
                new_text(text)
                best = min(best, time.perf_counter() - start)
        except Exception:  # noqa: BLE001 - counting these is the point
            raised += 1
            print(f"RAISED in new_text {path}", file=sys.stderr)
            traceback.print_exc()
            continue
        quote_times.append((best, path))
        if args.show:
            names = ", ".join(f"{a.filename or '-'} ({a.content_type}, {a.size} B)" for a in attachments)
            head = text[:70].replace("\n", " | ")
            print(f"{path.relative_to(args.folder)}: {len(text)} chars; [{names}]; {head!r}")

    print(f"folder: {args.folder}")
    print(f"messages: {len(files)}  parsed: {len(times)}  raised: {raised}")
    _summary("extract_body", times, args.repeat)
    _summary("new_text", quote_times, args.repeat)
    quoted = {path: t for t, path in quote_times}
    _summary("both", [(t + quoted[path], path) for t, path in times if path in quoted], args.repeat)
    return 1 if raised else 0


def _summary(label: str, times: list[tuple[float, Path]], repeat: int) -> None:
    ms = sorted(t * 1000 for t, _ in times)
    if not ms:
        return
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    slowest = max(times)
    print(f"{label}, time per message (best of {repeat}): mean {statistics.fmean(ms):.3f} ms, "
          f"median {statistics.median(ms):.3f} ms, p99 {p99:.3f} ms, "
          f"max {slowest[0] * 1000:.3f} ms ({slowest[1].name}, {slowest[1].stat().st_size} B)")


if __name__ == "__main__":
    sys.exit(main())
