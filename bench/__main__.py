"""``python -m bench [names...] [--quick] [--repeat N]``: run benchmarks, print ratios.

Exit status: 0 when every benchmark ran and met its goal, 1 when one missed its goal,
2 when one could not run.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from types import ModuleType

from .core import BenchmarkUnavailable, Result, format_result, format_summary

# name -> module.  A benchmark module defines DESCRIPTION, run(args) -> Result and,
# optionally, add_arguments(parser) for its own options.  Keep module imports light:
# all of them are imported to build the command line.
BENCHMARKS: dict[str, str] = {
    "startup": "bench.startup",
    "poll": "bench.poll",
    "allocate": "bench.allocate",
    "records": "bench.records",
    "stall": "bench.stall",
    "rates": "bench.rates",
    "exchange": "bench.exchange",
}


def _module(name: str) -> ModuleType:
    return importlib.import_module(BENCHMARKS[name])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="WBO Console benchmarks: each one a ratio against a baseline "
        "measured in the same run.",
    )
    parser.add_argument("names", nargs="*", metavar="name", help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and less data: a smoke check, not a verdict")
    parser.add_argument("--repeat", type=int, metavar="N", help="repetitions per measured figure (default per benchmark)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    for name in BENCHMARKS:
        add_arguments = getattr(_module(name), "add_arguments", None)
        if add_arguments is not None:
            add_arguments(parser.add_argument_group(f"{name} options"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list:
        for name in BENCHMARKS:
            print(f"{name:<12} {_module(name).DESCRIPTION}")
        return 0
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    if args.repeat is not None and args.repeat < 1:
        print("--repeat must be at least 1", file=sys.stderr)
        return 2
    outcomes: dict[str, Result | str] = {}
    for name in args.names or list(BENCHMARKS):
        print(f"-- running {name}…", flush=True)
        try:
            result = _module(name).run(args)
        except BenchmarkUnavailable as exc:
            outcomes[name] = "NOT RUN"
            print(f"== {name}: NOT RUN: {exc}\n", flush=True)
            continue
        except Exception:  # noqa: BLE001 - report and go on with the other benchmarks
            outcomes[name] = "ERROR"
            print(f"== {name}: ERROR", flush=True)
            traceback.print_exc(file=sys.stdout)
            print()
            continue
        outcomes[name] = result
        print(format_result(result) + "\n", flush=True)
    print(format_summary(outcomes))
    if any(isinstance(o, str) for o in outcomes.values()):
        return 2
    return 0 if all(o.met for o in outcomes.values() if isinstance(o, Result)) else 1


if __name__ == "__main__":
    sys.exit(main())
