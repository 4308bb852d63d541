"""Start-up benchmark: how long `mailhub --version`, `mailhub --help` and `mailhub group list` take
as the shell runs them (a new process each time), beside the interpreter's own start
(`python -c pass`) measured in the same run, so a busy machine shows as a slower baseline.

Each command runs once to warm the caches (the first `group list` also creates the schema of a
fresh SQLite database), then `--runs` times; prints the median and the min-max of the wall-clock
time in ms, and the median CPU time (user + system) of the process, which other load on the
machine disturbs less. One more line, `import mailhub.db`, is the floor under any command that
opens the database: SQLAlchemy, SQLModel and the table classes, imported by a bare interpreter
that then exits the way mailhub does (after gc.freeze(), see mailhub/cli/main.py).

    .venv/bin/python bench/cli_startup.py [--runs 10]
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DOMAIN, MAILHUB, machine


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU time of one run, in ms."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    errors = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)  # wait() without the child's CPU time
    wall = (time.perf_counter() - start) * 1000
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {errors.decode().strip()}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="timed runs of each command")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mailhub-bench-"))
    try:
        config = folder / "config.toml"
        config.write_text(f'[server]\ndomain = "{DOMAIN}"\n\n[database]\nurl = "sqlite:///{folder / "mailhub.db"}"\n'
                          f'\n[relay]\nmaildir = "{folder / "outbox"}"\n')
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "mailhub --version": [MAILHUB, "--version"],
            "mailhub --help": [MAILHUB, "--help"],
            "mailhub group list": [MAILHUB, "group", "list", "--config", str(config)],
            "import mailhub.db": [sys.executable, "-c", "import gc, mailhub.db; gc.freeze()"],
        }
        for argv in commands.values():
            timed(argv)  # warm-up: file caches, __pycache__, the new database's schema
        walls: dict[str, list[float]] = {name: [] for name in commands}
        cpus: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):  # interleaved, so a burst of load hits every command alike
            for name, argv in commands.items():
                wall, cpu = timed(argv)
                walls[name].append(wall)
                cpus[name].append(cpu)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}; {args.runs} runs each; ms")
    print(f"{'':20} {'wall: median (min-max)':>24} {'cpu':>6}   wall over the interpreter's start")
    baseline = statistics.median(walls["python -c pass"])
    for name in commands:
        median = statistics.median(walls[name])
        spread = f"{median:.0f} ({min(walls[name]):.0f}-{max(walls[name]):.0f})"
        extra = "" if name == "python -c pass" else f"   {median - baseline:+.0f}"
        print(f"{name:20} {spread:>24} {statistics.median(cpus[name]):6.0f}{extra}")


if __name__ == "__main__":
    main()
