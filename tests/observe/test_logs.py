"""Logs: JSON lines, and no secret ever reaches one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import structlog

from shield.observe.logs import (
    MASK,
    Redacted,
    RequestLines,
    configure_logging,
    redact,
    redact_text,
    reset_logging,
)
from shield.settings.schema import LogSettings

PASSWORD = "hunter2-S3cret!"


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "out.log"
    with path.open("w", encoding="utf-8") as stream:
        configure_logging(LogSettings(format="json", level="debug"), stream=stream)
        yield path
        stream.flush()
    reset_logging()


LEAKS = [
    ("top_level", {"password": PASSWORD}),
    ("nested_dict", {"body": {"user": "a", "credentials": {"Password": PASSWORD}}}),
    ("header_dict", {"headers": {"Authorization": f"Bearer {PASSWORD}", "Cookie": f"s={PASSWORD}"}}),
    ("header_pairs", {"headers": [["Set-Cookie", f"s={PASSWORD}"], ["Shield-Pass", PASSWORD]]}),
    ("list_of_dicts", {"items": [{"token": PASSWORD}, {"admin_token": PASSWORD}]}),
    ("challenge_response", {"shield-challenge-response": PASSWORD}),
    ("free_text_kv", {"detail": f"login failed password={PASSWORD} for alice"}),
    ("free_text_json", {"detail": f'body was {{"username": "a", "password": "{PASSWORD}"}}'}),
    ("free_text_header", {"detail": f"Authorization: Bearer {PASSWORD}"}),
    ("new_password_key", {"new_password": PASSWORD}),
    ("secret_key", {"secret": PASSWORD.encode()}),
]


@pytest.mark.parametrize("fields", [x[1] for x in LEAKS], ids=[x[0] for x in LEAKS])
def test_no_password_reaches_any_line(log_file: Path, fields: dict[str, object]) -> None:
    structlog.get_logger().info("test.event", **fields)
    text = log_file.read_text()
    assert text.strip(), "nothing was logged"
    assert PASSWORD not in text
    assert MASK in text


def test_no_password_reaches_an_exception_line(log_file: Path) -> None:
    try:
        raise ValueError(f"could not parse {{'username': 'a', 'password': '{PASSWORD}'}}")
    except ValueError:
        structlog.get_logger().exception("request.failed", request_id="r1")
    line = orjson.loads(log_file.read_text().splitlines()[-1])
    assert "ValueError" in line["exception"]
    assert PASSWORD not in line["exception"]


def test_lines_are_json_with_utc_ts_and_dotted_event(log_file: Path) -> None:
    structlog.get_logger().info("shield.started", listen="127.0.0.1:8000")
    line = orjson.loads(log_file.read_text().splitlines()[-1])
    assert line["event"] == "shield.started"
    assert line["ts"].endswith("Z")
    assert "T" in line["ts"]
    assert line["level"] == "info"


def test_level_filters(tmp_path: Path) -> None:
    path = tmp_path / "l.log"
    with path.open("w") as stream:
        configure_logging(LogSettings(format="json", level="warning"), stream=stream)
        structlog.get_logger().info("quiet")
        structlog.get_logger().warning("loud")
    reset_logging()
    assert [orjson.loads(x)["event"] for x in path.read_text().splitlines()] == ["loud"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": 1, "pw": {"password": "x"}}, {"a": 1, "pw": {"password": MASK}}),
        ("user=alice", "user=alice"),
        ("token=abc&x=1", f"token={MASK}&x=1"),
    ],
    ids=["nested", "harmless_text", "query_string"],
)
def test_redact(value: object, expected: object) -> None:
    assert redact(value) == expected


def test_redact_text_keeps_the_key_names() -> None:
    assert redact_text("Cookie: sid=1") == f"Cookie: {MASK}"


def _request_fields(path: str) -> dict[str, object]:
    return {
        "request_id": "r1", "client_ip": "10.0.0.1", "method": "GET", "path": path, "route": "passthrough",
        "status": 200, "upstream_status": 200, "bytes": 5, "duration_ms": 1.25,
    }


def test_the_fast_request_line_is_the_structlog_line(log_file: Path) -> None:
    stream = RequestLines.stream
    assert stream is not None  # JSON at debug: the fast path is on
    assert RequestLines.write(_request_fields("/a"))
    RequestLines.stream = None  # the same fields through structlog's pipeline
    structlog.get_logger().info("request", **_request_fields("/a"))
    RequestLines.stream = stream
    fast, slow = (orjson.loads(line) for line in log_file.read_bytes().splitlines())
    assert list(fast) == list(slow)
    assert {k: v for k, v in fast.items() if k != "ts"} == {k: v for k, v in slow.items() if k != "ts"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", fast["ts"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", slow["ts"])


def test_the_fast_request_line_redacts_a_secret_in_the_path(log_file: Path) -> None:
    RequestLines.write(_request_fields(f"/reset;password={PASSWORD}"))
    assert PASSWORD not in log_file.read_text()


@pytest.mark.parametrize(
    "settings", [LogSettings(format="console"), LogSettings(format="json", level="warning")], ids=["console", "quiet"]
)
def test_the_fast_path_is_off_unless_json_lines_at_info(tmp_path: Path, settings: LogSettings) -> None:
    with (tmp_path / "x.log").open("w", encoding="utf-8") as stream:
        configure_logging(settings, stream=stream)
        assert RequestLines.write(_request_fields("/a")) is False
    reset_logging()


def _decision_like() -> dict[str, object]:
    return {
        "schema": 2, "request_id": "r1", "route": "login", "client_ip": "2001:db8::1", "score": 40,
        "rules": [{"id": "ip_attempts_1m", "score": 40}], "shadow_action": None, "shield_ms": 0.412,
        "facts": Redacted({"v": 1, "values": {"ip.attempts_1m": 31}}), "path": f"/login;password={PASSWORD}",
        "user_agent": "curl/8.0 token=abc", "new_password": PASSWORD, "nested": {"Cookie": "sid=1"},
    }


def test_the_fast_event_line_is_the_structlog_line(log_file: Path) -> None:
    stream = RequestLines.stream
    assert RequestLines.write_event("decision", _decision_like())
    RequestLines.stream = None  # the same fields through structlog's pipeline
    structlog.get_logger().info("decision", **_decision_like())
    RequestLines.stream = stream
    fast, slow = (orjson.loads(line) for line in log_file.read_bytes().splitlines())
    assert list(fast) == list(slow)
    assert {k: v for k, v in fast.items() if k != "ts"} == {k: v for k, v in slow.items() if k != "ts"}
    assert PASSWORD not in log_file.read_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", fast["ts"])


def _ban_added_like() -> dict[str, object]:
    return {
        "request_id": "r1", "scope": "ip", "value": "2001:db8::1", "ttl_s": 3600.0, "offenses": 2,
        "reason": "ip_attempts_1m,fp_surge", "source": "rules", "note": f"password={PASSWORD}",
    }


def test_the_fast_warning_line_is_the_structlog_line(log_file: Path) -> None:
    stream = RequestLines.stream
    assert RequestLines.write_event("ban.added", _ban_added_like(), level="warning")
    RequestLines.stream = None  # the same fields through structlog's pipeline
    structlog.get_logger().warning("ban.added", **_ban_added_like())
    RequestLines.stream = stream
    fast, slow = (orjson.loads(line) for line in log_file.read_bytes().splitlines())
    assert list(fast) == list(slow)
    assert {k: v for k, v in fast.items() if k != "ts"} == {k: v for k, v in slow.items() if k != "ts"}
    assert fast["level"] == "warning"
    assert PASSWORD not in log_file.read_text()
