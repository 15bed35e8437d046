"""The `decision` log line: the SOC's contract, one per protected request.

A pure function builds it, so a test can assert every field and that no secret is in it.
Field names are stable; a new field may be added, none is renamed or removed silently.
"""

from __future__ import annotations

import time
from typing import Any, Final, NamedTuple

import orjson
from aiohttp import web

from shield.model import Attempt, Ban, Decision, Facts, FactValue, Outcome
from shield.observe.fact_record import FactScope, fact_record, record_parts
from shield.observe.line_json import NULL, fresh, fresh_text, hits, integer, plain, text, value
from shield.observe.logs import FastLevel, Redacted, RedactedList, RequestLines
from shield.observe.secret_text import may_match, redact_text

# Bump when a field changes meaning; consumers can pin it.
# 2: + method, path, host, user_agent, tls_fingerprint (request_fields)
# 3: + evidence (the score per evidence class)
SCHEMA_VERSION = 3

# security: client-chosen text is cut so one request cannot write a megabyte log line.
MAX_TEXT = 512

# The line's keys whose values this module makes from no free text: numbers, bools, None, addresses
# parsed by ipaddress, keyed hashes, enum values, the rule set's hash, Redacted mappings and lists.
# The redaction processor would leave each as is, so `write_decision` skips them.
BUILT_KEYS = frozenset({
    "schema", "client_ip", "subnet", "asn", "account_id", "fingerprint", "score", "evidence", "action", "enforced",
    "rules", "shadow_rules", "shadow_action", "ruleset", "status", "upstream_status", "outcome", "malformed",
    "store_degraded", "shield_ms", "store_ms", "upstream_ms", "duration_ms", "ban_scope", "ban_ttl_s", "facts",
})
# security: the keys whose values may hold text from the client, a config or a database: masked as
# the redaction processor masks free text (`password=x` in a path, a user agent or an account name).
TEXT_KEYS = (
    "request_id", "route", "country", "asn_org", "device_id", "ua_family", "challenge", "ban_reason", "ban_source",
    "account", "method", "path", "host", "user_agent", "tls_fingerprint",
)
_KNOWN_KEYS = BUILT_KEYS | frozenset(TEXT_KEYS)


class Timings(NamedTuple):
    """A request's durations, ms. A NamedTuple, not a frozen dataclass: one per decision line, a third of the cost."""

    shield_ms: float  # shield's own work: identity, enrich, store, rules, decide
    store_ms: float
    upstream_ms: float | None  # None when the request never reached the upstream
    total_ms: float


