"""Command line: ``python -m runners summarize --tool TOOL FILE``.

Reads a finished output file of TOOL (k6's NDJSON, JMeter's CSV JTL,
Gatling's simulation.log, our perfmon stream for Locust, Artillery and
custom) and prints the
Result as one JSON object on stdout. Memory stays flat with file size (the
file is streamed). Exit 0 on success, 2 with a one-line message on stderr
for a bad invocation, unknown tool, missing file or unreadable content.
"""

from __future__ import annotations

import argparse
import json
import sys

from runners.adapters import TOOLS, get_adapter
from runners.errors import RunnerError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runners",
                                     description="perfmon runners utilities")
    sub = parser.add_subparsers(dest="command", required=True)
    summarize = sub.add_parser("summarize", help="read a finished tool output file, print its "
                                                  "Result as one JSON object")
    summarize.add_argument("--tool", required=True, choices=TOOLS)
    summarize.add_argument("--apdex-t", type=float, default=500.0, metavar="MS",
                           help="Apdex T in milliseconds (default 500)")
    summarize.add_argument("--interval", type=float, default=1.0, metavar="S",
                           help="series interval in seconds (default 1)")
    summarize.add_argument("--series", action="store_true",
                           help="include the per-interval series")
    summarize.add_argument("--no-histogram", action="store_true",
                           help="leave out the encoded histograms")
    summarize.add_argument("file")
    return parser


def summarize(tool: str, path: str, *, apdex_t_ms: float = 500.0, interval_s: float = 1.0,
              series: bool = False, histogram: bool = True) -> dict:
    """Return the Result dict of ``path`` read as ``tool`` output.

    Raises RunnerError (ParseError, UnknownTool) or OSError for a missing file.
    """
    adapter = get_adapter(tool)
    with open(path, "rb"):  # a missing file is an error here, unlike while a tool starts
        pass
    reader = adapter.file_reader(path, interval_s=interval_s, apdex_t_ms=apdex_t_ms)
    data = reader.finish().to_dict()
    if not series:
        data.pop("series")
    if not histogram:
        data.pop("histogram")
        for point in data.get("series", ()):
            point.pop("histogram")
    return data


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        data = summarize(args.tool, args.file, apdex_t_ms=args.apdex_t, interval_s=args.interval,
                         series=args.series, histogram=not args.no_histogram)
    except (RunnerError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    json.dump(data, sys.stdout, separators=(", ", ": "))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
