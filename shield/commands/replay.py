"""`shield replay`: what would a candidate rule pack have done to recorded traffic?

    shield replay --rules CANDIDATE_DIR [--config shield.yaml] [--json diff.json] LOG...

Reads the `decision` lines of each LOG (JSON lines as shield writes them; `-` is standard input,
*.gz is gunzipped), scores each again from the facts on record against the candidate rules and
config, through the same evaluate() the proxy decides with, and prints how many decisions change (allow -> challenge,
challenge -> block, ...), by rule, with sample lines. Lines without facts on record
(`log.decision_facts: off`, or written before it existed) are counted and skipped.
Exit 0 when nothing changes, 1 when some decisions change, 2 on a usage or rules error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

import orjson

from shield.replay.files import candidate_rules, replay_logs
from shield.replay.replayer import ReplayDiff
from shield.rules.score import RuleSet
from shield.rules.source import RuleErrors
from shield.settings.load import SettingsError, load_settings
from shield.settings.schema import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "replay", help="score recorded decisions again against a candidate rule pack",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("logs", nargs="+", metavar="LOG", help="log files of JSON lines ('-': standard input)")
    p.add_argument("--rules", type=Path, required=True, help="the candidate rule folder")
    p.add_argument("--config", "-c", type=Path, help="the candidate shield.yaml (routes, windows, challenge)")
    p.add_argument("--json", type=Path, metavar="OUT", help="write the diff, every change included, as JSON")
    p.add_argument("--samples", type=int, default=5, help="sample lines shown per transition (default 5)")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                   help="worker processes for large files (default: one per CPU)")
    p.set_defaults(handler=run)


def candidate(rules: Path, config: Path | None) -> tuple[RuleSet, Settings]:
    settings = load_settings(config, env=os.environ, overrides={"rules": rules})
    return candidate_rules(settings), settings


def render(diff: ReplayDiff, *, reads: frozenset[str], samples: int) -> str:
    recorded = ", ".join(f"{h} x{n}" for h, n in diff.recorded_rulesets.most_common(3)) or "none"
    changed = len(diff.changes)
    share = f" ({changed / diff.replayed:.2%})" if diff.replayed else ""
    out = [f"replayed {diff.replayed} of {diff.decisions} decisions ({diff.lines} lines) against rule set "
           f"{diff.ruleset} (recorded: {recorded})",
           f"changed: {changed}{share}; same action, another score: {diff.rescored}"]
    out += [f"skipped: {n} ({why})" for why, n in diff.skipped.most_common()]
    if missing := diff.unrecorded(reads):
        out.append(f"warning: the candidate reads facts not on record, replayed as absent: {', '.join(missing)}")
    width = max((len(t) for t in diff.transitions), default=0)
    out += [f"  {t.replace('->', ' -> ').ljust(width + 4)}  {n}" for t, n in diff.transitions.most_common()]
    if diff.by_rule:
        out.append("by rule:")
        width = max(len(r) for r in diff.by_rule)
        for rule, counts in sorted(diff.by_rule.items(), key=lambda kv: -sum(kv[1].values())):
            detail = ", ".join(f"{t} {n}" for t, n in counts.most_common())
            out.append(f"  {rule.ljust(width)}  {sum(counts.values()):>6}  {detail}")
    if diff.changes and samples > 0:
        out.append("samples:")
        shown: Counter[str] = Counter()
        for c in diff.changes:
            if shown[c.transition] < samples:
                shown[c.transition] += 1
                why = ", ".join(c.rules)
                out.append(f"  {c.where} {c.ts or '-'} {c.route} ip={c.client_ip} account_id={c.account_id} "
                           f"{c.before} -> {c.after} (score {c.score_before} -> {c.score_after}) [{why}]")
    return "\n".join(out) + "\n"


def run(args: argparse.Namespace) -> int:
    try:
        ruleset, settings = candidate(args.rules, args.config)
        diff = replay_logs(ruleset, settings, args.logs, jobs=args.jobs)
    except SettingsError as exc:
        print("shield replay: the configuration has problems:", *exc.problems, sep="\n  ", file=sys.stderr)
        return 2
    except RuleErrors as exc:
        print("shield replay: the candidate rules have errors:", *map(str, exc.errors), sep="\n  ", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"shield replay: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(render(diff, reads=ruleset.reads, samples=args.samples))
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(diff.as_json(), option=orjson.OPT_INDENT_2) + b"\n")
    return 1 if diff.changes else 0