def decision_fields(
    attempt: Attempt,
    facts: Facts,
    decision: Decision,
    *,
    challenge: str,
    status: int,
    upstream_status: int | None,
    outcome: Outcome,
    timings: Timings,
    store_degraded: bool,
    account_in_clear: bool,
    ban: Ban | None = None,
    now: float = 0.0,
    facts_record: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the SOC needs to understand one decision; never a password, cookie or token.

    `ban` is the active ban that refused the request (its scope, reason and the TTL left at `now`).
    """
    values = _as_dict(facts)  # typed dict: mypyc's direct lookups
    fields: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "request_id": attempt.request_id,
        "route": attempt.route,
        "client_ip": attempt.client_ip,
        "subnet": attempt.subnet,
        "country": values.get("ip.country"),
        "asn": values.get("ip.asn"),
        "asn_org": values.get("ip.asn_org"),
        "account_id": attempt.account_id,
        "fingerprint": attempt.fingerprint,
        "device_id": attempt.device_id,
        "ua_family": values.get("ua.family"),
        "score": decision.score,
        # evidence classes are a fixed vocabulary (shield.model.EVIDENCE_CLASSES), scores integers
        "evidence": Redacted(decision.scores_by_class),
        "action": decision.action._value_,  # ._value_: .value is a slow descriptor
        "enforced": decision.enforced,
        "rules": RedactedList([{"id": h.id, "score": h.score} for h in decision.hits]),
        "shadow_rules": RedactedList([{"id": h.id, "score": h.score} for h in decision.shadow_hits]),
        "shadow_action": decision.shadow_action._value_ if decision.shadow_action else None,
        "ruleset": decision.ruleset,
        "challenge": challenge,
        "status": status,
        "upstream_status": upstream_status,
        "outcome": outcome._value_,
        "malformed": attempt.malformed,
        "store_degraded": store_degraded,
        "shield_ms": round(timings.shield_ms, 3),
        "store_ms": round(timings.store_ms, 3),
        "upstream_ms": None if timings.upstream_ms is None else round(timings.upstream_ms, 3),
        "duration_ms": round(timings.total_ms, 3),
    }
    if ban is not None:
        fields.update(ban_fields(ban, now))
    elif decision.ban_scope is not None:
        fields["ban_scope"] = decision.ban_scope
        fields["ban_ttl_s"] = decision.ban_ttl
    if account_in_clear and attempt.account is not None:
        fields["account"] = attempt.account
    if facts_record is not None:  # the facts on record (shield.observe.fact_record), for `shield replay`
        fields["facts"] = facts_record
    return fields


def write_decision(fields: dict[str, Any]) -> bool:
    """Write a decision line built here (`decision_fields` or `ban_refusal_fields`, plus the request
    fields) on the direct JSON path: False when that path is off (then log it through structlog)."""
    if fields.keys() <= _KNOWN_KEYS:
        return _write_vouched("decision", fields, TEXT_KEYS, "info", True)
    # security: a key this module does not know about gets the full redaction
    return RequestLines.write_event("decision", fields)


def log_decision(
    attempt: Attempt,
    facts: Facts,
    decision: Decision,
    challenge: str,
    status: int,
    upstream_status: int | None,
    outcome: Outcome,
    timings: Timings,
    store_degraded: bool,
    account_in_clear: bool,
    record_scope: FactScope,
    reads: frozenset[str],
    ban: Ban | None,
    now: float,
    host: str | None,
) -> dict[str, Any] | None:
    """A protected request's decision line (shield.proxy.pipeline), facts on record and request fields
    included, written on the direct path: None once written, else its fields for structlog. One call
    with positional arguments, so the line's builders run as native calls (a sixth of its cost
    went in keyword parsing and the calls between the interpreted pipeline and them).

    On the direct path the line is written piece by piece from the same values as `decision_fields`,
    `fact_record` and `request_fields` (tests/observe holds it to their line byte for byte), with no
    dict for orjson to walk: the keys pre-encoded, the recurring values' pieces kept
    (shield.observe.line_json), the facts on record from the rule set's pieces (`record_parts`)."""
    out = RequestLines.stream
    if out is None:
        record = fact_record(facts, decision, reads=reads, scope=record_scope, account_in_clear=account_in_clear)
        fields = decision_fields(
            attempt, facts, decision, challenge=challenge, status=status, upstream_status=upstream_status,
            outcome=outcome, timings=timings, store_degraded=store_degraded, account_in_clear=account_in_clear,
            ban=ban, now=now, facts_record=record,
        )
        fields.update(request_fields(facts, host=host))
        return fields
    out.write(_decision_line(
        attempt, _as_dict(facts), decision, challenge, status, upstream_status, outcome, timings, store_degraded,
        account_in_clear, record_scope, reads, ban, now, host,
    ))
    out.flush()
    return None


