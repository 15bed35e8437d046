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
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Literal

from shield.facts.catalog import catalog
from shield.model import Decision, Facts, FactValue
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
    """A rule set's recorded names, and a dict of them (values None) in their order: a line's record
    starts as its copy (a clone of its table) and has each value replaced, where a dict built name
    by name grew four times on the way (~13k of the ~37k instructions of a decision line's record)."""

    def __init__(self, reads: frozenset[str]) -> None:
        self.names = _names(reads)
        self.checked = _checked(reads)
        self.empty: dict[str, Any] = dict.fromkeys(self.names)


_TEMPLATES: dict[frozenset[str], _Template] = {}


def line_record(
    facts: dict[str, FactValue], decision: Decision, *, reads: frozenset[str], scope: FactScope, account_in_clear: bool
) -> dict[str, Any] | None:
    """`fact_record` as plain dicts, for decision_log's direct path (only structlog's processor reads
    the Redacted mark): the same names in the same order with the same values, so the same JSON
    byte for byte (tests/observe/test_decision_line_bytes.py)."""
    if scope != "rules":
        return fact_record(facts, decision, reads=reads, scope=scope, account_in_clear=account_in_clear)
    template = _TEMPLATES.get(reads)
    if template is None:
        if len(_TEMPLATES) >= 16:  # a rule set reloaded many times: keep the recent ones only
            _TEMPLATES.clear()
        template = _TEMPLATES[reads] = _Template(reads)
    values = template.empty.copy()
    for name in template.names:
        value = facts.get(name)
        if value is None:  # absent stays absent
            del values[name]
        else:
            values[name] = value
    _encode_checked(values, template.checked, account_in_clear=account_in_clear)  # as _read_values
    record: dict[str, Any] = {"v": FACTS_SCHEMA, "scope": scope, "values": values}
    ban = _banned_by(decision)
    if ban is not None:
        record["ban"] = ban
    return record


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
