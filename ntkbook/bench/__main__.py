"""``python -m ntkbook.bench SUITE [--quick] [--out DIR] [--no-record]``"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import SUITES, device_info, format_table, write_record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ntkbook.bench", description=__doc__)
    parser.add_argument("suite", choices=sorted(SUITES), help="which suite to run")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run; not for reporting)")
    parser.add_argument("--out", default="benchmarks/results", help="directory for the JSON record")
    parser.add_argument("--no-record", action="store_true", help="print the table only")
    args = parser.parse_args(argv)
    suite = importlib.import_module(SUITES[args.suite])
    info = device_info()
    print(f"suite {args.suite} on {info['device_kind']} ({info['platform']}, {info['device_count']} device(s))",
          flush=True)
    rows = suite.run(quick=args.quick)
    print(format_table(rows))
    if not args.no_record:
        print(f"recorded in {write_record(args.suite, rows, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
