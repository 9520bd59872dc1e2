"""``python -m bench``: run the benchmark suite and print one table (and write JSON).

Every figure is printed next to its baseline measured in the same run, so a noisy machine still
gives an honest ratio. Each benchmark is bounded in time and in requests and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path

from .harness import REPO_ROOT, Lab, Row, format_table, raise_fd_limit, timed
from .teacher_figures import (Size, fanout, full_stack_rss, list_throughput, list_with_foreign_keys,
                              view_on_teacher)

# name -> coroutine function (lab, size) -> list[Row]; run in this order
FIGURES = {
    "fanout": fanout,
    "rss-full-stack": full_stack_rss,
    "throughput": list_throughput,
    "foreign-keys": list_with_foreign_keys,
    "view-teacher": view_on_teacher,
}


def load_more_figures() -> None:
    """The student-side and dashboard figures, any ``bench/relay_*.py`` module's ``FIGURES`` (the
    relay's), the hub path, then RTC side by side and 10,000 students."""
    import importlib

    from . import (dashboard_figures, hub_fanout, instep_figures, rtc_figures, scale, student_cost,
                   student_figures, talkback_figures)

    FIGURES.update(student_figures.FIGURES)
    FIGURES.update(student_cost.FIGURES)
    FIGURES.update(dashboard_figures.FIGURES)
    FIGURES.update(instep_figures.FIGURES)  # merge, pull-all, the lesson notebook (issue 23)
    FIGURES.update(talkback_figures.FIGURES)  # issue 22: hands in the queue, run counts
    for module_file in sorted(Path(__file__).parent.glob("relay_*.py")):
        module = importlib.import_module(f"{__package__}.{module_file.stem}")
        FIGURES.update(getattr(module, "FIGURES", {}))
    FIGURES.update(hub_fanout.FIGURES)  # "hub-path": its own hub and Redis, started and stopped here
    # the largest last: their tens of thousands of loopback sockets linger in TIME_WAIT a while
    FIGURES.update(rtc_figures.FIGURES)
    FIGURES.update(scale.FIGURES)


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


async def run(names: list[str], size: Size, keep: bool,
              teacher_options: list[str] | None = None) -> tuple[list[Row], dict]:
    raise_fd_limit(4 * size.streams + 1024)
    lab = Lab(keep=keep, teacher_options=teacher_options)
    rows: list[Row] = []
    timings = {}
    await asyncio.to_thread(lab.start)
    try:
        for name in names:
            started = time.perf_counter()
            try:
                with timed(name):
                    rows += await FIGURES[name](lab, size)
            except Exception as exc:  # one broken figure must not hide the others
                traceback.print_exc()
                rows.append(Row(name, f"FAILED: {type(exc).__name__}: {exc}"[:200], met=False))
            timings[name] = time.perf_counter() - started
    finally:
        await asyncio.to_thread(lab.close)
    return rows, timings


def main(argv: list[str] | None = None) -> int:
    load_more_figures()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for development (N=100 streams, 3 students)")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(FIGURES)}")
    parser.add_argument("--skip", default="", help="comma-separated figures to leave out (e.g. rtc,students-10k)")
    parser.add_argument("--rtc-peers", help="RTC side by side: comma-separated peer counts (default 300,1000)")
    parser.add_argument("--scale-streams", type=int, help="students-10k: streams over the replicas (default 10000)")
    parser.add_argument("--scale-replicas", type=int, help="students-10k: relay replicas behind the proxy (default 4)")
    parser.add_argument("--idle-seconds", type=float, help="student-cost: the idle window (default 60)")
    parser.add_argument("--streams", type=int, help="open event streams for the fan-out figure (default 1000)")
    parser.add_argument("--rounds", type=int, help="publishes in the fan-out figure (default 40; more shows rarer tails)")
    parser.add_argument("--students", type=int, help="student servers for the relay figure (default 30)")
    parser.add_argument("--json", default=str(REPO_ROOT / "bench" / "results" / "latest.json"),
                        help="where to write the results (default bench/results/latest.json)")
    parser.add_argument("--keep", action="store_true", help="keep the servers' folders and logs")
    parser.add_argument("--teacher-option", action="append", default=[], metavar="--CodeStreamApp.NAME=VALUE",
                        help="a Jupyter option for the teacher servers (repeatable), e.g."
                             " --teacher-option=--CodeStreamApp.freeze_startup_objects=True")
    args = parser.parse_args(argv)
    size = Size.quick() if args.quick else Size()
    if args.rtc_peers:
        args.rtc_peers = tuple(int(x) for x in args.rtc_peers.split(",") if x.strip())
    for option, field in (("streams", "streams"), ("students", "students"), ("rounds", "fanout_rounds"),
                          ("rtc_peers", "rtc_peers"), ("scale_streams", "scale_streams"),
                          ("scale_replicas", "scale_replicas"), ("idle_seconds", "idle_seconds")):
        if getattr(args, option):
            setattr(size, field, getattr(args, option))
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(FIGURES)
    skipped = {n.strip() for n in args.skip.split(",") if n.strip()}
    unknown = [n for n in [*names, *skipped] if n not in FIGURES]
    names = [n for n in names if n not in skipped]
    if unknown:
        parser.error(f"unknown figure(s) {unknown}; choose from {list(FIGURES)}")

    load_before = load_average()
    started = time.perf_counter()
    rows, timings = asyncio.run(run(names, size, args.keep, args.teacher_option))
    elapsed = time.perf_counter() - started
    load_after = load_average()

    table = format_table(rows)
    print(table)
    print(f"\n{len(rows)} figures in {elapsed:.0f} s on {os.cpu_count()} cores; "
          f"load average before {load_before}, after {load_after}; python {platform.python_version()}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "when": time.strftime("%Y-%m-%d %H:%M:%S"), "seconds": elapsed, "cpus": os.cpu_count(),
        "load_before": load_before, "load_after": load_after, "size": vars(size),
        "timings": timings, "rows": [r.as_dict() for r in rows], "table": table,
    }, indent=2))
    print(f"results written to {out}", file=sys.stderr)
    return 0 if all(r.met is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
