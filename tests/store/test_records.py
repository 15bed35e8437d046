"""The account history record: old records without pending entries still read, the shape both stores write."""

from __future__ import annotations

from shield.model import Observation
from shield.store.records import contradicted, history_from_record, updated_record

NOW = 1_700_000_000.0
OLD = {
    "c": [["JP", NOW - 100]],
    "a": [["64510", NOW - 100]],
    "d": [["c:dev", NOW - 100]],
    "f": [["fp", NOW - 100]],
    "s": [["10.0.0.0/24", NOW - 100]],
    "t": NOW - 100,
    "lat": 35.0,
    "lon": 139.0,
    "cc": "JP",
}
OBS = Observation(
    route="login",
    ip="10.9.0.1",
    subnet="10.9.0.0/24",
    asn="64999",
    country="US",
    account="a",
    fp="fp2",
    device="c:new",
    lat=40.0,
    lon=-74.0,
)


def test_a_record_written_before_pending_entries_still_reads() -> None:
    history = history_from_record(OLD, NOW, 90, confirm_after=86400)
    assert history is not None
    assert history.devices == ("c:dev",)
    assert history.unconfirmed_at is None
    assert history.last_lat == 35.0


def test_an_unconfirmed_success_leaves_the_confirmed_part_alone() -> None:
    rec = updated_record(OLD, OBS, NOW, days=90, size=10, confirmed=False, confirm_after=86400)
    assert {k: rec[k] for k in OLD} == OLD
    assert rec["p"] == [
        {
            "t": NOW,
            "c": "US",
            "a": "64999",
            "d": "c:new",
            "f": "fp2",
            "s": "10.9.0.0/24",
            "lat": 40.0,
            "lon": -74.0,
            "cc": "US",
        }
    ]
    history = history_from_record(rec, NOW + 1, 90, confirm_after=86400)
    assert history is not None
    assert (history.devices, history.last_country, history.unconfirmed_at) == (("c:dev",), "JP", NOW)


def test_an_empty_pending_list_from_lua_reads_as_none() -> None:
    history = history_from_record({**OLD, "p": {}}, NOW, 90, confirm_after=86400)
    assert history is not None
    assert history.unconfirmed_at is None


def test_a_contrary_signal_without_pending_entries_writes_nothing() -> None:
    assert contradicted(OLD, NOW, days=90, size=10, confirm_after=86400) is None
