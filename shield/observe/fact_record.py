"""Facts on record: the compact snapshot of one request's facts that its `decision` line carries.

`shield replay` scores recorded decisions again from it, so it holds what scoring needs and
nothing secret: the facts the rule set reads (scope `rules`, the default) or every fact (scope
`catalog`, with counters at zero left out: the store fills every counter, so a missing one is
0). Never a password (it is never a fact) nor a cookie or token (no fact holds one; `device.id` is
the id shield signed, not the signed cookie). The account name is on record only with
`log.account_in_clear`; otherwise the line's `account_id`, a keyed hash, names it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Final, Literal, cast

import orjson

from shield.facts.catalog import catalog
from shield.model import Decision, Facts, FactValue
from shield.observe import line_json
from shield.observe.logs import Redacted
from shield.observe.secret_text import redact_text

# Bump when the record's shape or a value's encoding changes; `shield replay` refuses others.
FACTS_SCHEMA = 1
# security: strings from the client (ua, request.path) are cut here, so no request inflates the line
MAX_TEXT = 256
# Read by evaluate() beyond the rules (the challenge credit): always on record.
DECIDE_READS = frozenset({"challenge.solved", "challenge.passed"})
_COUNTER = re.compile(r"_\d+[smhd]$")  # ip.failures_10m, site.attempts_5m: windowed counters

FactScope = Literal["rules", "catalog", "off"]


@lru_cache(maxsize=16)
def _names(reads: frozenset[str]) -> tuple[str, ...]:
    """The recorded names in a stable order (one sort per rule set, not per request)."""
    return tuple(sorted(reads | DECIDE_READS))


@lru_cache(maxsize=16)
def _checked(reads: frozenset[str]) -> tuple[str, ...]:
    """The recorded names whose values may need encoding: those the catalog does not type as a
    number or a bool (text, addresses, sets), and any it does not know (counters of other windows).
    tests/facts/test_build.py holds the producers to the catalog's types."""
    specs = catalog()
    return tuple(n for n in _names(reads) if n not in specs or specs[n].type not in ("int", "float", "bool"))


def _read_values(facts: Facts, reads: frozenset[str], *, account_in_clear: bool) -> dict[str, Any]:
    """`_values` over the names a rule set reads, without zero skipping: one pass over the names,
    then only the few names that may hold text or sets encoded. The facts as a dict (the pipeline's
    are one): compiled, a dict's get is a direct lookup, a Mapping's a method call."""
    source: dict[str, FactValue] = facts if isinstance(facts, dict) else dict(facts)
    out: dict[str, Any] = {}
    for name in _names(reads):
        value = source.get(name)
        if value is not None:  # absent stays absent
            out[name] = value
    _encode_checked(out, _checked(reads), account_in_clear=account_in_clear)
    return out


def _encode_checked(out: dict[str, Any], checked: tuple[str, ...], *, account_in_clear: bool) -> None:
    """Encode in place the recorded values of `checked` (the names that may hold text or sets, see
    _checked) that are not numbers or bools; the account name leaves unless `account_in_clear`."""
    for name in checked:
        value = out.get(name)
        if value is None or value.__class__ is int or value.__class__ is bool or value.__class__ is float:
            continue
        if name != "account" or account_in_clear:
            out[name] = _encode(value)
        else:
            del out[name]


def _encode(value: FactValue) -> Any:
    if isinstance(value, frozenset):
        return sorted(value)  # fixed vocabularies (fp.reasons)
    if isinstance(value, str):
        value = value[:MAX_TEXT]
        # security: client text (ua) gets the log's free-text masking here, as the record skips the processor
        return redact_text(value) if ":" in value or "=" in value else value
    return value


