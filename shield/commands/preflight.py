"""Checks made once before `shield run` forks workers: everything that would fail in each of them.

Rules and lists that do not load, a secret too short to key HMACs, a store URL that cannot be
understood: each is reported with its place, all at once, and the process exits 2 before it
listens anywhere.
"""

from __future__ import annotations

import dataclasses

from shield.facts.enrich.lists import ListError
from shield.rules.load import load_rules
from shield.rules.pack import load_pack
from shield.rules.source import RuleErrors
from shield.service import retention
from shield.settings.schema import Settings
from shield.store.connect import StoreURLError, open_store

MIN_SECRET_BYTES = 16


def problems(settings: Settings) -> list[str]:
    found: list[str] = []
    if settings.secret and len(settings.secret) < MIN_SECRET_BYTES:
        found.append(
            f"secret: {len(settings.secret)} bytes; use at least {MIN_SECRET_BYTES} (e.g. openssl rand -hex 32)"
        )
    if not settings.rules.is_dir():
        found.append(f"rules: {settings.rules}: not a folder")
        return found
    routes = [r.name for r in settings.routes]
    try:
        load_pack(settings.rules, extra_lists=settings.extra_lists, windows=settings.windows, routes=routes)
    except ListError as exc:
        found.extend(exc.problems)
        # every problem at once: the rules' own errors too, as they show without the lists
        try:
            load_rules(settings.rules, lists={}, windows=settings.windows, routes=routes)
        except RuleErrors as more:
            found.extend(str(e) for e in more.errors)
    except RuleErrors as exc:
        found.extend(str(e) for e in exc.errors)
    try:
        store = open_store(settings.store, retention(settings))  # connects lazily: nothing is sent
        del store
    except (StoreURLError, ValueError) as exc:
        found.append(f"store: {exc}")
    return found


def worker_count(settings: Settings) -> tuple[Settings, str | None]:
    """The memory store lives in one process: default it to one worker, and warn when told otherwise."""
    if not settings.store.startswith("memory:"):
        return settings, None
    if settings.workers == 0:
        return dataclasses.replace(settings, workers=1), None
    if settings.workers > 1:
        return settings, (
            f"workers={settings.workers} with store memory://: every worker counts on its own, so limits are "
            f"{settings.workers}x looser; use redis:// to share one memory"
        )
    return settings, None



def geoip_warning(settings: Settings) -> str | None:
    """What a start without a GeoIP database loses, said once before the workers fork (geoip.missing).

    A configured file that does not exist yet is each reader's own warning (it is loaded when it appears).
    """
    missing = [name for name in ("country", "asn") if getattr(settings.geoip, name) is None]
    if not missing:
        return None
    facts = {"country": "ip.country, ip.overseas, ip.lat/lon", "asn": "ip.asn, ip.hosting"}
    return (
        f"no GeoIP database configured ({' and '.join(f'geoip.{m}' for m in missing)}): "
        f"{'; '.join(facts[m] for m in missing)} are absent and the rules that need them never fire; "
        "point geoip.country and geoip.asn at a MaxMind, IPinfo or DB-IP .mmdb (see docs/geoip.md)"
    )
