"""The facts contract: every dotted name a rule may read, its type and its meaning.

This catalog is the single source of truth. The rule compiler checks names and types
against it (an unknown fact is a load error with a suggestion), the README's fact table
is generated from it (`shield facts`), and the producers (identity, enrich, signals,
history) fill exactly these names. A fact that could not be known is *absent* from the
per-request mapping; rules treat a comparison with an absent fact as false.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

# Re-exported: the catalog is where readers look for windows; the nouns live in model so that
# settings (below facts) can name them.
from shield.model import DEFAULT_WINDOWS as DEFAULT_WINDOWS
from shield.model import Window as Window

FactType = Literal["bool", "int", "float", "str", "ip", "strset"]
Source = Literal["identity", "enrich", "signals", "history", "challenge"]


# The site baseline always uses these two windows, whatever the configured ones are.
SITE_WINDOWS: tuple[Window, ...] = (Window("5m", 300), Window("24h", 86400))


@dataclass(slots=True, frozen=True)
class FactSpec:
    name: str
    type: FactType
    doc: str
    source: Source


# Counted dimensions: the fact prefix, and what the store keys the dimension by.
DIMENSIONS: tuple[str, ...] = (
    "ip",
    "subnet",
    "asn",
    "country",
    "account",
    "fp",
    "device",
    "password",
    "pair",
)

# Distinct counts kept per dimension: measure name -> the dimension whose values are counted.
DISTINCT: Mapping[str, Mapping[str, str]] = {
    "ip": {"distinct_accounts": "account"},
    "subnet": {"distinct_accounts": "account"},
    "asn": {"distinct_accounts": "account"},
    "country": {"distinct_accounts": "account"},
    "fp": {"distinct_accounts": "account"},
    "device": {"distinct_accounts": "account"},
    "password": {"distinct_accounts": "account", "distinct_ips": "ip"},
    "pair": {"distinct_ips": "ip"},
    "account": {
        "distinct_ips": "ip",
        "distinct_asns": "asn",
        "distinct_countries": "country",
        "distinct_fps": "fp",
    },
}

_DIM_DOC = {
    "ip": "the client IP",
    "subnet": "the client's /24 (IPv4) or /48 (IPv6)",
    "asn": "the client's autonomous system",
    "country": "the client's country",
    "account": "the account (keyed hash)",
    "fp": "the client fingerprint",
    "device": "the device id",
    "password": "the keyed password hash (spray: one password across many accounts)",
    "pair": "the keyed account+password pair (replay of one leaked pair)",
}

_STATIC: tuple[FactSpec, ...] = (
    # identity
    FactSpec("ip", "ip", "Client IP (trusted-proxy aware), normalised", "identity"),
    FactSpec("ip.version", "int", "4 or 6", "identity"),
    FactSpec("ip.subnet", "str", "The client's /24 (IPv4) or /48 (IPv6), e.g. 203.0.113.0/24", "identity"),
    FactSpec("ip.private", "bool", "Client IP is private, loopback, link-local or reserved", "identity"),
    FactSpec("account", "str", "The normalised account (trimmed, NFKC, case-folded)", "identity"),
    FactSpec("account.present", "bool", "The request carried an account", "identity"),
    FactSpec("password.present", "bool", "The request carried a password", "identity"),
    FactSpec("request.route", "str", "Name of the protected route", "identity"),
    FactSpec("request.method", "str", "HTTP method, upper case", "identity"),
    FactSpec("request.path", "str", "Request path, without the query", "identity"),
    FactSpec("request.malformed", "bool", "Body did not parse or lacked a configured field", "identity"),
    FactSpec("request.body_bytes", "int", "Size of the request body", "identity"),
    FactSpec("ua", "str", "The raw User-Agent header (empty when missing)", "identity"),
    FactSpec("ua.family", "str", "Browser or client family, e.g. Chrome, Mobile Safari, curl", "enrich"),
    FactSpec("ua.major", "int", "Major version of ua.family", "enrich"),
    FactSpec("ua.os", "str", "Operating system family, e.g. Android, iOS, Windows", "enrich"),
    FactSpec("ua.device", "str", "mobile, tablet, desktop or other", "enrich"),
    FactSpec(
        "ua.automation", "bool",
        "HTTP library, headless browser or tool (a mobile stack only if not the configured app)", "enrich",
    ),
    FactSpec("ua.automation_name", "str", "Which automation entry matched, e.g. python-requests", "enrich"),
    FactSpec(
        "ua.mobile_stack", "str",
        "The mobile app HTTP stack the user agent names: okhttp, CFNetwork, Alamofire, Dart or Dalvik", "enrich",
    ),
    FactSpec("ua.app", "bool", "User agent matches the configured mobile app pattern", "enrich"),
    FactSpec("fp.id", "str", "Stable short client fingerprint id", "identity"),
    FactSpec("fp.inconsistent", "bool", "Headers contradict the claimed client", "identity"),
    FactSpec(
        "fp.reasons",
        "strset",
        "Which inconsistencies were seen: chrome_without_sec_ch_ua, browser_without_accept_language, "
        "modern_browser_without_br, app_without_version_header, no_user_agent",
        "identity",
    ),
    FactSpec("fp.ja3", "str", "JA3 hash passed by the TLS terminator, when configured", "identity"),
    FactSpec("fp.ja4", "str", "JA4 fingerprint passed by the TLS terminator, when configured", "identity"),
    FactSpec("device.id", "str", "Device id from shield's signed cookie or the app's header", "identity"),
    FactSpec("device.present", "bool", "The request carried a device id", "identity"),
    FactSpec("device.signed_ok", "bool", "The device cookie's signature is valid", "identity"),
    # enrich
    FactSpec("ip.country", "str", "ISO 3166-1 alpha-2 country of the client IP", "enrich"),
    FactSpec("ip.continent", "str", "Continent code (AS, EU, NA, ...)", "enrich"),
    FactSpec("ip.asn", "int", "Autonomous system number", "enrich"),
    FactSpec("ip.asn_org", "str", "Autonomous system organisation", "enrich"),
    FactSpec("ip.lat", "float", "Latitude (City databases only)", "enrich"),
    FactSpec("ip.lon", "float", "Longitude (City databases only)", "enrich"),
    FactSpec("ip.accuracy_km", "int", "Accuracy radius in km (City databases only)", "enrich"),
    FactSpec("ip.overseas", "bool", "ip.country is known and not in home_countries", "enrich"),
    FactSpec("ip.hosting", "bool", "ip.asn is in lists.hosting_asns (datacenter, cloud, VPN)", "enrich"),
    FactSpec(
        "ip.carrier",
        "bool",
        "ip.asn is in lists.carrier_nat_asns: a prior that lowers the evidence ip.shared needs, not an exemption",
        "enrich",
    ),
    FactSpec("ip.tor", "bool", "Client IP is in lists.tor_exits", "enrich"),
    FactSpec("ip.bad", "bool", "Client IP is in lists.bad_cidrs", "enrich"),
    FactSpec("ip.allowlisted", "bool", "Client IP is in lists.allow_cidrs", "enrich"),
    # history
    FactSpec(
        "account.known",
        "bool",
        "The account has logged in successfully before (a success still unconfirmed included)",
        "history",
    ),
    FactSpec("account.new_country", "bool", "Known account, ip.country never seen on a success", "history"),
    FactSpec("account.new_asn", "bool", "Known account, ip.asn never seen on a success", "history"),
    FactSpec(
        "account.new_device",
        "bool",
        "Known account, and the request carries no device id (cookie or app header) seen on a confirmed success",
        "history",
    ),
    FactSpec(
        "account.new_fp",
        "bool",
        "Known account, fp.id never seen on a confirmed success (crowd evidence: a fingerprint is shared)",
        "history",
    ),
    FactSpec("account.new_subnet", "bool", "Known account, ip.subnet never seen on a confirmed success", "history"),
    FactSpec(
        "account.familiar",
        "bool",
        "Known account and a known device id, or a known subnet, or a known country and ASN when the ASN is "
        "not a listed carrier (ip.carrier); never from a fingerprint",
        "history",
    ),
    FactSpec(
        "account.unconfirmed",
        "bool",
        "Known account with a success recorded as unconfirmed (it teaches nothing until confirmed)",
        "history",
    ),
    FactSpec(
        "account.travel_kmh",
        "float",
        "Speed needed to get here since the last successful login (moves under 50 km: 0)",
        "history",
    ),
    FactSpec(
        "account.last_success_age_s", "float", "Seconds since the last successful login (confirmed or not)", "history"
    ),
    FactSpec("account.known_countries", "int", "How many countries the account succeeded from", "history"),
    # shared addresses (shield.facts.shared_address)
    FactSpec(
        "ip.shared",
        "bool",
        "The address is a learned gateway or NAT: 20+ accounts, 20+ successes and a success ratio >= 0.5 in 24 h "
        "(a listed carrier: 5, 5 and 0.3)",
        "signals",
    ),
    FactSpec(
        "subnet.shared",
        "bool",
        "The /24 (/48) is a learned gateway range: 50+ accounts, 50+ successes and a success ratio >= 0.5 in 24 h "
        "(a listed carrier: 10, 10 and 0.3)",
        "signals",
    ),
    FactSpec("ip.success_ratio_24h", "float", "Successes / finished logins from the address, last 24 h", "signals"),
    FactSpec("subnet.success_ratio_24h", "float", "Successes / finished logins from the /24, last 24 h", "signals"),
    # site
    FactSpec("site.attack_level", "int", "0 calm, 1 elevated, 2 high, 3 under attack", "signals"),
    FactSpec("site.failure_ratio_5m", "float", "Failed / finished logins, last 5 minutes", "signals"),
    FactSpec("site.failure_ratio_24h", "float", "Failed / finished logins, last 24 hours", "signals"),
    FactSpec("site.unknown_ratio_5m", "float", "Share of attempts on never-seen accounts, 5 min", "signals"),
    FactSpec("site.unknown_ratio_24h", "float", "Share of attempts on never-seen accounts, 24 h", "signals"),
    # challenge
    FactSpec("challenge.passed", "bool", "The client holds a valid pass from a solved challenge", "challenge"),
    FactSpec("challenge.solved", "bool", "This request carries a valid challenge solution", "challenge"),
    FactSpec(
        "challenge.failed",
        "bool",
        "This request carries a challenge solution that does not verify: bad signature or work, expired, "
        "replayed, or bound to another address or fingerprint (the decision line's `challenge: failed:<reason>`)",
        "challenge",
    ),
)


def _site_facts() -> Iterable[FactSpec]:
    for w in SITE_WINDOWS:
        for measure, doc in (
            ("attempts", "protected requests"),
            ("failures", "failed logins"),
            ("successes", "successful logins"),
            ("unknown", "attempts on accounts with no successful login"),
        ):
            yield FactSpec(f"site.{measure}_{w.name}", "int", f"Site-wide {doc}, last {w.name}", "signals")


def _counter_facts(windows: Sequence[Window]) -> Iterable[FactSpec]:
    for dim in DIMENSIONS:
        of = _DIM_DOC[dim]
        for w in windows:
            for measure in ("attempts", "failures", "successes"):
                yield FactSpec(f"{dim}.{measure}_{w.name}", "int", f"{measure} by {of}, last {w.name}", "signals")
            for measure, counted in DISTINCT.get(dim, {}).items():
                yield FactSpec(
                    f"{dim}.{measure}_{w.name}",
                    "int",
                    f"distinct {counted} values seen with {of}, last {w.name} (approximate above 64)",
                    "signals",
                )
    for w in windows:
        for ctx in ("familiar", "unfamiliar"):
            yield FactSpec(
                f"account.failures_{ctx}_{w.name}",
                "int",
                f"failed logins on the account from {ctx} contexts, last {w.name}",
                "signals",
            )


def _stopped_facts(windows: Sequence[Window]) -> Iterable[FactSpec]:
    """Derived from the counters by shield.decision.stopped (not kept by the store)."""
    for dim in ("ip", "device"):
        for w in windows:
            yield FactSpec(
                f"{dim}.stopped_{w.name}",
                "int",
                f"attempts by {_DIM_DOC[dim]} that never reached the app, last {w.name}: attempts - failures - "
                "successes, this one not included (challenged and never solved, blocked, banned; also attempts "
                "still in flight and any whose outcome was not classified)",
                "signals",
            )


def counter_names(windows: Sequence[Window] = DEFAULT_WINDOWS) -> tuple[str, ...]:
    """Every counter fact the store must fill (zero when nothing was counted)."""
    return tuple(s.name for s in (*_counter_facts(windows), *_site_facts()))


def catalog(windows: Sequence[Window] = DEFAULT_WINDOWS) -> Mapping[str, FactSpec]:
    """All facts for a configuration's windows, by name."""
    specs = (*_STATIC, *_counter_facts(windows), *_stopped_facts(windows), *_site_facts())
    return {s.name: s for s in specs}
