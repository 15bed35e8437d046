"""Load a folder of rule files into a compiled RuleSet, or raise RuleErrors listing every problem.

Every *.yaml / *.yml file directly in the folder is read (rules/lists/ and rules/tests/ are
not); a file may hold `rules:`, `policy:` (in one file only) and `lists:`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from shield.facts.catalog import catalog
from shield.model import (
    DEFAULT_WINDOWS,
    EVIDENCE_CLASSES,
    Action,
    BanSpec,
    EvidenceClass,
    NamedList,
    Policy,
    RuleMeta,
    TakeoverPolicy,
    Window,
)
from shield.rules.condition import Compiler
from shield.rules.expr import ExprError, ExprErrors, Node, parse
from shield.rules.inline_lists import parse_lists
from shield.rules.policy import parse_ban_scope, parse_policy
from shield.rules.score import Rule, RuleSet
from shield.rules.source import (
    RuleError,
    RuleErrors,
    Source,
    boolean,
    check_keys,
    duration,
    integer,
    mapping,
    scalar,
    sequence,
    text,
)
from shield.settings import yaml_reader

FILE_KEYS = ("rules", "policy", "lists")
RULE_KEYS = ("id", "description", "class", "when", "score", "action", "ban", "routes", "tags", "mode", "enabled")
# `tags: [aggregate]` and policy.aggregate_cap were the first form of `class: crowd` and policy.evidence.
_REPLACED_TAGS = {
    "aggregate": "tag 'aggregate' was replaced by 'class: crowd' (policy.evidence says what a class may do)",
}
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


@dataclass(slots=True)
class _Draft:
    """A rule read from YAML whose condition is parsed but not yet compiled."""

    src: Source
    node: yaml.MappingNode
    when_node: yaml.ScalarNode
    tree: Node | None  # None: the condition has syntax errors (already reported)
    fields: dict[str, object]
    enabled: bool
    fragments: tuple[Node, ...] = ()  # what parsed after a syntax error: its facts and types are checked


def rule_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def load_rules(
    folder: Path,
    *,
    lists: Mapping[str, NamedList] | None = None,
    windows: Sequence[Window] = DEFAULT_WINDOWS,
    routes: Collection[str] | None = None,
) -> RuleSet:
    """Read, check and compile every rule file of `folder`; `lists` are the rules/lists/ files."""
    if not folder.is_dir():
        raise RuleErrors([RuleError(str(folder), 1, 1, "rules folder not found")])
    texts: dict[str, str] = {}
    errors: list[RuleError] = []
    for path in rule_files(folder):
        try:
            texts[str(path)] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            errors.append(RuleError(str(path), 1, 1, f"cannot read: {e}"))
    if not texts and not errors:
        errors.append(RuleError(str(folder), 1, 1, "no rule files (*.yaml) in the folder"))
    if errors:
        raise RuleErrors(errors)
    return load_texts(texts, lists=lists or {}, windows=windows, routes=routes)


def load_texts(
    texts: Mapping[str, str],
    *,
    lists: Mapping[str, NamedList],
    windows: Sequence[Window] = DEFAULT_WINDOWS,
    routes: Collection[str] | None = None,
) -> RuleSet:
    """The same from file contents by path: what load_rules does once the files are read."""
    sources = [Source(path, body) for path, body in sorted(texts.items())]
    drafts: list[_Draft] = []
    policies: list[tuple[Source, yaml.Node, Policy]] = []
    all_lists: dict[str, NamedList] = dict(lists)
    for src in sources:
        _read_file(src, drafts, policies, all_lists)
    errors = [e for s in sources for e in s.errors]
    for src, node, _ in policies[1:]:
        errors.append(RuleError(src.path, node.start_mark.line + 1, node.start_mark.column + 1,
                                f"a second policy section (the first is in {policies[0][0].path})"))
    if policies and policies[0][2].takeover != TakeoverPolicy() and (
        (window := policies[0][2].takeover.window) not in {w.name for w in windows}
    ):
        src, node, _ = policies[0]
        names = ", ".join(w.name for w in windows)
        errors.append(RuleError(src.path, node.start_mark.line + 1, node.start_mark.column + 1,
                                f"policy.takeover.window {window!r} is not a counter window ({names})"))
    compiler = Compiler(catalog(windows), all_lists)
    for d in drafts:
        if d.tree is not None:
            compiler.count(d.tree)
    rules = _compile(drafts, compiler, routes)
    errors += [e for s in sources for e in s.errors if e not in errors]
    if errors:
        raise RuleErrors(errors)
    digest = ruleset_hash(texts)
    policy = policies[0][2] if policies else Policy()
    if policy.takeover == TakeoverPolicy() and windows and policy.takeover.window not in {w.name for w in windows}:
        # untouched defaults and no 1h window configured: the shortest window of an hour or more
        by_length = sorted(windows, key=lambda w: w.seconds)
        window = next((w for w in by_length if w.seconds >= 3600), by_length[-1]).name
        policy = replace(policy, takeover=replace(policy.takeover, window=window))
    meta = {r.id: RuleMeta(r.tags, r.ban, r.evidence) for r in rules}
    policy = replace(policy, rules=meta, ruleset=digest)
    return RuleSet(rules, policy, hash=digest, memo_size=compiler.slots, lists=sorted(all_lists), windows=windows)


def ruleset_hash(texts: Mapping[str, str]) -> str:
    """sha256 of the canonical content (comments and spacing do not change it), 12 hex digits."""
    canon = {Path(p).name: yaml_reader.load(t, file=p) for p, t in texts.items()}
    blob = json.dumps(canon, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def _read_file(src: Source, drafts: list[_Draft], policies: list[tuple[Source, yaml.Node, Policy]],
               all_lists: dict[str, NamedList]) -> None:
    root = src.compose()
    if root is None:
        return
    top = mapping(src, root, "a rule file")
    if top is None:
        return
    check_keys(src, top, FILE_KEYS, "a rule file")
    if "policy" in top and (policy := parse_policy(src, top["policy"][1])) is not None:
        policies.append((src, top["policy"][0], policy))
    if "lists" in top:
        for name, lst in parse_lists(src, top["lists"][1]).items():
            if name in all_lists:
                src.error(top["lists"][1], f"list '{name}' is defined twice (inline and in lists/ or another file)")
            all_lists[name] = lst
    if "rules" in top:
        for node in sequence(src, top["rules"][1], "rules"):
            draft = _read_rule(src, node)
            if draft is not None:
                drafts.append(draft)


def _read_rule(src: Source, node: yaml.Node) -> _Draft | None:
    items = mapping(src, node, "a rule")
    if items is None or not isinstance(node, yaml.MappingNode):
        return None
    check_keys(src, items, RULE_KEYS, "a rule")
    for key in ("id", "description", "when"):
        if key not in items:
            src.error(node, f"rule is missing '{key}'")
    fields: dict[str, object] = {}
    if "class" not in items:
        src.error(node, f"rule is missing 'class' (what it is evidence about: {', '.join(EVIDENCE_CLASSES)})")
    elif (evidence := _evidence_class(src, items["class"][1])) is not None:
        fields["evidence"] = evidence
    if "id" in items and (rid := scalar(src, items["id"][1], "id")) is not None:
        if not _ID.match(rid):
            src.error(items["id"][1], f"rule id {rid!r} must be lower case letters, digits, _ . - (max 64)")
        fields["id"] = rid
    if "description" in items:
        fields["description"] = text(src, items["description"][1], "description")
    _read_effect(src, node, items, fields)
    _read_scope(src, items, fields)
    enabled = boolean(src, items["enabled"][1], "enabled") if "enabled" in items else True
    when = items.get("when", (None, None))[1]
    if when is None or text(src, when, "when") is None:
        return None
    assert isinstance(when, yaml.ScalarNode)
    try:
        tree = parse(when.value)
    except ExprError as e:
        _report(src, when, e)
        fragments = e.fragments if isinstance(e, ExprErrors) else ()
        return _Draft(src, node, when, None, fields, enabled is not False, fragments)
    return _Draft(src, node, when, tree, fields, enabled is not False)


def _evidence_class(src: Source, node: yaml.Node) -> EvidenceClass | None:
    value = scalar(src, node, "class")
    for cls in EVIDENCE_CLASSES:
        if value == cls:
            return cls
    if value is not None:
        src.error(node, f"class must be one of {', '.join(EVIDENCE_CLASSES)}, not {value!r}")
    return None


def _report(src: Source, when: yaml.ScalarNode, e: ExprError) -> None:
    for error in e.errors if isinstance(e, ExprErrors) else (e,):
        src.error_in(when, error.pos, error.message)


def _read_effect(src: Source, node: yaml.Node, items: dict[str, tuple[yaml.Node, yaml.Node]],
                 fields: dict[str, object]) -> None:
    if ("score" in items) == ("action" in items):
        src.error(node, "rule needs either 'score' or 'action' (not both)")
    if "score" in items:
        fields["score"] = integer(src, items["score"][1], "score")
    if "action" in items and (name := scalar(src, items["action"][1], "action")) is not None:
        try:
            fields["action"] = Action(name)
        except ValueError:
            src.error(items["action"][1], f"action must be one of {', '.join(a.value for a in Action)}, not {name!r}")
    if "ban" in items:
        if fields.get("action") is not Action.BAN:
            src.error(items["ban"][0], "'ban' belongs to rules with 'action: ban'")
        ban = mapping(src, items["ban"][1], "ban") or {}
        check_keys(src, ban, ("scope", "ttl"), "ban")
        scope = parse_ban_scope(src, ban["scope"][1], "ban.scope") if "scope" in ban else "ip"
        ttl = duration(src, ban["ttl"][1], "ban.ttl") if "ttl" in ban else 3600.0
        if scope is not None and ttl is not None:
            fields["ban"] = BanSpec(scope, ttl)


def _read_scope(src: Source, items: dict[str, tuple[yaml.Node, yaml.Node]], fields: dict[str, object]) -> None:
    if "routes" in items:
        fields["routes"] = frozenset(
            v for n in sequence(src, items["routes"][1], "routes") if (v := scalar(src, n, "route")))
        fields["routes_node"] = items["routes"][1]
    if "tags" in items:
        tags = [(n, v) for n in sequence(src, items["tags"][1], "tags") if (v := scalar(src, n, "tag"))]
        for n, v in tags:
            if v in _REPLACED_TAGS:
                src.error(n, _REPLACED_TAGS[v])
        fields["tags"] = frozenset(v for _, v in tags)
    if "mode" in items and (mode := scalar(src, items["mode"][1], "mode")) is not None:
        if mode not in ("enforce", "shadow"):
            src.error(items["mode"][1], f"mode must be enforce or shadow, not {mode!r}")
        fields["shadow"] = mode == "shadow"


def _compile(drafts: list[_Draft], compiler: Compiler, routes: Collection[str] | None) -> list[Rule]:
    seen: dict[str, _Draft] = {}
    rules: list[Rule] = []
    for d in drafts:
        rid = d.fields.get("id")
        if isinstance(rid, str):
            if rid in seen:
                first = seen[rid]
                d.src.error(d.node.value[0][1] if d.node.value else d.node,
                            f"duplicate rule id '{rid}' (first at {first.src.path}:{first.node.start_mark.line + 1})")
            seen.setdefault(rid, d)
        route_names = d.fields.get("routes")
        routes_node = d.fields.get("routes_node")
        if routes is not None and isinstance(route_names, frozenset) and isinstance(routes_node, yaml.Node):
            for name in sorted(route_names - set(routes)):
                known = ", ".join(sorted(routes))
                d.src.error(routes_node, f"unknown route '{name}' (configured: {known})")
        try:
            if d.tree is None:
                for fragment in d.fragments:
                    compiler.check(fragment)
                continue
            compiled = compiler.condition(d.tree)
        except ExprError as e:
            _report(d.src, d.when_node, e)
            continue
        if d.enabled and isinstance(rid, str):
            f = d.fields
            rules.append(Rule(
                id=rid, description=str(f.get("description") or ""), when=d.when_node.value, check=compiled.fn,
                score=f.get("score") or 0, action=f.get("action"), ban=f.get("ban"),  # type: ignore[arg-type]
                routes=f.get("routes"), tags=f.get("tags", frozenset()), shadow=bool(f.get("shadow")),  # type: ignore[arg-type]
                evidence=f.get("evidence", "client"),  # type: ignore[arg-type]
                reads=compiled.reads, required=compiled.required, truthy=compiled.truthy, gate=compiled.gate,
                path=d.src.path, line=d.node.start_mark.line + 1,
            ))
    return rules
