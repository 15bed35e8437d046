"""`shield rules check|test|schema`: validate a rule folder, run its test cases, print the JSON Schema.

    shield rules check [DIR]    exit 0 and a summary line, or 1 and every error as path:line:col: message
    shield rules test [DIR]     run DIR/tests/*.yaml; PASS/FAIL per case, exit 1 on any failure
    shield rules schema         JSON Schema (draft 2020-12) of the rule files, for editors

DIR defaults to the bundled pack (rules/). Named lists are read from DIR/lists/.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from shield.enrich.lists import load_lists
from shield.rules.load import load_rules
from shield.rules.ruletest import describe, load_cases, run_case
from shield.rules.schema import rule_file_schema
from shield.rules.score import RuleSet
from shield.rules.source import RuleErrors
from shield.settings import BUNDLED_RULES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="rules_command", required=True)
    for name, text in (("check", "validate every rule file"), ("test", "run the rule test cases")):
        p = sub.add_parser(name, help=text)
        p.add_argument("dir", nargs="?", type=Path, default=BUNDLED_RULES, help="rule folder (default: bundled pack)")
        p.add_argument("--routes", help="comma-separated configured route names, to check rules' routes: against")
    test = sub.choices["test"]
    test.add_argument("-q", "--quiet", action="store_true", help="print failures and the summary only")
    sub.add_parser("schema", help="print the JSON Schema of rule files")


def _load(folder: Path, routes: str | None, err: TextIO) -> RuleSet | None:
    try:
        lists = load_lists(folder / "lists") if (folder / "lists").is_dir() else {}
        return load_rules(folder, lists=lists, routes=routes.split(",") if routes else None)
    except RuleErrors as e:
        for error in e.errors:
            err.write(f"{error}\n")
        err.write(f"{len(e.errors)} error{'s' if len(e.errors) != 1 else ''}\n")
    except ValueError as e:  # bad list files: the lists loader names each file:line
        err.write(f"{e}\n")
    return None


def check(folder: Path, routes: str | None, out: TextIO, err: TextIO) -> int:
    ruleset = _load(folder, routes, err)
    if ruleset is None:
        return 1
    shadow = sum(1 for r in ruleset.rules if r.shadow)
    out.write(f"ok: {len(ruleset)} rules ({shadow} shadow), {len(ruleset.lists)} lists, rule set {ruleset.hash}\n")
    return 0


def test(folder: Path, routes: str | None, quiet: bool, out: TextIO, err: TextIO) -> int:
    ruleset = _load(folder, routes, err)
    if ruleset is None:
        return 1
    try:
        cases = load_cases(folder / "tests")
    except RuleErrors as e:
        err.write("".join(f"{error}\n" for error in e.errors))
        return 1
    failed = 0
    for case in cases:
        result = run_case(ruleset, case)
        failed += not result.passed
        if not (quiet and result.passed):
            out.write(describe(result) + "\n")
    out.write(f"{len(cases) - failed} passed, {failed} failed ({len(cases)} cases, rule set {ruleset.hash})\n")
    return 1 if failed or not cases else 0


def _shown(folder: Path) -> Path:
    """Paths in messages relative to the working directory when inside it: rules/geo.yaml:14:9."""
    try:
        return folder.resolve().relative_to(Path.cwd())
    except ValueError:
        return folder


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr  # looked up per call: tests and callers swap them
    if args.rules_command == "schema":
        out.write(json.dumps(rule_file_schema(), indent=2) + "\n")
        return 0
    if args.rules_command == "check":
        return check(_shown(args.dir), args.routes, out, err)
    return test(_shown(args.dir), args.routes, args.quiet, out, err)
