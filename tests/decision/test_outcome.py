"""Outcome classification: header first, then the JSON field, then the status codes."""

from __future__ import annotations

import pytest

from shield.decision.outcome import classify
from shield.model import Outcome
from shield.settings.schema import OutcomeSettings, ValueMatch

STATUS_ONLY = OutcomeSettings()
WITH_JSON = OutcomeSettings(json=ValueMatch("result.status", success=("ok",), failure=("bad_credentials",)))
WITH_BOOL = OutcomeSettings(json=ValueMatch("success", success=("true",), failure=("false",)))
WITH_HEADER = OutcomeSettings(
    header=ValueMatch("X-Login-Result", success=("success",), failure=("failure",)),
    json=ValueMatch("result.status", success=("ok",), failure=("bad_credentials",)),
)
JSON = "application/json; charset=utf-8"


@pytest.mark.parametrize(
    ("settings", "status", "headers", "body", "ctype", "expected"),
    [
        (STATUS_ONLY, 200, {}, None, None, Outcome.SUCCESS),
        (STATUS_ONLY, 401, {}, None, None, Outcome.FAILURE),
        (STATUS_ONLY, 403, {}, None, None, Outcome.FAILURE),
        (STATUS_ONLY, 500, {}, None, None, Outcome.UNKNOWN),
        (STATUS_ONLY, 302, {}, None, None, Outcome.UNKNOWN),
        (WITH_JSON, 200, {}, b'{"result": {"status": "bad_credentials"}}', JSON, Outcome.FAILURE),
        (WITH_JSON, 200, {}, b'{"result": {"status": "ok"}}', JSON, Outcome.SUCCESS),
        (WITH_JSON, 200, {}, b'{"result": {"status": "mfa_required"}}', JSON, Outcome.SUCCESS),
        (WITH_JSON, 200, {}, b'{"result": {"status": "bad_credentials"}}', "text/html", Outcome.SUCCESS),
        (WITH_JSON, 200, {}, b'{"result": {"stat', JSON, Outcome.SUCCESS),
        (WITH_JSON, 401, {}, b"[1, 2]", JSON, Outcome.FAILURE),
        (WITH_BOOL, 200, {}, b'{"success": false}', "application/problem+json", Outcome.FAILURE),
        (WITH_HEADER, 200, {"x-login-result": "failure"}, b'{"result": {"status": "ok"}}', JSON, Outcome.FAILURE),
        (WITH_HEADER, 401, {"X-Login-Result": " success "}, None, None, Outcome.SUCCESS),
        (
            WITH_HEADER,
            200,
            {"X-Login-Result": "other"},
            b'{"result": {"status": "bad_credentials"}}',
            JSON,
            Outcome.FAILURE,
        ),
        (WITH_HEADER, 418, {}, None, None, Outcome.UNKNOWN),
    ],
    ids=[
        "200_is_success",
        "401_is_failure",
        "403_is_failure",
        "500_is_unknown",
        "redirect_is_unknown_by_default",
        "json_failure_overrides_200",
        "json_success",
        "json_other_value_falls_back_to_status",
        "json_field_ignored_when_body_is_not_json",
        "truncated_json_falls_back_to_status",
        "json_without_the_field_falls_back_to_status",
        "json_boolean_field_and_plus_json_type",
        "header_wins_over_json_case_insensitive",
        "header_wins_over_status",
        "unmatched_header_falls_through_to_json",
        "nothing_matches_is_unknown",
    ],
)
def test_classify(
    settings: OutcomeSettings,
    status: int,
    headers: dict[str, str],
    body: bytes | None,
    ctype: str | None,
    expected: Outcome,
) -> None:
    assert classify(settings, status, headers, body, ctype) is expected
