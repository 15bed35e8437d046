r"""`shield explain`: why would shield do what it does with this request?

    shield explain request.json                      a JSON description (see below)
    shield explain -                                 the description on standard input
    shield explain curl -X POST http://x/api/login -H 'User-Agent: curl/8.5' -d '{"username":"a"}' \
        --client-ip 198.51.100.7
    shield explain --admin http://127.0.0.1:9000 request.json   ask a running shield (its rules, its GeoIP)

Prints every fact, every rule that matched with its score, the total and the action.
Counters are zero unless the description sets them ("counters": {"ip.failures_10m": 25});
"history" describes the account's past successful logins; "facts" forces any fact.
Nothing is counted: explaining a request never changes shield's memory.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import urllib.request
from pathlib import Path

import orjson

from shield.decision.explain import explain, render
from shield.decision.explain_request import DescriptionError, describe, parse_description
from shield.facts.build import FactBuilder
from shield.facts.enrich.lists import ListError
from shield.facts.identity.keyed import Keyer
from shield.observe.logs import configure_logging
from shield.proxy.routes import RouteMatcher
from shield.rules.pack import load_pack
from shield.rules.source import RuleErrors
from shield.settings.load import SettingsError, load_settings
from shield.settings.schema import LogSettings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "explain", help="show the facts, matched rules, score and action for a request",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("request", nargs=argparse.REMAINDER, help="FILE, '-', or a curl command line")
    p.add_argument("--config", "-c", type=Path, help="shield.yaml (routes, GeoIP, rules folder)")
    p.add_argument("--rules", type=Path, help="rule folder (default: the config's)")
    p.add_argument("--admin", metavar="URL", help="ask a running shield's admin API instead")
    p.add_argument("--json", action="store_true", help="print JSON instead of the text report")
    p.set_defaults(handler=run)


def _read(words: list[str]) -> str:
    if not words:
        raise DescriptionError("give a FILE, '-' or a curl command line")
    if words[0] == "curl":
        return " ".join(_quote(w) for w in words)
    if words[0] == "-":
        return sys.stdin.read()
    return Path(words[0]).read_text(encoding="utf-8")


def _quote(word: str) -> str:
    return shlex.quote(word)


def _remote(admin: str, text: str, as_json: bool) -> int:
    desc = parse_description(text)
    payload = {
        "method": desc.method, "path": desc.path, "client_ip": desc.client_ip,
        "headers": [list(h) for h in desc.headers], "body": desc.body.decode("utf-8", "replace"),
        "counters": dict(desc.counters), "facts": dict(desc.facts),
    }
    req = urllib.request.Request(  # noqa: S310 (the operator's own admin URL)
        admin.rstrip("/") + "/explain", data=orjson.dumps(payload), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {_token()}"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
        body = orjson.loads(resp.read())
    print(orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() if as_json else body["text"], end="")
    return 0


def _token() -> str:
    return os.environ.get("SHIELD_ADMIN_TOKEN", "")


def _late_options(args: argparse.Namespace) -> None:
    """`shield explain req.json --json`: REMAINDER keeps options written after a FILE; take them back
    (a curl command line keeps its own dashes)."""
    words, rest = list(args.request), []
    if words and words[0] == "curl":
        return
    while words:
        word = words.pop(0)
        if word == "--json":
            args.json = True
        elif word in ("--config", "-c", "--rules", "--admin") and words:
            value = words.pop(0)
            setattr(args, {"-c": "config", "--config": "config"}.get(word, word[2:]),
                    value if word == "--admin" else Path(value))
        else:
            rest.append(word)
    args.request = rest


def run(args: argparse.Namespace) -> int:
    _late_options(args)
    # the report owns stdout; shield's own events (GeoIP loaded, ...) go to stderr, warnings only
    configure_logging(LogSettings(level="warning"), stream=sys.stderr)
    try:
        text = _read(args.request)
        if args.admin:
            return _remote(args.admin, text, args.json)
        settings = load_settings(args.config, env=os.environ, overrides={"rules": args.rules} if args.rules else {})
        pack = load_pack(settings.rules, extra_lists=settings.extra_lists, windows=settings.windows,
                         routes=[r.name for r in settings.routes])
        keyer = Keyer(settings.secret or b"explain-only-secret!")  # ids are shown hashed; any key works
        builder = FactBuilder.from_settings(settings, keyer=keyer, lists=pack.lists)
        now = time.time()
        described = describe(parse_description(text), settings, builder, routes=RouteMatcher(settings.routes), now=now)
    except (DescriptionError, OSError) as exc:
        print(f"shield explain: {exc}", file=sys.stderr)
        return 2
    except SettingsError as exc:
        print("shield explain: the configuration has problems:", *exc.problems, sep="\n  ", file=sys.stderr)
        return 2
    except ListError as exc:
        print("shield explain: the lists have errors:", *exc.problems, sep="\n  ", file=sys.stderr)
        return 2
    except RuleErrors as exc:
        print("shield explain: the rules have errors:", *map(str, exc.errors), sep="\n  ", file=sys.stderr)
        return 2
    # no store here: bans are the running shield's (--admin asks it)
    e = explain(pack.rules, described, challenge=settings.challenge, now=now, mode=settings.mode)
    if args.json:
        out = {
            "route": e.route, "ruleset": e.ruleset, "score": e.decision.score, "action": e.decision.action.value,
            "rules": [{"id": r.id, "score": r.score} for r in e.matched],
            "shadow_rules": [{"id": r.id, "score": r.score} for r in e.shadow],
            "facts": {k: sorted(v) if isinstance(v, frozenset) else v for k, v in e.facts},
        }
        print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())
    else:
        print(render(e, all_facts=False), end="")
    return 0
