"""GeoIP: country, continent, location and ASN of the client IP from MaxMind DB (.mmdb) files.

Reads GeoIP2/GeoLite2 Country or City and ASN files, DB-IP's (the same layout) or IPinfo's (a
flat one, see shield.facts.enrich.mmdb_fields); one file may serve both, as IPinfo's and our demo
database do. Private, loopback, CGNAT and reserved client addresses are never looked up
(shield.facts.enrich.reserved): whatever a database says of them describes some other network.
`refresh()` notices a replaced file (geoipupdate writes a temp file and renames it) and swaps
readers atomically: the old reader serves until the new one opened and answered a probe; a
corrupt file is logged and ignored. A missing file means absent facts.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import maxminddb
import structlog

from shield.facts.address import bare_ip_int, ip_text, parse_bare_ip
from shield.facts.enrich import mmdb_fields as fields
from shield.facts.enrich.leaf_cache import LeafCache
from shield.facts.enrich.reserved import geo_eligible_int

_PROBE = "1.1.1.1"
_BITS = {4: 32, 6: 128}


@dataclass(slots=True, frozen=True)
class GeoRecord:
    """What the databases know about one address; None fields are absent facts."""

    country: str | None = None
    continent: str | None = None
    lat: float | None = None
    lon: float | None = None
    accuracy_km: int | None = None
    asn: int | None = None
    asn_org: str | None = None


EMPTY = GeoRecord()


@functools.lru_cache(maxsize=4096)
def normalise_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address from its text form (brackets and zone ids dropped, IPv4-mapped IPv6 made IPv4); None if not an IP.

    Cached: one request asks for the same address several times (lists, GeoIP, subnet).
    """
    return parse_bare_ip(text.strip().strip("[]").split("%", 1)[0])


def _place(geo: dict[str, Any]) -> GeoRecord:
    return GeoRecord(
        country=fields.country(geo),
        continent=fields.continent(geo),
        lat=fields.typed(fields.dig(geo, "location", "latitude"), float),
        lon=fields.typed(fields.dig(geo, "location", "longitude"), float),
        accuracy_km=fields.typed(fields.dig(geo, "location", "accuracy_radius"), int),
    )


def _network(net: dict[str, Any]) -> GeoRecord:
    return GeoRecord(asn=fields.asn(net), asn_org=fields.asn_org(net))


def _both(record: dict[str, Any]) -> GeoRecord:
    place = _place(record)
    return GeoRecord(
        place.country, place.continent, place.lat, place.lon, place.accuracy_km, fields.asn(record),
        fields.asn_org(record),
    )


def merged(place: GeoRecord, network: GeoRecord) -> GeoRecord:
    """A place record with a network record's ASN fields (the place itself when the network is EMPTY)."""
    if network is EMPTY:
        return place
    return GeoRecord(place.country, place.continent, place.lat, place.lon, place.accuracy_km, network.asn,
                     network.asn_org)


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class ReloadingReader:
    """One mmdb file, reopened when it is replaced on disk."""

    __slots__ = ("_leaves", "_log", "_pending", "_reader", "_signature", "path")

    def __init__(self, path: Path, log: Any) -> None:
        self.path = path
        self._log = log
        self._reader: Any = None
        self._signature: tuple[int, int, int] | None = None
        self._pending: tuple[int, int, int] | None = None
        self._leaves: LeafCache[GeoRecord] = LeafCache()
        sig = _signature(path)
        if sig is None:
            log.warning("geoip.missing", path=str(path))
        else:
            self._open(sig)

    @property
    def loaded(self) -> bool:
        return self._reader is not None

    def get(self, ip: str) -> dict[str, Any] | None:
        reader = self._reader
        if reader is None:
            return None
        try:
            record = reader.get(ip)
        except (TypeError, ValueError, maxminddb.InvalidDatabaseError):
            return None  # security: a damaged database costs facts, never the request
        return record if isinstance(record, dict) else None

    def record(self, version: int, value: int, text: str, convert: Callable[[dict[str, Any]], GeoRecord]) -> GeoRecord:
        """`convert` of what the database says of one address (EMPTY when nothing), cached per leaf network.

        One reader is always asked with the same `convert` (GeoLookup's role for it), so the cache holds one kind."""
        cached = self._leaves.get(version, value)
        if cached is not None:
            return cached
        reader = self._reader
        if reader is None:
            return EMPTY
        try:
            record, prefix_len = reader.get_with_prefix_len(text)
        except (TypeError, ValueError, maxminddb.InvalidDatabaseError):
            return EMPTY  # security: a damaged database costs facts, never the request
        found = convert(record) if isinstance(record, dict) else EMPTY
        if isinstance(prefix_len, int):
            self._leaves.put(version, value, prefix_len, found)
        return found

    def record_span(
        self, version: int, value: int, text: str, convert: Callable[[dict[str, Any]], GeoRecord]
    ) -> tuple[GeoRecord, int]:
        """`record`, and how many low bits of the address its answer holds for (0: this address alone is known)."""
        cached = self._leaves.find(version, value)
        if cached is not None:
            return cached
        reader = self._reader
        if reader is None:
            return EMPTY, _BITS[version]
        found = self.record(version, value, text, convert)
        cached = self._leaves.find(version, value)
        return (found, 0) if cached is None or cached[0] is not found else cached

    def refresh(self) -> bool:
        """Open the file again if it changed and has been stable since the last call. True on a swap."""
        sig = _signature(self.path)
        if sig is None or sig == self._signature:
            self._pending = None
            return False
        if sig != self._pending:
            # First sight of a change: wait one more call so a file still being written settles.
            self._pending = sig
            return False
        self._pending = None
        return self._open(sig)

    def _open(self, sig: tuple[int, int, int]) -> bool:
        try:
            reader = maxminddb.open_database(str(self.path), maxminddb.MODE_AUTO)
            reader.get(_PROBE)
            meta = reader.metadata()
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            self._signature = sig  # do not retry the same broken file every interval
            self._log.error("geoip.rejected", path=str(self.path), error=str(exc))
            return False
        old, self._reader, self._signature = self._reader, reader, sig
        self._leaves = LeafCache()
        self._log.info("geoip.loaded", path=str(self.path), type=meta.database_type, built=meta.build_epoch)
        if old is not None:
            old.close()  # lookups and refresh run on one event loop thread: none is in flight
        return True

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
            self._leaves = LeafCache()


