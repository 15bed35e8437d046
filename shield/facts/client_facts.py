"""The ua.* and fp.* facts of a request, cached per client dialect.

A stuffing wave sends ever-new addresses and accounts through the same few clients: the same header
names in the same order, the same Accept* values and User-Agent. What the user agent and the
fingerprint say depends on nothing else, so it is computed once per such dialect and reused
(`ClientFacts.of`): the UA parse, the fingerprint hash, its inconsistencies and the facts dict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from shield.facts.enrich.useragent import MAX_UA_CHARS, UserAgentInfo, UserAgentParser
from shield.facts.identity.fingerprint import Fingerprint, fingerprint, tls_kind
from shield.model import FactValue
from shield.settings.schema import ClientSettings

# security: attacker-chosen headers are cache keys: bounded in count, in size each, and in total.
CACHE_SIZE = 4096
_MAX_KEY_HEADERS = 32
_MAX_KEY_CHARS = 2048


def ua_facts(ua_text: str, ua: UserAgentInfo) -> dict[str, FactValue]:
    facts: dict[str, FactValue] = {
        "ua": ua_text,
        "ua.family": ua.family,
        "ua.os": ua.os,
        "ua.device": ua.device,
        "ua.automation": ua.automation,
        "ua.app": ua.app,
    }
    if ua.major is not None:
        facts["ua.major"] = ua.major
    if ua.automation_name is not None:
        facts["ua.automation_name"] = ua.automation_name
    if ua.mobile_stack is not None:
        facts["ua.mobile_stack"] = ua.mobile_stack
    return facts


def fp_facts(fp: Fingerprint) -> dict[str, FactValue]:
    facts: dict[str, FactValue] = {"fp.id": fp.id, "fp.inconsistent": fp.inconsistent, "fp.reasons": fp.reasons}
    if fp.tls is not None:
        facts[tls_kind(fp.tls)] = fp.tls
    return facts


class Client(NamedTuple):
    ua: UserAgentInfo
    fp: Fingerprint
    facts: dict[str, FactValue]  # ua.* then fp.*; shared between requests: copy from it, never change it


class ClientFacts:
    """The user agent, fingerprint and their facts of one request, through a bounded cache."""

    __slots__ = ("_cache", "_client", "_ua")

    def __init__(self, *, ua_parser: UserAgentParser, client: ClientSettings) -> None:
        self._ua = ua_parser
        self._client = client
        self._cache: dict[tuple[object, ...], Client] = {}

    def clear(self) -> None:
        self._cache = {}

    def of(
        self, raw_headers: Sequence[tuple[bytes, bytes]], headers: Mapping[str, str], *, peer_trusted: bool
    ) -> Client:
        """`peer_trusted`: the TLS fingerprint header counts (see FactBuilder.build)."""
        client = self._client
        # security: a client that reaches shield directly could name any JA3/JA4 (to pass as a common
        # browser, or rotate its fingerprint); the header counts only when a trusted proxy set it.
        tls_header = client.tls_fingerprint_header if peer_trusted else None
        ua_text = headers.get("user-agent", "")
        get = headers.get
        # Everything the UA parse and the fingerprint read: every header name as sent (order, case,
        # presence of sec-ch-ua, accept-language, the app version header), the values they hash, the UA.
        values = (get("accept"), get("accept-language"), get("accept-encoding"), ua_text,
                  get(tls_header.lower()) if tls_header else None)
        key = (tuple([name for name, _ in raw_headers]), *values)
        found = self._cache.get(key)
        if found is not None:
            return found
        ua = self._ua.parse(ua_text)
        fp = fingerprint(
            raw_headers,
            headers,
            ua,
            has_ua=bool(ua_text.strip()),
            tls_header=tls_header,
            app_version_header=client.app_version_header,
        )
        made = Client(ua, fp, ua_facts(ua_text, ua) | fp_facts(fp))
        if (
            len(raw_headers) <= _MAX_KEY_HEADERS
            and len(ua_text) <= MAX_UA_CHARS
            and sum(len(v) for v in values if v is not None) <= _MAX_KEY_CHARS
        ):
            if len(self._cache) >= CACHE_SIZE:
                self._cache = {}
            self._cache[key] = made
        return made