def _decision_line(
    attempt: Attempt,
    values: dict[str, FactValue],
    decision: Decision,
    challenge: str,
    status: int,
    upstream_status: int | None,
    outcome: Outcome,
    timings: Timings,
    store_degraded: bool,
    account_in_clear: bool,
    record_scope: FactScope,
    reads: frozenset[str],
    ban: Ban | None,
    now: float,
    host: str | None,
) -> bytes:
    """The JSON of `log_decision`'s line: `decision_fields` + `request_fields` + the stamp keys, in
    their order, the text values masked as `_write_vouched` masks TEXT_KEYS; written piece by piece
    (shield.observe.line_json: orjson's encoding of each value, the keys pre-encoded), the bytes
    orjson would write for that dict (tests/observe/test_decision_line_bytes.py)."""
    # security: the free-text values (TEXT_KEYS) go through line_json.text / fresh_text, which mask
    # them as _write_vouched masks TEXT_KEYS (redact_text where a `:` or `=` is)
    upstream_ms = timings.upstream_ms
    shadow_action = decision.shadow_action
    evidence = decision.scores_by_class
    p: list[bytes] = [
        _HEAD, fresh_text(attempt.request_id),
        b',"route":', text(attempt.route),
        b',"client_ip":', fresh(attempt.client_ip),
        b',"subnet":', fresh(attempt.subnet),
        b',"country":', text(values.get("ip.country")),
        b',"asn":', value(values.get("ip.asn")),
        b',"asn_org":', text(values.get("ip.asn_org")),
        b',"account_id":', fresh(attempt.account_id),
        b',"fingerprint":', value(attempt.fingerprint),
        b',"device_id":', fresh_text(attempt.device_id),
        b',"ua_family":', text(values.get("ua.family")),
        b',"score":', value(decision.score),
        b',"evidence":', orjson.dumps(evidence if type(evidence) is dict else dict(evidence), default=str),
        b',"action":', value(decision.action._value_),
        b',"enforced":', value(decision.enforced),
        b',"rules":',
    ]
    hits(p, decision.hits)
    p.append(b',"shadow_rules":')
    hits(p, decision.shadow_hits)
    p += [
        b',"shadow_action":', value(shadow_action._value_) if shadow_action else NULL,
        b',"ruleset":', value(decision.ruleset),
        b',"challenge":', text(challenge),
        b',"status":', value(status),
        b',"upstream_status":', value(upstream_status),
        b',"outcome":', value(outcome._value_),
        b',"malformed":', value(attempt.malformed),
        b',"store_degraded":', value(store_degraded),
        b',"shield_ms":', orjson.dumps(round3(timings.shield_ms)),
        b',"store_ms":', orjson.dumps(round3(timings.store_ms)),
        b',"upstream_ms":', NULL if upstream_ms is None else orjson.dumps(round3(upstream_ms)),
        b',"duration_ms":', orjson.dumps(round3(timings.total_ms)),
    ]
    if ban is not None:
        p += [
            b',"ban_scope":', value(ban.scope),
            b',"ban_reason":', text(ban.reason),
            b',"ban_source":', text(ban.source),
            b',"ban_ttl_s":', orjson.dumps(round3(max(0.0, ban.expires_at - now))),
        ]
    elif decision.ban_scope is not None:
        p += [b',"ban_scope":', value(decision.ban_scope), b',"ban_ttl_s":', value(decision.ban_ttl)]
    if account_in_clear and attempt.account is not None:
        p.append(b',"account":')
        p.append(text(attempt.account))
    record_parts(p, values, decision, reads=reads, scope=record_scope, account_in_clear=account_in_clear)
    p += [
        b',"method":', text(values.get("request.method")),
        b',"path":', text(_cut(values.get("request.path"))),
        b',"host":', text(_cut(host)),
        b',"user_agent":', text(_cut(values.get("ua")) or None),
        b',"tls_fingerprint":', text(_cut(values.get("fp.ja4", values.get("fp.ja3")))),
        _TAIL,
    ]
    _STAMP.add(p)
    p.append(b'"}\n')
    return b"".join(p)


_HEAD = b'{"schema":' + orjson.dumps(SCHEMA_VERSION) + b',"request_id":'
_TAIL = b',"event":"decision","level":"info","ts":"'  # the stamp's text is digits and -T:.Z: no escape


def round3(value: float) -> float:
    """`round(value, 3)`, the same float, without its decimal string and parse (~1.8k instructions
    each, four per line): for 0 < value < 1e6 not within 1e-6 of a tie (in thousandths), the
    nearest integer to value * 1000 is the exact product's (its error is below 1.2e-7), and
    k / 1000 is the float nearest k thousandths, which is what round() parses. Else round()."""
    scaled = value * 1000.0
    if 0.0 < scaled < 1e9:
        whole = int(scaled)
        frac = scaled - whole
        if frac < 0.499999:
            return whole / 1000.0
        if frac > 0.500001:
            return (whole + 1) / 1000.0
    return round(value, 3)


# The `ban.added` line of a ban the rules decided (shield.proxy.pipeline): its value is the client's
# address, subnet, ASN number, keyed account hash or fingerprint (never an account name), its
# reason rule ids (the loader's [a-z0-9_.-]) or "score", its numbers numbers: as BUILT_KEYS.
BAN_ADDED_KEYS = frozenset({"request_id", "scope", "value", "ttl_s", "offenses", "reason", "source"})
# security: masked as free text all the same (a request id from a trusted proxy may hold `name=value`)
BAN_ADDED_TEXT_KEYS = ("request_id", "reason")


def write_ban_added(fields: dict[str, Any]) -> bool:
    """Write a `ban.added` line (warning) on the direct JSON path, as `write_decision` does a decision
    line: the redaction processor's walk of every key cost ~4.5 us of a banning request's ~9. False
    when that path is off (then log it through structlog)."""
    if fields.keys() <= BAN_ADDED_KEYS:
        return _write_vouched("ban.added", fields, BAN_ADDED_TEXT_KEYS, "warning", True)
    # security: a key this module does not know about gets the full redaction
    return RequestLines.write_event("ban.added", fields, level="warning")


