"""The decision line's direct path (write_decision): the very line structlog renders, and no secret."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog

from shield.model import Action, Attempt, Ban, Decision, Outcome, RuleHit
from shield.observe.decision_log import (
    BAN_ADDED_KEYS,
    BUILT_KEYS,
    TEXT_KEYS,
    Stamp,
    Timings,
    ban_refusal_fields,
    decision_fields,
    log_ban_added,
    log_decision,
    refused_request_fields,
    request_fields,
    write_ban_added,
    write_decision,
)
from shield.observe.fact_record import fact_record
from shield.observe.logs import MASK, RedactedList, RequestLines, configure_logging, iso_utc, reset_logging
from shield.settings.schema import LogSettings

PASSWORD = "hunter2-S3cret!"
HOSTILE = f"password={PASSWORD}"


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "out.log"
    with path.open("w", encoding="utf-8") as stream:
        configure_logging(LogSettings(format="json", level="info"), stream=stream)
        yield path
        stream.flush()
    reset_logging()


def _hostile_request() -> tuple[Attempt, dict[str, Any], Decision]:
    """A request where every text a client (or a config, or a database) chooses carries a password."""
    attempt = Attempt(
        request_id=f"r1;{HOSTILE}", route="login", client_ip="2001:db8::1", subnet="2001:db8::/48",
        account=f"alice {HOSTILE}", account_id="zAWyTT88VZ8jbDCYRbIwOQ", password_id="p", pair_id="q",
        fingerprint="e6b9c9d3b26b", device_id=f"dev:{HOSTILE}", malformed=False,
    )
    facts = {
        "ip.country": f"KR {HOSTILE}", "ip.asn": 64535, "ip.asn_org": f"Org token={PASSWORD}",
        "ua.family": f"Cookie: {PASSWORD}", "ua": f"curl/8 secret={PASSWORD}", "request.method": "POST",
        "request.path": f"/login;{HOSTILE}", "fp.ja4": f"t13d {HOSTILE}", "ip.attempts_1m": 3,
        "fp.reasons": frozenset({"no_user_agent"}),
    }
    decision = Decision(
        action=Action.BAN, score=90, hits=(RuleHit("ip_attempts_1m", 60), RuleHit("ua_automation", 30)),
        shadow_hits=(RuleHit("new_rule", 5, shadow=True),), shadow_action=Action.BLOCK, ruleset="6f2c6927c0cf",
        ban_scope="ip", ban_ttl=600, scores_by_class={"client": 60, "crowd": 30}, reasons=("banned:ip",),
    )
    return attempt, facts, decision


def _hostile_line(*, ban: Ban | None = None) -> dict[str, Any]:
    """A decision line where every text a client (or a config, or a database) chooses carries a password."""
    attempt, facts, decision = _hostile_request()
    record = fact_record(facts, decision, reads=frozenset(facts), scope="rules", account_in_clear=True)
    fields = decision_fields(
        attempt, facts, decision, challenge=f"failed:{HOSTILE}", status=403, upstream_status=None,
        outcome=Outcome.UNKNOWN, timings=Timings(0.31234, 0.1, None, 0.5), store_degraded=False,
        account_in_clear=True, facts_record=record, ban=ban, now=1000.0,
    )
    fields.update(request_fields(facts, host=f"shop.example:443/{HOSTILE}"))
    return fields


def _both(
    log_file: Path, fields: dict[str, Any], write: Callable[[dict[str, Any]], bool] = write_decision
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The line on the direct path, and the same fields through structlog's pipeline (the decision
    line at info; write_ban_added's line at warning)."""
    stream = RequestLines.stream
    assert write(dict(fields))
    RequestLines.stream = None
    if write is write_decision:
        structlog.get_logger().info("decision", **fields)
    else:
        structlog.get_logger().warning("ban.added", **fields)
    RequestLines.stream = stream
    fast, slow = (orjson.loads(line) for line in log_file.read_bytes().splitlines())
    return fast, slow


BAN = Ban("ip", "2001:db8::1", reason=f"rule;{HOSTILE}", created_at=900.0, expires_at=1600.0, source=f"admin {HOSTILE}")


@pytest.mark.parametrize("ban", [None, BAN], ids=["rules", "banned"])
def test_the_direct_decision_line_is_the_structlog_line_and_holds_no_password(
    log_file: Path, ban: Ban | None
) -> None:
    fast, slow = _both(log_file, _hostile_line(ban=ban))
    assert list(fast) == list(slow)
    assert {k: v for k, v in fast.items() if k != "ts"} == {k: v for k, v in slow.items() if k != "ts"}
    text = log_file.read_text()
    assert PASSWORD not in text
    assert fast["path"] == f"/login;password={MASK}"