class GeoLookup:
    """Country/City and ASN lookups over one or two reloading readers."""

    __slots__ = ("_asn", "_country")

    def __init__(self, *, country: Path | None, asn: Path | None, log: Any = None) -> None:
        log = log if log is not None else structlog.get_logger("shield.geoip")
        self._country = ReloadingReader(country, log) if country is not None else None
        if asn is None:
            self._asn = None
        elif country is not None and Path(asn).resolve() == Path(country).resolve():
            self._asn = self._country
        else:
            self._asn = ReloadingReader(asn, log)

    def refresh(self) -> bool:
        """Pick up replaced database files; True when any reader was swapped."""
        swapped = self._country.refresh() if self._country is not None else False
        if self._asn is not None and self._asn is not self._country:
            swapped = self._asn.refresh() or swapped
        return swapped

    @property
    def loaded(self) -> bool:
        """True when at least one database is open (shield_geoip_loaded)."""
        return any(r is not None and r.loaded for r in (self._country, self._asn))

    def lookup(self, ip: str) -> GeoRecord:
        """Everything known about a normalised IP string; EMPTY when nothing is."""
        parsed = bare_ip_int(ip.strip().strip("[]").split("%", 1)[0])
        if parsed is None:
            return EMPTY
        return self.lookup_int(*parsed, text=ip_text(*parsed))

    def lookup_int(self, version: int, value: int, *, text: str) -> GeoRecord:
        """`lookup` of an address already parsed: (version, integer) and its normal text form."""
        return merged(*self.records_int(version, value, text=text))

    def records_int(self, version: int, value: int, *, text: str) -> tuple[GeoRecord, GeoRecord]:
        """What `lookup_int` merges: (place, network), the network EMPTY when one database serves both.

        Each is the same object for every address of its database leaf (the readers cache them per leaf),
        so a caller may cache what it derives from them by their identity."""
        if not geo_eligible_int(version, value):
            return EMPTY, EMPTY  # security: a pod, VPN or CGNAT address must not read as some country's hosting
        country, asn = self._country, self._asn
        if asn is country:
            return (country.record(version, value, text, _both) if country is not None else EMPTY), EMPTY
        place = country.record(version, value, text, _place) if country is not None else EMPTY
        return place, asn.record(version, value, text, _network) if asn is not None else EMPTY

    def records_span(self, version: int, value: int, *, text: str) -> tuple[GeoRecord, GeoRecord, int]:
        """`records_int`, and how many low bits of the address both records hold for (0: this address alone).

        An address that is never looked up (reserved space) answers for the whole space: the caller checks
        that the reserved ranges are the same over the addresses it means to share the answer with."""
        bits = _BITS[version]
        if not geo_eligible_int(version, value):
            return EMPTY, EMPTY, bits
        country, asn = self._country, self._asn
        if asn is country:
            if country is None:
                return EMPTY, EMPTY, bits
            both, span = country.record_span(version, value, text, _both)
            return both, EMPTY, span
        place, span = country.record_span(version, value, text, _place) if country is not None else (EMPTY, bits)
        network, network_span = asn.record_span(version, value, text, _network) if asn is not None else (EMPTY, bits)
        return place, network, min(span, network_span)

    def close(self) -> None:
        for reader in (self._country, self._asn):
            if reader is not None:
                reader.close()