def log_ban_added(
    request_id: str, scope: str, value: str, ttl_s: float, offenses: int, reason: str
) -> dict[str, Any] | None:
    """The `ban.added` line of a ban the rules added for a request (shield.proxy.pipeline), written on
    the direct path: None once written, else its fields for structlog. Its stream is not flushed:
    the request's decision line follows it in the same turn of the loop, as its last step, and its
    flush writes both (one write to stdout per banning request, not two).

    On the direct path the line is written from its pieces, the bytes `write_ban_added` writes for
    these fields (tests/observe/test_decision_line_bytes.py): no dict, no walk of it by orjson, the
    scope, the offenses and the reason's pieces kept (shield.observe.line_json); ~15k instructions
    per new ban went to ~6k (callgrind)."""
    out = RequestLines.stream
    if out is None:
        return {
            "request_id": request_id, "scope": scope, "value": value, "ttl_s": ttl_s, "offenses": offenses,
            "reason": reason, "source": "rules",
        }
    # security: request_id and reason (BAN_ADDED_TEXT_KEYS) masked as _write_vouched masks them
    p = [
        b'{"request_id":', fresh_text(request_id),
        b',"scope":', plain(scope),
        b',"value":', fresh(value),
        b',"ttl_s":', orjson.dumps(ttl_s),
        b',"offenses":', integer(offenses),
        b',"reason":', text(reason),
        _BAN_ADDED_TAIL,
    ]
    _STAMP.add(p)
    p.append(b'"}\n')
    out.write(b"".join(p))
    return None


_BAN_ADDED_TAIL = b',"source":"rules","event":"ban.added","level":"warning","ts":"'


def _write_vouched(event: str, fields: dict[str, Any], text: tuple[str, ...], level: FastLevel, flush: bool) -> bool:
    """`RequestLines.write_event` for a line built here (see BUILT_KEYS): no key is a secret's name and
    only the values under `text` can hold free text; every other value is a number, a bool, None, a
    Redacted mapping or list, or a string this module made (an address, a hash, an enum value).
    `redaction_processor` would change none of those, so only `text` is masked: the same line,
    without walking its forty keys. False when the direct path is off (then use structlog)."""
    out = RequestLines.stream
    if out is None:
        return False
    # one scan of every text value; the masking only when one may hold a secret (each string value
    # is a part of the blob: where the blob cannot match, none of them can)
    parts: list[str] = []
    for key in text:
        value = fields.get(key)
        if isinstance(value, str):
            parts.append(value)
    if may_match("\0".join(parts)):
        for key in text:
            value = fields.get(key)
            if isinstance(value, str) and (":" in value or "=" in value):
                fields[key] = redact_text(value)
    fields["event"] = event
    fields["level"] = level
    fields["ts"] = _STAMP.now()
    out.write(orjson.dumps(fields, default=str, option=orjson.OPT_APPEND_NEWLINE))
    if flush:
        out.flush()
    return True


