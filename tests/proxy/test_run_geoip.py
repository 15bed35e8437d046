"""`shield run` with no GeoIP configured: it serves, says so once and loudly, and gives no geo facts.

The demo world is for `shield demo`, `./dev run` and the simulator only; a production start must
never score a pod address against made-up countries (the old default read 10.42.0.7 as
"SG hosting": +55 for every k3s pod).
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import aiohttp
import orjson

from shield.settings.schema import DEMO_GEOIP, GeoipSettings, Settings
from tests.fixtures.upstream import Upstream
from tests.proxy.test_run import start_shield

TOKEN = {"Authorization": "Bearer t0ken"}
GEO_RULES = {"overseas_new_country", "overseas_new_asn", "overseas_new_device", "overseas_unknown_account",
             "impossible_travel", "hosting_asn", "hosting_unfamiliar_under_attack"}


def test_the_default_settings_load_no_geoip() -> None:
    assert Settings().geoip == GeoipSettings(country=None, asn=None)


async def _login_and_scrape(url: str, admin: str, client_ip: str) -> str:
    async with aiohttp.ClientSession() as s:
        body = {"username": "alice@example.com", "password": "wrong"}
        async with s.post(f"{url}/api/login", json=body, headers={"X-Forwarded-For": client_ip}) as r:
            await r.read()
        async with s.get(f"{admin}/metrics", headers=TOKEN) as r:
            assert r.status == 200
            return await r.text()


async def _stop(proc: asyncio.subprocess.Process) -> list[dict[str, Any]]:
    proc.send_signal(signal.SIGTERM)
    stdout, _ = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0
    return [orjson.loads(line) for line in stdout.splitlines() if line.startswith(b"{")]


def _metric(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    return None


async def test_run_without_geoip_warns_once_reports_0_and_a_pod_gets_no_geo_facts(
    upstream: Upstream, procs: list[asyncio.subprocess.Process]
) -> None:
    env = {"SHIELD_ADMIN_TOKEN": "t0ken", "SHIELD_LOG_FORMAT": "json"}
    proc, url, admin = await start_shield(upstream, "--workers", "1", env=env)
    procs.append(proc)
    metrics = await _login_and_scrape(url, admin, "10.42.0.7")
    lines = await _stop(proc)
    assert _metric(metrics, "shield_geoip_loaded") == 0.0
    missing = [e for e in lines if e["event"] == "geoip.missing"]
    assert len(missing) == 1, missing
    assert missing[0]["level"] == "warning"
    assert "geoip.country" in missing[0]["message"]
    [decision] = [e for e in lines if e["event"] == "decision"]
    assert decision["client_ip"] == "10.42.0.7"
    assert (decision["country"], decision["asn"]) == (None, None)
    assert GEO_RULES.isdisjoint(hit["id"] for hit in decision["rules"])


async def test_run_with_a_database_reports_1_and_does_not_warn(
    upstream: Upstream, procs: list[asyncio.subprocess.Process]
) -> None:
    env = {"SHIELD_ADMIN_TOKEN": "t0ken", "SHIELD_LOG_FORMAT": "json",
           "SHIELD_GEOIP_COUNTRY": str(DEMO_GEOIP), "SHIELD_GEOIP_ASN": str(DEMO_GEOIP)}
    proc, url, admin = await start_shield(upstream, "--workers", "1", env=env)
    procs.append(proc)
    metrics = await _login_and_scrape(url, admin, "10.42.0.7")
    lines = await _stop(proc)
    assert _metric(metrics, "shield_geoip_loaded") == 1.0
    assert "geoip.missing" not in [e["event"] for e in lines]
    [decision] = [e for e in lines if e["event"] == "decision"]
    assert (decision["country"], decision["asn"]) == (None, None)  # a private address, whatever the database says
