"""Account history facts: what a successful-login history says about this attempt.

Pure: takes the stored history, the facts known so far (identity + enrich + counters) and `now`.
An account with no history gets `account.known = false` and nothing else; a fact that
cannot be known (no GeoIP location) is absent, never guessed.

Familiarity comes from what identifies the owner, never from what a crowd shares:
- a device id (shield's signed cookie, recorded on every success including the login that minted it,
  or the app's device header); a request without one is a new device;
- the account's networks: a subnet it succeeded from, or a country and ASN it succeeded from unless the
  ASN is a listed carrier (`ip.carrier`: one carrier ASN serves millions, attackers' homes included).
The fingerprint (a browser build plus language, shared by thousands) only gives `account.new_fp`.
Only confirmed successes count (shield.store.records): an unconfirmed one makes the account known,
and nothing familiar.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from shield.model import AccountHistory, FactValue

EARTH_RADIUS_KM = 6371.0088
# Moves shorter than this are GeoIP noise (city centroids, mobile carriers), not travel.
MIN_TRAVEL_KM = 50.0
# A floor on elapsed time so two logins in the same second give a huge, finite speed.
MIN_ELAPSED_S = 1.0


def history_facts(history: AccountHistory | None, facts: Mapping[str, FactValue], now: float) -> dict[str, FactValue]:
    """account.known, new_country, new_asn, new_device, new_fp, new_subnet, familiar, unconfirmed, travel_kmh,
    last_success_age_s, known_countries."""
    if facts.get("account.present") is False:
        return {}
    if history is None or (history.last_success_at is None and history.unconfirmed_at is None):
        return {"account.known": False, "account.familiar": False}
    last = max(t for t in (history.last_success_at, history.unconfirmed_at) if t is not None)
    out: dict[str, FactValue] = {
        "account.known": True,
        "account.known_countries": len(history.countries),
        "account.last_success_age_s": max(0.0, now - last),
        "account.unconfirmed": history.unconfirmed_at is not None,
    }
    country = facts.get("ip.country")
    asn = facts.get("ip.asn")
    country_known = isinstance(country, str) and country in history.countries
    asn_known = asn is not None and str(asn) in history.asns
    if isinstance(country, str):
        out["account.new_country"] = not country_known
    if asn is not None:
        out["account.new_asn"] = not asn_known
    # security: a request without a device id is a new device, not an unknown one: an attacker who
    # drops the cookie must not dodge the rules that read account.new_device.
    device = facts.get("device.id")
    device_known = isinstance(device, str) and device in history.devices
    out["account.new_device"] = not device_known
    fp = facts.get("fp.id")
    if isinstance(fp, str):
        out["account.new_fp"] = fp not in history.fingerprints
    subnet = facts.get("ip.subnet")
    subnet_known = isinstance(subnet, str) and subnet in history.subnets
    if isinstance(subnet, str):
        out["account.new_subnet"] = not subnet_known
    # A listed carrier's ASN serves millions (fixed-line attackers included): knowing it proves nothing.
    network_known = subnet_known or (country_known and asn_known and facts.get("ip.carrier") is not True)
    out["account.familiar"] = device_known or network_known
    speed = _travel_kmh(history, facts, now)
    if speed is not None:
        out["account.travel_kmh"] = speed
    return out


def _travel_kmh(history: AccountHistory, facts: Mapping[str, FactValue], now: float) -> float | None:
    lat, lon = facts.get("ip.lat"), facts.get("ip.lon")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        return None
    if history.last_lat is None or history.last_lon is None or history.last_success_at is None:
        return None
    km = haversine_km(history.last_lat, history.last_lon, float(lat), float(lon))
    if km < MIN_TRAVEL_KM:
        return 0.0
    hours = max(now - history.last_success_at, MIN_ELAPSED_S) / 3600.0
    return km / hours


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))
