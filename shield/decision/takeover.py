"""Account takeover: the login that succeeds after a stuffing run found the right password.

Pure: facts and policy in, a reason out. Two shapes, both computable BEFORE the request is
forwarded (so the app is told on the very login it is about to accept):

- `failures_from_many_addresses`: the account had `failures` or more failed logins in `window`
  from `addresses` or more distinct addresses (this attempt's address included). A leaked list
  worked through rotating proxies hits one account from many places; its owner mistyping does not.
- `new_device_new_country_in_wave`: a known account from a device and a country it never used,
  while the whole site is under a credential-stuffing wave (site.attack_level >= wave_level).

The risk travels to the app as `takeover_risk` in `Shield-Reasons` (the app steps up with a
second factor before it opens a session). When the upstream then answers success, the pipeline
writes a `takeover.suspected` event line and counts `shield_takeover_suspected_total`.
"""

from __future__ import annotations

from shield.model import Decision, Facts, Outcome, TakeoverPolicy

RISK_REASON = "takeover_risk"  # the Shield-Reasons tag the app sees


def takeover_risk(facts: Facts, policy: TakeoverPolicy) -> str | None:
    """Why this attempt would be a takeover if it succeeds, or None."""
    failures = facts.get(f"account.failures_{policy.window}")
    addresses = facts.get(f"account.distinct_ips_{policy.window}")
    if (
        isinstance(failures, int) and isinstance(addresses, int)
        and failures >= policy.failures and addresses >= policy.addresses
    ):
        return "failures_from_many_addresses"
    level = facts.get("site.attack_level")
    if (
        policy.wave_level > 0 and isinstance(level, int) and level >= policy.wave_level
        and facts.get("account.new_device") is True and facts.get("account.new_country") is True
    ):
        return "new_device_new_country_in_wave"
    return None


def suspected(risk: str | None, outcome: Outcome) -> bool:
    """A risky attempt the upstream accepted: the moment the SOC must hear about."""
    return risk is not None and outcome is Outcome.SUCCESS


def with_risk_tag(tags: dict[str, str] | None, decision: Decision) -> dict[str, str]:
    """The upstream tag headers with `takeover_risk` added to Shield-Reasons (headers made if none)."""
    out = dict(tags) if tags else {"Shield-Score": str(decision.score), "Shield-Action": decision.action.value}
    reasons = [r for r in out.get("Shield-Reasons", "").split(",") if r]
    out["Shield-Reasons"] = ",".join([*reasons, RISK_REASON])
    return out


def event_fields(risk: str, facts: Facts, policy: TakeoverPolicy) -> dict[str, object]:
    """The `takeover.suspected` line's evidence (keyed ids and counts only, never a secret)."""
    return {
        "reason": risk,
        "country": facts.get("ip.country"),
        "failures": facts.get(f"account.failures_{policy.window}"),
        "addresses": facts.get(f"account.distinct_ips_{policy.window}"),
        "window": policy.window,
        "new_device": facts.get("account.new_device"),
        "new_country": facts.get("account.new_country"),
        "attack_level": facts.get("site.attack_level"),
    }