def test_the_ban_refusal_line_is_the_structlog_line(log_file: Path) -> None:
    from aiohttp.test_utils import make_mocked_request

    request = make_mocked_request("POST", f"/login;{HOSTILE}", headers={"User-Agent": HOSTILE, "Host": HOSTILE})
    fields = ban_refusal_fields(
        request_id="r2", route="login", client_ip="192.0.2.1", subnet="192.0.2.0/24", ban=BAN, ruleset="abc",
        store_degraded=True, timings=Timings(0.1, 0.0, None, 0.2), now=1000.0,
    )
    fields.update(refused_request_fields(request))
    fast, slow = _both(log_file, fields)
    assert fast == {**slow, "ts": fast["ts"]}
    assert PASSWORD not in log_file.read_text()


def test_a_key_the_builder_does_not_know_gets_the_full_redaction(log_file: Path) -> None:
    assert write_decision({**_hostile_line(), "new_password": PASSWORD, "detail": {"Cookie": PASSWORD}})
    line = orjson.loads(log_file.read_bytes())
    assert line["new_password"] == MASK
    assert line["detail"] == {"Cookie": MASK}
    assert PASSWORD not in log_file.read_text()


@pytest.mark.parametrize(
    "epoch_us", [0, 1, 999_999, 1_000_000, 1_796_584_222_000_000, 1_796_584_222_123_456, 1_796_584_223_000_001]
)
def test_the_timestamp_is_datetime_isoformat(epoch_us: int) -> None:
    expected = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=epoch_us)).isoformat()
    assert iso_utc(epoch_us) == expected.replace("+00:00", "Z")


def test_the_direct_lines_timestamp_is_the_logs_one_across_seconds() -> None:
    """decision_log's compiled Stamp keeps the current second's text: the same text as logs.iso_utc,
    in order, back in time (a clock step), and on every second's first and last microsecond."""
    stamp = Stamp()
    times = [0, 1, 999_999, 1_000_000, 1_796_584_222_000_000, 1_796_584_222_123_456, 1_796_584_222_999_999,
             1_796_584_223_000_001, 1_796_584_222_500_000, 1_796_584_223_000_000]
    assert [stamp.at(us) for us in times] == [iso_utc(us) for us in times]
    pieces = Stamp()  # the lines' encoded pieces, their own second kept the same way
    encoded = []
    for us in times:
        p: list[bytes] = []
        pieces.add_at(p, us)
        encoded.append(b"".join(p))
    assert encoded == [iso_utc(us).encode() for us in times]


def _benign_line() -> dict[str, Any]:
    """A decision line whose text values hold no secret (and no `:` or `=`)."""
    fields = {key: f"plain {key}" for key in TEXT_KEYS}
    fields.update({"schema": 3, "score": 10, "status": 403, "rules": RedactedList([{"id": "a", "score": 10}])})
    return fields


@pytest.mark.parametrize("value", [HOSTILE, "pa\u017f\u017fword=x1", "x-api-\u212aey: k1", "shop.example:8443"])
@pytest.mark.parametrize("key", TEXT_KEYS)
def test_one_text_value_is_masked_as_structlog_masks_it(log_file: Path, key: str, value: str) -> None:
    fast, slow = _both(log_file, {**_benign_line(), key: value})
    assert fast == {**slow, "ts": fast["ts"]}
    text = log_file.read_text()
    assert "x1" not in text
    assert "k1" not in text


def _ban_added(**values: Any) -> dict[str, Any]:
    """The fields shield.proxy.pipeline's `_ban` logs, in its order."""
    fields: dict[str, Any] = {
        "request_id": "r3", "scope": "subnet", "value": "198.18.3.0/24", "ttl_s": 599.75, "offenses": 2,
        "reason": "ip_failures_10m,subnet_spray", "source": "rules",
    }
    return {**fields, **values}


@pytest.mark.parametrize(
    "fields",
    [
        _ban_added(), _ban_added(request_id=f"r3:{HOSTILE}"), _ban_added(reason=HOSTILE),
        _ban_added(scope="asn", value="64535"),
    ],
    ids=["plain", "request_id", "reason", "asn"],
)
def test_the_direct_ban_added_line_is_the_structlog_warning_line(log_file: Path, fields: dict[str, Any]) -> None:
    assert fields.keys() <= BAN_ADDED_KEYS
    fast, slow = _both(log_file, fields, write_ban_added)
    assert list(fast) == list(slow)
    assert {k: v for k, v in fast.items() if k != "ts"} == {k: v for k, v in slow.items() if k != "ts"}
    assert fast["level"] == "warning"
    assert PASSWORD not in log_file.read_text()


