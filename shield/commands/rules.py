"""`shield rules check|test|schema`: validate a rule folder, run its test cases, print the JSON Schemas.

    shield rules check [DIR] [--config FILE]   exit 0 and a summary line, or 1 and every error as path:line:col: message
    shield rules test [DIR] [--config FILE]    run DIR/tests/*.yaml; PASS/FAIL per case, exit 1 on any failure
    shield rules test --coverage [--strict]    also list the rules no case matches; --strict: exit 1 on any
    shield rules schema [--tests]              JSON Schema (draft 2020-12) of the rule files (or of rule test files)

DIR defaults to the config's `rules:` with --config, else the bundled pack (shield/rules/bundled/). Named lists
are read from DIR/lists/. With --config, facts are checked against its `windows:` and rules'
`routes:` against its routes, as `shield run` does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from shield.decision.ruletest import describe, load_cases, run_case, untested
from shield.model import DEFAULT_WINDOWS, Window
from shield.rules.pack import load_pack
from shield.rules.ruletest_schema import rule_test_schema
from shield.rules.schema import rule_file_schema
from shield.rules.score import RuleSet
from shield.rules.source import RuleErrors
from shield.settings.load import SettingsError, load_settings
from shield.settings.schema import BUNDLED_RULES, ChallengeSettings


@dataclass(slots=True, frozen=True)
class Target:
    """What to check the rules against: the folder, counter windows, routes and challenge credits."""

    folder: Path
    windows: Sequence[Window] = DEFAULT_WINDOWS
    routes: Sequence[str] | None = None
    challenge: ChallengeSettings = field(default_factory=ChallengeSettings)
    extra_lists: tuple[Path, ...] = ()  # the config's, loaded after DIR/lists/ as `shield run` does


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="rules_command", required=True)
    for name, text in (("check", "validate every rule file"), ("test", "run the rule test cases")):
        p = sub.add_parser(name, help=text)
        p.add_argument("dir", nargs="?", type=Path, help="rule folder (default: the config's, else the bundled pack)")
        p.add_argument("--routes", help="comma-separated configured route names, to check rules' routes: against")
        p.add_argument("--config", "-c", type=Path, help="shield.yaml: its windows, routes and rules folder")
    test = sub.choices["test"]
    test.add_argument("-q", "--quiet", action="store_true", help="print failures and the summary only")
    test.add_argument("--coverage", action="store_true", help="list the rules that no test case matches")
    test.add_argument("--strict", action="store_true", help="with --coverage: exit 1 when a rule is untested")
    schema = sub.add_parser("schema", help="print the JSON Schema of rule files")
    schema.add_argument("--tests", action="store_true", help="the schema of rule test files (rules/tests/*.yaml)")


def _target(args: argparse.Namespace, err: TextIO) -> Target | None:
    routes = args.routes.split(",") if args.routes else None
    if args.config is None:
        return Target(_shown(args.dir or BUNDLED_RULES), routes=routes)
    try:
        settings = load_settings(args.config, env=os.environ)
    except SettingsError as exc:
        err.write("".join(f"{problem}\n" for problem in exc.problems))
        return None
    return Target(_shown(args.dir or settings.rules), settings.windows,
                  routes or [r.name for r in settings.routes], settings.challenge, tuple(settings.extra_lists))


def _load(t: Target, err: TextIO) -> RuleSet | None:
    try:
        return load_pack(t.folder, extra_lists=t.extra_lists, windows=t.windows, routes=t.routes).rules
    except RuleErrors as e:
        for error in e.errors:
            err.write(f"{error}\n")
        err.write(f"{len(e.errors)} error{'s' if len(e.errors) != 1 else ''}\n")
    except ValueError as e:  # bad list files: the lists loader names each file:line
        err.write(f"{e}\n")
    return None


def check(t: Target, out: TextIO, err: TextIO) -> int:
    ruleset = _load(t, err)
    if ruleset is None:
        return 1
    shadow = sum(1 for r in ruleset.rules if r.shadow)
    out.write(f"ok: {len(ruleset)} rules ({shadow} shadow), {len(ruleset.lists)} lists, rule set {ruleset.hash}\n")
    return 0


def test(t: Target, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    ruleset = _load(t, err)
    if ruleset is None:
        return 1
    try:
        cases = load_cases(t.folder / "tests", t.windows)
    except RuleErrors as e:
        err.write("".join(f"{error}\n" for error in e.errors))
        return 1
    failed = 0
    results = [run_case(ruleset, case, challenge=t.challenge) for case in cases]
    for result in results:
        failed += not result.passed
        if not (args.quiet and result.passed):
            out.write(describe(result) + "\n")
    out.write(f"{len(cases) - failed} passed, {failed} failed ({len(cases)} cases, rule set {ruleset.hash})\n")
    status = 1 if failed or not cases else 0
    if args.coverage or args.strict:
        missing = untested(ruleset, results)
        out.write(f"coverage: {len(ruleset) - len(missing)} of {len(ruleset)} rules matched by a case\n")
        out.writelines(f"untested: {r.id} ({r.path}:{r.line})\n" for r in missing)
        if missing and args.strict:
            status = 1
    return status


def _shown(folder: Path) -> Path:
    """Paths in messages relative to the working directory when inside it: rules/geo.yaml:14:9."""
    try:
        return folder.resolve().relative_to(Path.cwd())
    except ValueError:
        return folder


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr  # looked up per call: tests and callers swap them
    if args.rules_command == "schema":
        out.write(json.dumps(rule_test_schema() if args.tests else rule_file_schema(), indent=2) + "\n")
        return 0
    target = _target(args, err)
    if target is None:
        return 2
    if args.rules_command == "check":
        return check(target, out, err)
    return test(target, args, out, err)