class Stamp:
    """`shield.observe.logs.timestamp` (structlog's TimeStamper's text; tests/observe compares `at` with
    `logs.iso_utc`), compiled, with the text of the current second kept: one strftime per second,
    and the microseconds as text without a format spec (`{us:06d}` went through snprintf: ~6k
    instructions of a decision line). `add` appends it to a line's pieces, already encoded: the
    second's bytes and two kept 3-digit pieces (~2.8k instructions a line went to ~0.6k, callgrind)."""

    def __init__(self) -> None:
        self.second = -1
        self.text = ""
        self.encoded = b""  # self.text's bytes

    def now(self) -> str:
        return self.at(time.time_ns() // 1000)

    def at(self, epoch_us: int) -> str:
        sec = epoch_us // 1_000_000
        us = epoch_us % 1_000_000  # not epoch_us - sec * 1_000_000: that product takes mypyc's boxed path
        if sec != self.second:
            self._new_second(sec)
        if us:
            return f"{self.text}.{str(us + 1_000_000)[1:]}Z"  # 1_000_000 + us: the leading zeros
        return f"{self.text}Z"

    def add(self, p: list[bytes]) -> None:
        """`now()`'s text, encoded, appended to a line's pieces."""
        self.add_at(p, time.time_ns() // 1000)

    def add_at(self, p: list[bytes], epoch_us: int) -> None:
        """`at(epoch_us).encode()` appended to `p` in pieces (tests/observe holds them to `at`)."""
        sec = epoch_us // 1_000_000
        us = epoch_us % 1_000_000
        if sec != self.second:
            self._new_second(sec)
        p.append(self.encoded)
        if us:
            p.append(_DOT_MS[us // 1000])
            p.append(_DIGITS3[us % 1000])
        p.append(b"Z")

    def _new_second(self, sec: int) -> None:
        self.text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        self.encoded = self.text.encode()
        self.second = sec


# the stamp's microseconds as two kept pieces: ".mmm" and "uuu" (zero-padded)
_DIGITS3: Final = tuple(str(1000 + n)[1:].encode() for n in range(1000))
_DOT_MS: Final = tuple(b"." + d for d in _DIGITS3)


_STAMP = Stamp()


def request_fields(facts: Facts, *, host: str | None) -> dict[str, Any]:
    """What the request looked like (schema 2): method, path, host, user agent, TLS fingerprint.

    The TLS fingerprint is the JA3/JA4 value the TLS terminator put in `client.tls_fingerprint_header`.
    The path carries no query string (it may hold tokens); the log redaction masks `name=value` in it.
    """
    values = _as_dict(facts)  # typed dict: mypyc's direct lookups
    tls = values.get("fp.ja4", values.get("fp.ja3"))
    return {
        "method": values.get("request.method"),
        "path": _cut(values.get("request.path")),
        "host": _cut(host),
        "user_agent": _cut(values.get("ua")) or None,
        "tls_fingerprint": _cut(tls),
    }


def refused_request_fields(request: web.Request) -> dict[str, Any]:
    """The schema-2 request fields of a request refused before its facts were built (the ban fast path)."""
    return refused_head_fields(request.method, request.path, request.host, request.headers.get("User-Agent"))


def refused_head_fields(method: str, path: str, host: str | None, user_agent: str | None) -> dict[str, Any]:
    """`refused_request_fields` from what the request's head says: its method, decoded path, host and
    user agent (shield.proxy.ban_wire answers below aiohttp, from the parsed head)."""
    return {
        "method": method,
        "path": _cut(path),
        "host": _cut(host),
        "user_agent": _cut(user_agent),
        "tls_fingerprint": None,  # security: read only from trusted proxies, in the facts the fast path skips
    }


def _as_dict(facts: Facts) -> dict[str, FactValue]:
    """The facts as a dict (the pipeline's are one): compiled, a dict's get is a direct lookup, a Mapping's
    a method call."""
    return facts if isinstance(facts, dict) else dict(facts)


def _cut(value: object) -> str | None:
    return value[:MAX_TEXT] if isinstance(value, str) else None


def ban_fields(ban: Ban, now: float) -> dict[str, Any]:
    """What the SOC needs about the ban that refused a request (its value is the client's own address,
    subnet, ASN, account id or fingerprint, already on the line)."""
    return {
        "ban_scope": ban.scope,
        "ban_reason": ban.reason,
        "ban_source": ban.source,
        "ban_ttl_s": round(max(0.0, ban.expires_at - now), 3),
    }


def ban_refusal_fields(
    *,
    request_id: str,
    route: str,
    client_ip: str,
    subnet: str,
    ban: Ban,
    ruleset: str,
    store_degraded: bool,
    timings: Timings,
    now: float,
) -> dict[str, Any]:
    """The decision line of a request refused on the ban fast path, before its body was read.

    Same fields as `decision_fields`; what only the body or enrichment would tell is null.
    """
    fields: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "request_id": request_id,
        "route": route,
        "client_ip": client_ip,
        "subnet": subnet,
        "country": None,
        "asn": None,
        "asn_org": None,
        "account_id": None,
        "fingerprint": None,
        "device_id": None,
        "ua_family": None,
        "score": 0,
        "evidence": {},
        "action": "ban",
        "enforced": True,
        "rules": [],
        "shadow_rules": [],
        "shadow_action": None,
        "ruleset": ruleset,
        "challenge": "none",
        "status": 403,
        "upstream_status": None,
        "outcome": "unknown",
        "malformed": False,
        "store_degraded": store_degraded,
        "shield_ms": round(timings.shield_ms, 3),
        "store_ms": round(timings.store_ms, 3),
        "upstream_ms": None,
        "duration_ms": round(timings.total_ms, 3),
    }
    fields.update(ban_fields(ban, now))
    return fields