def test_a_ban_added_key_the_builder_does_not_know_gets_the_full_redaction(log_file: Path) -> None:
    assert write_ban_added(_ban_added(note=HOSTILE, new_password=PASSWORD))
    line = orjson.loads(log_file.read_bytes())
    assert line["new_password"] == MASK
    assert line["note"] == f"password={MASK}"
    assert PASSWORD not in log_file.read_text()


class Text(str):
    """A str subclass (a library's string type): masked as a str is."""


@pytest.mark.parametrize("key", ["path", "user_agent", "host"])
def test_a_str_subclass_among_other_values_is_masked_as_structlog_masks_it(log_file: Path, key: str) -> None:
    fields = {**_benign_line(), "country": None, "asn_org": 64500, key: Text(HOSTILE)}
    fast, slow = _both(log_file, fields)
    assert fast == {**slow, "ts": fast["ts"]}
    assert fast[key] == f"password={MASK}"
    assert PASSWORD not in log_file.read_text()


def _logged_decision(ban: Ban | None, *, account_in_clear: bool = True) -> dict[str, Any] | None:
    """The hostile request's line through `log_decision`, the pipeline's call."""
    attempt, facts, decision = _hostile_request()
    return log_decision(
        attempt, facts, decision, f"failed:{HOSTILE}", 403, None, Outcome.UNKNOWN, Timings(0.31234, 0.1, None, 0.5),
        False, account_in_clear, "rules", frozenset(facts), ban, 1000.0, f"shop.example:443/{HOSTILE}",
    )


@pytest.mark.parametrize("ban", [None, BAN], ids=["rules", "banned"])
def test_the_pipeline_s_decision_line_is_the_line_its_builders_make(log_file: Path, ban: Ban | None) -> None:
    assert _logged_decision(ban) is None  # written
    assert write_decision(_hostile_line(ban=ban))
    logged, built = (orjson.loads(line) for line in log_file.read_bytes().splitlines())
    assert list(logged) == list(built)
    assert {k: v for k, v in logged.items() if k != "ts"} == {k: v for k, v in built.items() if k != "ts"}
    assert PASSWORD not in log_file.read_text()


@pytest.mark.parametrize("ban", [None, BAN], ids=["rules", "banned"])
@pytest.mark.parametrize("account_in_clear", [True, False], ids=["account", "no-account"])
def test_every_key_of_the_pipeline_s_decision_line_is_one_the_direct_path_vouches_for(
    ban: Ban | None, account_in_clear: bool
) -> None:
    """log_decision skips write_decision's key check: every key its builders can make must be known."""
    fields = _logged_decision(ban, account_in_clear=account_in_clear)  # no stream: the fields come back
    assert fields is not None
    assert fields.keys() <= BUILT_KEYS | set(TEXT_KEYS)


def test_without_the_direct_path_the_pipeline_gets_the_lines_fields_back() -> None:
    reset_logging()
    assert RequestLines.stream is None
    fields = _logged_decision(None)
    assert fields is not None
    assert fields == _hostile_line()
    assert log_ban_added("r3", "ip", "198.18.3.4", 600.0, 1, "ip_failures_10m") == _ban_added(
        scope="ip", value="198.18.3.4", ttl_s=600.0, offenses=1, reason="ip_failures_10m"
    )


@pytest.mark.parametrize(
    "fields", [_ban_added(), _ban_added(request_id=f"r3:{HOSTILE}"), _ban_added(reason=HOSTILE)],
    ids=["plain", "request_id", "reason"],
)
def test_the_pipeline_s_ban_added_line_is_write_ban_added_s(log_file: Path, fields: dict[str, Any]) -> None:
    args = [fields[key] for key in ("request_id", "scope", "value", "ttl_s", "offenses", "reason")]
    assert log_ban_added(*args) is None
    assert write_ban_added(dict(fields))
    logged, written = (orjson.loads(line) for line in log_file.read_bytes().splitlines())
    assert list(logged) == list(written)
    assert {k: v for k, v in logged.items() if k != "ts"} == {k: v for k, v in written.items() if k != "ts"}
    assert PASSWORD not in log_file.read_text()


def test_the_ban_added_line_reaches_the_stream_with_its_decision_line_in_order(log_file: Path) -> None:
    """One write per banning request: the ban.added line waits for the decision line's flush."""
    assert log_ban_added("r4", "ip", "198.18.3.4", 600.0, 1, "ip_failures_10m") is None
    assert _logged_decision(None) is None
    lines = [orjson.loads(line) for line in log_file.read_bytes().splitlines()]
    assert [line["event"] for line in lines] == ["ban.added", "decision"]