def _values(facts: Facts, names: Iterable[str], *, skip_zero_counters: bool, account_in_clear: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        value = facts.get(name)
        if value is None:
            continue  # absent facts stay absent on replay
        cls = value.__class__
        if cls is int:  # most facts: counters (checked first, the hot path of every decision line)
            if not (skip_zero_counters and value == 0 and _COUNTER.search(name)):
                out[name] = value
        elif cls is bool or cls is float:
            out[name] = value
        elif name != "account" or account_in_clear:
            out[name] = _encode(value)
    return out


def fact_record(
    facts: Facts, decision: Decision, *, reads: frozenset[str], scope: FactScope, account_in_clear: bool
) -> dict[str, Any] | None:
    """The `facts` field of a decision line, or None when `log.decision_facts` is off."""
    if scope == "off":
        return None
    if scope == "rules":
        values = _read_values(facts, reads, account_in_clear=account_in_clear)
    else:
        values = _values(facts, sorted(facts), skip_zero_counters=True, account_in_clear=account_in_clear)
    record = Redacted(v=FACTS_SCHEMA, scope=scope, values=values)  # fact names are never sensitive keys
    ban = _banned_by(decision)
    if ban is not None:
        record["ban"] = ban
    return record


class _Template:
    """A rule set's recorded names with their JSON pieces (`,"name":`, and `,"name":false`, `true`, `0`
    and `1`, the values most facts hold) and whether each may need encoding (see _checked): a line's
    record is written piece by piece from them (`record_parts`), with no dict of its values for orjson
    to walk."""

    def __init__(self, reads: frozenset[str], facts: dict[str, FactValue] | None = None) -> None:
        # the key objects of the first facts written with it (the stores' counter names, the builder's
        # literals: the same objects on every request), else interned: a lookup that finds its key by
        # identity skips the string compare (~60 instructions, ~50 names a line)
        own: dict[str, str] = {k: k for k in facts} if facts is not None else {}
        self.names: tuple[str, ...] = tuple(own.get(n) or sys.intern(n) for n in _names(reads))
        checked = frozenset(_checked(reads))
        self.is_checked: tuple[bool, ...] = tuple(n in checked for n in self.names)
        self.keys: tuple[bytes, ...] = tuple(b"," + orjson.dumps(n) + b":" for n in self.names)
        self.common: tuple[tuple[bytes, bytes, bytes, bytes], ...] = tuple(
            (k + b"false", k + b"true", k + b"0", k + b"1") for k in self.keys
        )
        # `,"name":n` for the small counts each name has held, made on first use: one piece a value, not two
        # (each piece is an append and a part of the line's join: ~150 instructions)
        self.counts: list[list[bytes | None]] = [[None] * KEPT_COUNTS for _ in self.keys]


_TEMPLATES: dict[frozenset[str], _Template] = {}
KEPT_COUNTS: Final = 256  # a template keeps `,"name":n` for 0 <= n < KEPT_COUNTS
_RULES_HEAD = b',"facts":{"v":' + orjson.dumps(FACTS_SCHEMA) + b',"scope":"rules","values":{'


def record_parts(
    parts: list[bytes],
    facts: dict[str, FactValue],
    decision: Decision,
    *,
    reads: frozenset[str],
    scope: FactScope,
    account_in_clear: bool,
) -> None:
    """The `,"facts":...` of decision_log's direct line, appended to its pieces: the JSON of
    `fact_record` (the same names in the same order with the same values, so the same bytes:
    tests/observe/test_decision_line_bytes.py), nothing when `log.decision_facts` is off."""
    if scope != "rules":
        record = fact_record(facts, decision, reads=reads, scope=scope, account_in_clear=account_in_clear)
        if record is not None:
            parts.append(b',"facts":')
            parts.append(orjson.dumps(record, default=str))
        return
    template = _TEMPLATES.get(reads)
    if template is None:
        if len(_TEMPLATES) >= 16:  # a rule set reloaded many times: keep the recent ones only
            _TEMPLATES.clear()
        template = _TEMPLATES[reads] = _Template(reads, facts)
    names, is_checked, keys, common = template.names, template.is_checked, template.keys, template.common
    counts = template.counts
    parts.append(_RULES_HEAD)
    start = len(parts)
    for i in range(len(names)):
        v = facts.get(names[i])
        if v is None:  # absent stays absent
            continue
        cls = type(v)  # type(): a pointer read compiled, where .__class__ is an attribute lookup
        if cls is bool:
            parts.append(common[i][1] if v is True else common[i][0])
            continue
        if cls is int:
            n = cast(int, v)  # an unboxed int: its comparisons are native
            if n == 0:
                parts.append(common[i][2])
                continue
            if n == 1:
                parts.append(common[i][3])
                continue
            if 0 <= n < KEPT_COUNTS:
                kept = counts[i]
                keyed = kept[n]
                if keyed is None:
                    keyed = kept[n] = keys[i] + line_json.integer(n)
                parts.append(keyed)
                continue
            piece = line_json.integer(n)
        elif cls is float or not is_checked[i]:
            piece = line_json.value(v)
        elif names[i] != "account" or account_in_clear:  # as _encode_checked and _encode
            if isinstance(v, frozenset):
                piece = orjson.dumps(sorted(v), default=str)  # fixed vocabularies (fp.reasons)
            elif isinstance(v, str):
                piece = line_json.text(v[:MAX_TEXT])
            else:
                piece = line_json.value(v)
        else:
            continue
        parts.append(keys[i])
        parts.append(piece)
    if len(parts) > start:
        parts[start] = parts[start][1:]  # the first value's key has no comma before it
    ban = _banned_by(decision)
    if ban is not None:
        parts.append(b'},"ban":')
        parts.append(line_json.value(ban))
        parts.append(b"}")
    else:
        parts.append(b"}}")


def _banned_by(decision: Decision) -> str | None:
    """The scope of the active ban that decided (its last `banned:` reason), else None: the rules did."""
    found = None
    for reason in decision.reasons:
        if reason.startswith("banned:"):
            found = reason[len("banned:"):]
    return found


def ban_record(*, scope: FactScope, ban_scope: str) -> dict[str, Any] | None:
    """The `facts` field of a line refused on the ban fast path: no facts were built, the ban decided."""
    if scope == "off":
        return None
    return Redacted(v=FACTS_SCHEMA, scope=scope, values={}, ban=ban_scope)
