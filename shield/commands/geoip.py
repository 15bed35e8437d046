"""`shield geoip build CSV OUT.mmdb`: make a MaxMind DB for tests, demos or private ranges.

    shield geoip build shield/sim/data/demo.csv shield/sim/data/demo.mmdb

CSV columns: network,country,continent,latitude,longitude,accuracy_radius,asn,asn_org,note
(an empty cell omits the field; note is ignored). Bad lines are reported with their line
numbers and exit status 2; nothing is written then. OUT is replaced atomically, so a
running shield picks it up live.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Fill the `geoip` parser (cli.py calls this on its subparser)."""
    sub = parser.add_subparsers(dest="geoip_command", required=True)
    build = sub.add_parser("build", help="build an .mmdb (GeoIP2 City + ASN schema) from a CSV")
    build.add_argument("csv", type=Path, help="input CSV (see shield/sim/data/demo.csv)")
    build.add_argument("out", type=Path, help="output .mmdb, replaced atomically")


def run(args: argparse.Namespace, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Execute a parsed `geoip` command; 0 on success, 2 on bad input."""
    try:  # the writer is the geoip-build extra: the proxy itself never writes a database
        from shield.facts.enrich.geoip_build import CsvError, build_from_csv
    except ImportError as exc:
        err.write(f"shield geoip build: needs the geoip-build extra (pip install 'shield[geoip-build]'): {exc}\n")
        return 2
    try:
        count = build_from_csv(args.csv, args.out)
    except CsvError as exc:
        for problem in exc.problems:
            err.write(f"shield geoip build: {problem}\n")
        return 2
    except OSError as exc:
        err.write(f"shield geoip build: cannot write {args.out}: {exc.strerror or exc}\n")
        return 2
    out.write(f"wrote {args.out}: {count} networks\n")
    return 0


def main(argv: Sequence[str] | None = None, *, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    parser = argparse.ArgumentParser(prog="shield geoip", description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_arguments(parser)
    return run(parser.parse_args(argv), out=out, err=err)


if __name__ == "__main__":
    sys.exit(main())
