"""`shield explain`: request descriptions (JSON and curl) -> facts, rules, score, action."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from shield.decision.explain_request import DescriptionError, parse_description
from shield.sim.world import DEMO_ENV


@pytest.mark.parametrize(
    ("text", "method", "path", "ip", "ctype"),
    [
        ("curl -X POST http://x/api/login -d '{\"username\": \"a\"}' --client-ip 198.51.100.7",
         "POST", "/api/login", "198.51.100.7", "application/json"),
        ("curl http://x/api/login?next=/home -d 'username=a&password=b'", "POST", "/api/login", "127.0.0.1",
         "application/x-www-form-urlencoded"),
        ("curl -X GET http://x/status", "GET", "/status", "127.0.0.1", None),
        ('{"path": "/api/login", "client_ip": "2001:db8:100::1", "body": {"username": "a"}}',
         "POST", "/api/login", "2001:db8:100::1", "application/json"),
    ],
    ids=["curl-json", "curl-form-with-query", "curl-get", "json"],
)
def test_descriptions_parse(text: str, method: str, path: str, ip: str, ctype: str | None) -> None:
    d = parse_description(text)
    assert (d.method, d.path, d.client_ip) == (method, path, ip)
    assert dict(d.headers).get("Content-Type") == ctype


@pytest.mark.parametrize(
    ("text", "message"),
    [("not json", "not JSON and not a curl command line"), ("[1, 2]", "must be a JSON object"),
     ('{"pth": "/x"}', "unknown keys: pth"), ("curl 'unterminated", "cannot split the command line")],
    ids=["garbage", "array", "typo-key", "bad-quoting"],
)
def test_bad_descriptions_say_why(text: str, message: str) -> None:
    with pytest.raises(DescriptionError, match=message):
        parse_description(text)


def explain(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`shield explain` with the demo world loaded (a bare config has no GeoIP)."""
    return subprocess.run([sys.executable, "-m", "shield.cli", "explain", *args], input=stdin,
                          capture_output=True, text=True, timeout=60, check=False, env={**os.environ, **DEMO_ENV})


def test_curl_from_a_hosting_network_with_a_library_is_explained() -> None:
    proc = explain("curl", "-X", "POST", "http://x/api/login", "-A", "python-requests/2.31",
                   "-d", '{"username": "alice", "password": "x"}', "--client-ip", "198.51.100.7")
    assert proc.returncode == 0, proc.stderr
    assert "automation_ua" in proc.stdout
    assert "hosting_asn" in proc.stdout
    assert re.search(r"^\s+ip\.country\s+'US'$", proc.stdout, re.M)
    assert "-> block" in proc.stdout


def test_json_file_with_counters_and_history_gives_json_output(tmp_path: Path) -> None:
    desc = {
        "client_ip": "2001:db8:3500::9", "headers": {"User-Agent": "DemoPay/5.2.1 (Android 14; Pixel 8)"},
        "body": {"username": "kenji", "password": "pw"},
        "history": {"countries": ["JP"], "asns": ["64500"], "last_success_at": 1.0, "last_lat": 35.69,
                    "last_lon": 139.69, "last_country": "JP"},
        "counters": {"account.failures_unfamiliar_1h": 2},
    }
    path = tmp_path / "req.json"
    path.write_text(json.dumps(desc))
    proc = explain(str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["facts"]["account.known"] is True
    assert out["facts"]["account.new_country"] is True
    assert out["facts"]["account.failures_unfamiliar_1h"] == 2
    assert out["action"] in {"allow", "tag", "delay", "challenge"}  # a traveller is never blocked


def test_unknown_counter_is_refused_with_exit_2(tmp_path: Path) -> None:
    proc = explain("-", stdin='{"counters": {"ip.failure_10m": 3}}')
    assert proc.returncode == 2
    assert "unknown fact 'ip.failure_10m'" in proc.stderr


def test_a_bad_list_file_is_refused_with_its_place_not_a_traceback(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    (rules / "lists").mkdir(parents=True)
    (rules / "lists" / "hosting_asns.txt").write_text("# kind: int\n16509\nAS64500\n")
    proc = explain("--rules", str(rules), "-", stdin="{}")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert f"{rules / 'lists' / 'hosting_asns.txt'}:3: 'AS64500' is not an integer" in proc.stderr


@pytest.mark.parametrize(
    ("forced", "action", "score"),
    [({}, "challenge", 60), ({"challenge.passed": True}, "allow", 20), ({"challenge.solved": True}, "allow", 20)],
    ids=["no-credit", "a-pass-is-credited", "a-solution-is-credited"],
)
def test_a_forced_challenge_state_earns_the_credit_the_pipeline_gives(
    tmp_path: Path, forced: dict[str, bool], action: str, score: int
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(
        "rules:\n  - {id: sixty, description: d, class: client, when: 'request.route == \"login\"', score: 60}\n"
    )
    proc = explain("--rules", str(rules), "--json", "-", stdin=json.dumps({"facts": forced}))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["action"], out["score"]) == (action, score)  # default credits: 40 for each
