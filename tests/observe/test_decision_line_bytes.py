"""log_decision's direct line, byte for byte the line its builders make (decision_fields + fact_record +
request_fields through write_decision: the SOC's contract, docs/decision-log.md), for generated requests."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from shield.facts.catalog import catalog
from shield.model import Action, Attempt, Ban, Decision, Outcome, RuleHit
from shield.observe.decision_log import (
    Stamp,
    Timings,
    decision_fields,
    log_ban_added,
    log_decision,
    request_fields,
    round3,
    write_ban_added,
    write_decision,
)
from shield.observe.fact_record import fact_record, record_parts
from shield.observe.logs import RequestLines, iso_utc

PASSWORD = "hunter2-S3cret!"

# text a client, a config or a database chooses: plain, with a secret's name, non-ASCII, JSON escapes
TEXT = st.one_of(
    st.sampled_from([
        "login", "/api/login", "shop.example:443", f"password={PASSWORD}", f"a;token: {PASSWORD}",
        f"Cookie: {PASSWORD}", "pa\u017f\u017fword=x1", "x-api-\u212aey: k1", "Mozilla/5.0 (X11; Linux x86_64)",
        'quote" back\\slash', "tab\tnew\nline\x00", "", "\u00e9t\u00e9=1",
    ]),
    st.text(max_size=40),
    st.text(alphabet="ab:=;&\" passwordtokenCOOKIE", max_size=30),
)
OPT_TEXT = st.none() | TEXT
# timings and TTLs: zero, tiny, ties in thousandths and their neighbours, large, negative
MS = st.one_of(
    st.floats(min_value=0.0, max_value=1e7, allow_nan=False),
    st.integers(0, 10**7).map(lambda k: (k + 0.5) / 1000),
    st.integers(0, 10**7).flatmap(lambda k: st.sampled_from(
        [math.nextafter((k + 0.5) / 1000, 0.0), math.nextafter((k + 0.5) / 1000, math.inf)])),
    st.sampled_from([0.0, -0.0, 5e-324, 1e-7, 0.0005, 0.0015, 999999.9995, 1e9, 1e300]),
)
FACT_NAMES = [
    "ip.attempts_5m", "pair.noise_2h", "ip.attempts_1m", "ip.failures_10m", "account.known", "ip.tor",
    "site.unknown_ratio_5m", "fp.reasons", "ua", "request.path", "account", "account.new_asn", "ip.asn",
    "challenge.solved", "challenge.passed", "ip.country", "ip.asn_org", "ua.family", "request.method", "fp.ja4",
    "fp.ja3", "ip.version", "site.attack_level",
]
VALUE = st.one_of(st.integers(-5, 10**6), st.booleans(), st.floats(allow_nan=False, allow_infinity=False), TEXT)
# the catalog's type of each name (tests/facts/test_build.py holds the producers to it), but any value for
# a name it does not know (a counter of another window): those are encoded and masked
TYPED: dict[str, st.SearchStrategy[Any]] = {
    "int": st.integers(-5, 2**40), "bool": st.booleans(),
    "float": st.floats(allow_nan=False, allow_infinity=False),
    "str": TEXT,
    "strset": st.frozensets(st.sampled_from(["no_user_agent", "browser_without_accept_language"])),  # a vocabulary
}


def _value(name: str) -> st.SearchStrategy[Any]:
    spec = catalog().get(name)
    return st.none() | (TYPED.get(spec.type, VALUE) if spec is not None else VALUE)


FACTS = st.lists(st.sampled_from(FACT_NAMES), unique=True).flatmap(
    lambda names: st.fixed_dictionaries({name: _value(name) for name in names})
)
HITS = st.lists(
    st.builds(RuleHit, st.sampled_from(["ip_attempts_1m", "fp_surge", "asn_low_success"]), st.integers(-50, 200)),
    max_size=4,
).map(tuple)
ACTIONS = st.sampled_from(list(Action))


@st.composite
def requests(draw: st.DrawFn) -> tuple[Any, ...]:
    attempt = Attempt(
        request_id=draw(TEXT), route=draw(TEXT), client_ip=draw(st.sampled_from(["198.18.0.1", "2001:db8::1"])),
        subnet=draw(st.sampled_from(["198.18.0.0/24", "2001:db8::/48"])), account=draw(OPT_TEXT),
        account_id=draw(st.none() | st.just("zAWyTT88VZ8jbDCYRbIwOQ")), password_id="p", pair_id="q",
        fingerprint=draw(st.sampled_from(["e6b9c9d3b26b", ""])), device_id=draw(OPT_TEXT),
        malformed=draw(st.booleans()),
    )
    facts = draw(FACTS)
    reads = frozenset(draw(st.lists(st.sampled_from(FACT_NAMES))))
    decision = Decision(
        action=draw(ACTIONS), score=draw(st.integers(-10, 500)), hits=draw(HITS), shadow_hits=draw(HITS),
        shadow_action=draw(st.none() | ACTIONS), ruleset=draw(st.sampled_from(["6f2c6927c0cf", ""])),
        ban_scope=draw(st.none() | st.sampled_from(["ip", "subnet"])), ban_ttl=draw(MS),
        reasons=tuple(draw(st.lists(st.sampled_from(["banned:ip", "banned:asn", "rule", "score"]), max_size=2))),
        scores_by_class=draw(st.dictionaries(st.sampled_from(["client", "crowd", "account"]), st.integers(0, 200))),
    )
    ban = draw(st.none() | st.builds(
        Ban, st.sampled_from(["ip", "asn"]), st.just("198.18.0.1"), TEXT, st.just(900.0), MS,
        source=TEXT,
    ))
    upstream_ms = draw(st.none() | MS)
    return (
        attempt, facts, decision, draw(TEXT), draw(st.sampled_from([200, 403, 429])), draw(st.none() | st.just(401)),
        draw(st.sampled_from(list(Outcome))), Timings(draw(MS), draw(MS), upstream_ms, draw(MS)), draw(st.booleans()),
        draw(st.booleans()), draw(st.sampled_from(["rules", "catalog", "off"])), reads, ban, draw(MS), draw(OPT_TEXT),
    )


@pytest.fixture
def stream() -> Iterator[io.BytesIO]:
    out = io.BytesIO()
    RequestLines.stream = out
    yield out
    RequestLines.stream = None


_TS = re.compile(rb',"ts":"[0-9T:.-]+Z"}\n$')


def _built_line(args: tuple[Any, ...], out: io.BytesIO) -> bytes:
    """The line of the builders, as the direct path wrote it before it built the line itself."""
    (attempt, facts, decision, challenge, status, upstream_status, outcome, timings, degraded, clear, scope, reads,
     ban, now, host) = args
    record = fact_record(facts, decision, reads=reads, scope=scope, account_in_clear=clear)
    fields = decision_fields(
        attempt, facts, decision, challenge=challenge, status=status, upstream_status=upstream_status,
        outcome=outcome, timings=timings, store_degraded=degraded, account_in_clear=clear, ban=ban, now=now,
        facts_record=record,
    )
    fields.update(request_fields(facts, host=host))
    start = out.tell()
    assert write_decision(fields)
    return out.getvalue()[start:]


def _logged_line(args: tuple[Any, ...], out: io.BytesIO) -> bytes:
    start = out.tell()
    assert log_decision(*args) is None
    return out.getvalue()[start:]


def _without_ts(line: bytes) -> bytes:
    assert _TS.search(line), line[-60:]
    return _TS.sub(b"}\n", line)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(args=requests())
def test_the_direct_line_is_the_builders_line_byte_for_byte(stream: io.BytesIO, args: tuple[Any, ...]) -> None:
    built = _built_line(args, stream)
    logged = _logged_line(args, stream)
    assert _without_ts(logged) == _without_ts(built)
    assert PASSWORD.encode() not in logged


def test_a_banning_request_with_every_field_is_the_builders_line(stream: io.BytesIO) -> None:
    attempt = Attempt(
        request_id="r1", route="login", client_ip="198.18.37.17", subnet="198.18.37.0/24", account="alice",
        account_id="fp4PGzpikWJcsyEk4DHvuA", password_id="p", pair_id="q", fingerprint="f22c8be694fd",
        device_id=None, malformed=False,
    )
    facts: dict[str, Any] = {
        "ip.country": "JP", "ip.asn": 64500, "ip.asn_org": "Demo Mobile East JP", "ua.family": "Mobile Safari",
        "ua": "Mozilla/5.0 (iPhone)", "request.method": "POST", "request.path": "/api/login",
        "ip.attempts_1m": 1, "site.unknown_ratio_5m": 1.0, "fp.reasons": frozenset({"no_user_agent"}),
        "account.known": False,
    }
    decision = Decision(
        action=Action.BAN, score=140, hits=(RuleHit("fp_surge", 25), RuleHit("asn_low_success", 50)),
        ruleset="6f2c6927c0cf", ban_scope="ip", ban_ttl=600.0, scores_by_class={"client": 20, "crowd": 120},
    )
    args = (attempt, facts, decision, "none", 403, None, Outcome.UNKNOWN, Timings(0.1154, 0.0371, None, 0.1435),
            False, True, "rules", frozenset(facts) | {"account.new_asn"}, None, 1000.0, "127.0.0.1:55425")
    built, logged = _built_line(args, stream), _logged_line(args, stream)
    assert _without_ts(logged) == _without_ts(built)
    line = orjson.loads(logged)
    # 0.1435 is a little below 0.1435 as a float
    assert (line["shield_ms"], line["duration_ms"], line["account"]) == (0.115, 0.143, "alice")


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    request_id=TEXT,
    scope=st.sampled_from(["ip", "subnet", "asn", "account", "fingerprint"]),
    value=st.sampled_from(["198.18.0.1", "2001:db8::/48", "64535", "zAWyTT88VZ8jbDCYRbIwOQ", "e6b9c9d3b26b"]),
    ttl_s=st.one_of(MS, st.sampled_from([3600.0, 3599.9999999990687, 86400.0])),
    offenses=st.integers(1, 10**6),
    reason=TEXT | st.lists(st.sampled_from(["fp_surge", "password_spray_1h"]), min_size=1).map(",".join),
)
@example(request_id="r3", scope="ip", value="198.18.3.7", ttl_s=3600.0, offenses=1, reason="fp_surge,score",
         ).via("a wave's ban")
def test_the_direct_ban_added_line_is_write_ban_added_byte_for_byte(
    stream: io.BytesIO, request_id: str, scope: str, value: str, ttl_s: float, offenses: int, reason: str
) -> None:
    start = stream.tell()
    assert write_ban_added({
        "request_id": request_id, "scope": scope, "value": value, "ttl_s": ttl_s, "offenses": offenses,
        "reason": reason, "source": "rules",
    })
    built = stream.getvalue()[start:]
    start = stream.tell()
    assert log_ban_added(request_id, scope, value, ttl_s, offenses, reason) is None
    logged = stream.getvalue()[start:]
    assert _without_ts(logged) == _without_ts(built)
    assert PASSWORD.encode() not in logged


@settings(max_examples=3000)
@given(st.one_of(MS, st.floats()))
@example(0.0005)
@example(0.0015)
@example(2.0025)
@example(-0.0)
@example(math.nan)
@example(-1.2345)
def test_round3_is_round_to_three_digits(value: float) -> None:
    expected = round(value, 3)
    assert orjson.dumps(round3(value)) == orjson.dumps(expected)
    assert math.copysign(1.0, round3(value)) == math.copysign(1.0, expected) or math.isnan(expected)


@given(st.integers(0, 4_102_444_800_000_000))
@example(1_796_584_222_000_000)
@example(1_796_584_222_000_001)
@example(999_999)
def test_the_stamp_is_datetime_isoformat(epoch_us: int) -> None:
    expected = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=epoch_us)).isoformat()
    assert Stamp().at(epoch_us) == iso_utc(epoch_us) == expected.replace("+00:00", "Z")
    pieces: list[bytes] = []
    Stamp().add_at(pieces, epoch_us)  # the lines' encoded pieces
    assert b"".join(pieces) == expected.replace("+00:00", "Z").encode()


@settings(max_examples=500)
@given(
    facts=FACTS,
    reads=st.frozensets(st.sampled_from(FACT_NAMES)),
    reasons=st.lists(st.sampled_from(["banned:ip", "rule"]), max_size=2),
    scope=st.sampled_from(["rules", "catalog", "off"]),
    clear=st.booleans(),
)
def test_the_record_pieces_are_the_fact_record(
    facts: dict[str, Any], reads: frozenset[str], reasons: list[str], scope: Any, clear: bool
) -> None:
    decision = Decision(action=Action.ALLOW, score=0, reasons=tuple(reasons))
    old = fact_record(facts, decision, reads=reads, scope=scope, account_in_clear=clear)
    expected = b"" if old is None else b',"facts":' + orjson.dumps(old, default=str)
    for _ in range(2):  # the second from the rule set's kept names and the kept pieces
        parts: list[bytes] = []
        record_parts(parts, facts, decision, reads=reads, scope=scope, account_in_clear=clear)
        assert b"".join(parts) == expected


def test_the_kept_small_counts_are_each_names_own() -> None:
    """A template keeps `,"name":n` per name for small counts: lines whose names hold the same counts,
    and counts each name held before, are still fact_record's JSON, name by name."""
    names = [n for n in FACT_NAMES if (spec := catalog().get(n)) is not None and spec.type == "int"]
    reads = frozenset(names)
    decision = Decision(action=Action.ALLOW, score=0)
    for line in range(6):
        facts: dict[str, Any] = {n: (2 + (i + line) % 3) if line % 2 else 2 + line for i, n in enumerate(names)}
        old = fact_record(facts, decision, reads=reads, scope="rules", account_in_clear=False)
        parts: list[bytes] = []
        record_parts(parts, facts, decision, reads=reads, scope="rules", account_in_clear=False)
        assert b"".join(parts) == b',"facts":' + orjson.dumps(old, default=str)
