"""Facts on record: what a decision line keeps of the facts, and what it never keeps."""

from __future__ import annotations

from typing import Any

import pytest

from shield.model import Action, Decision, FactValue
from shield.observe.fact_record import FACTS_SCHEMA, MAX_TEXT, fact_record

FACTS: dict[str, FactValue] = {
    "account": "alice@example.com",
    "account.known": True,
    "ip.asn": 64540,
    "ip.failures_10m": 0,
    "ip.attempts_1m": 3,
    "site.attempts_5m": 0,
    "fp.reasons": frozenset({"no_user_agent", "chrome_without_sec_ch_ua"}),
    "ua": "x" * 5000,
    "ip.version": 4,
    "challenge.solved": False,
    "challenge.passed": True,
}
ALLOW = Decision(action=Action.ALLOW, score=0)


def record(scope: Any, *, reads: frozenset[str] = frozenset(), clear: bool = False, d: Decision = ALLOW) -> Any:
    return fact_record(FACTS, d, reads=reads, scope=scope, account_in_clear=clear)


def test_rules_scope_keeps_only_the_facts_the_rules_read_and_the_challenge_state() -> None:
    r = record("rules", reads=frozenset({"ip.failures_10m", "ip.asn", "ip.tor"}))
    assert r == {"v": FACTS_SCHEMA, "scope": "rules", "values": {
        "challenge.passed": True, "challenge.solved": False, "ip.asn": 64540, "ip.failures_10m": 0}}


def test_catalog_scope_keeps_every_fact_but_counters_at_zero() -> None:
    values = record("catalog")["values"]
    assert "ip.failures_10m" not in values
    assert "site.attempts_5m" not in values
    assert (values["ip.attempts_1m"], values["ip.version"], values["account.known"]) == (3, 4, True)


def test_off_records_nothing() -> None:
    assert record("off") is None


@pytest.mark.parametrize("scope", ["rules", "catalog"])
def test_the_account_name_is_on_record_only_in_clear_mode(scope: str) -> None:
    reads = frozenset({"account"})
    assert "account" not in record(scope, reads=reads)["values"]
    assert record(scope, reads=reads, clear=True)["values"]["account"] == "alice@example.com"


def test_sets_are_sorted_lists_and_client_text_is_cut() -> None:
    values = record("rules", reads=frozenset({"fp.reasons", "ua"}))["values"]
    assert values["fp.reasons"] == ["chrome_without_sec_ch_ua", "no_user_agent"]
    assert values["ua"] == "x" * MAX_TEXT


def test_an_active_ban_is_on_record() -> None:
    banned = Decision(action=Action.BAN, score=0, reasons=("banned:subnet",))
    assert record("rules", d=banned)["ban"] == "subnet"
    assert "ban" not in record("rules")


def test_client_text_is_masked_like_any_log_text() -> None:
    facts: dict[str, FactValue] = {"ua": "Mozilla/5.0 (password=hunter2)"}
    values = fact_record(facts, ALLOW, reads=frozenset({"ua"}), scope="rules", account_in_clear=False)["values"]
    assert values["ua"] == "Mozilla/5.0 (password=[redacted])"


def test_no_fact_name_is_a_key_the_log_would_mask() -> None:
    from shield.facts.catalog import catalog
    from shield.observe.logs import _is_sensitive

    assert [name for name in catalog() if _is_sensitive(name)] == []


def test_the_record_passes_the_redaction_processor_untouched() -> None:
    from shield.observe.logs import redaction_processor

    r = record("rules", reads=frozenset({"ip.asn"}))
    assert redaction_processor(None, "info", {"facts": r})["facts"] is r


@pytest.mark.parametrize("clear", [False, True], ids=["hashed", "in_clear"])
def test_the_rules_scope_fast_path_records_what_the_general_loop_records(clear: bool) -> None:
    from shield.observe.fact_record import _names, _values

    facts: dict[str, FactValue] = {
        **FACTS, "ua": f"curl password={'x' * 300}", "ip.failures_2h": 4, "ip.country": "JP", "ip.address": "10.0.0.1",
        "account.new_asn": True, "site.unknown_ratio_5m": 0.5,
    }
    reads = frozenset({*facts, "ip.tor", "fp.inconsistent"})  # two absent
    r = fact_record(facts, ALLOW, reads=reads, scope="rules", account_in_clear=clear)
    assert r["values"] == _values(facts, _names(reads), skip_zero_counters=False, account_in_clear=clear)
    assert list(r["values"]) == sorted(r["values"])
    assert ("account" in r["values"]) is clear
