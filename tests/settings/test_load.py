"""YAML + environment + flags -> Settings, and every problem reported at once."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from shield.model import Window
from shield.settings.load import SettingsError, env_var, listen_problem, load_settings
from shield.settings.schema import FieldRef, Settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "shield.yaml"
    path.write_text(text)
    return path


def test_no_file_no_env_gives_the_defaults() -> None:
    assert load_settings(None, env={}) == Settings()


def test_the_issue_example_file_loads(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        """
listen: "0.0.0.0:8000"
upstream: "http://127.0.0.1:8080"
workers: 2
trusted_proxies: ["127.0.0.1/32", "::1/128"]
home_countries: ["JP"]
store: "memory://"
geoip: {country: "geoip/c.mmdb", asn: "/abs/asn.mmdb"}
rules: "rules/"
mode: enforce
routes:
  - name: login
    methods: [POST]
    path: /api/login
    account: {json: user.name}
    password: {form: pw}
    outcome: {success_status: [200], failure_status: [401, 403], json: {field: ok, success: ["true"]}}
admin: {listen: "127.0.0.1:9000"}
windows: ["1m", "2h"]
""",
    )
    s = load_settings(config, env={})
    assert s.workers == 2
    assert s.geoip.country == tmp_path / "geoip/c.mmdb"  # relative to the config file's folder
    assert s.geoip.asn == Path("/abs/asn.mmdb")
    assert s.rules == tmp_path / "rules"
    route = s.routes[0]
    assert (route.account, route.password) == (FieldRef("json", "user.name"), FieldRef("form", "pw"))
    assert route.outcome.failure_status == frozenset({401, 403})
    assert route.outcome.json is not None
    assert route.outcome.json.success == ("true",)
    assert s.windows == (Window("1m", 60), Window("2h", 7200))


@pytest.mark.parametrize(
    ("var", "value", "attr", "expected"),
    [
        ("SHIELD_UPSTREAM", "http://10.0.0.1:9", "upstream", "http://10.0.0.1:9"),
        ("SHIELD_WORKERS", "4", "workers", 4),
        (
            "SHIELD_TRUSTED_PROXIES",
            "10.0.0.0/8, ::1/128",
            "trusted_proxies",
            (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")),
        ),
        ("SHIELD_HOME_COUNTRIES", "JP,KR", "home_countries", frozenset({"JP", "KR"})),
        ("SHIELD_RELOAD_RULES", "false", "reload_rules", False),
        ("SHIELD_SECRET", "s3", "secret", b"s3"),
        ("SHIELD_MODE", "shadow", "mode", "shadow"),
    ],
    ids=["url", "int", "cidr_list", "str_set", "bool", "bytes", "literal"],
)
def test_env_sets_top_level_keys(var: str, value: str, attr: str, expected: object) -> None:
    assert getattr(load_settings(None, env={var: value}), attr) == expected


@pytest.mark.parametrize(
    ("var", "value", "get", "expected"),
    [
        ("SHIELD_ADMIN_LISTEN", "[::1]:9001", lambda s: s.admin.listen, "[::1]:9001"),
        ("SHIELD_ADMIN_TOKEN", "tok", lambda s: s.admin.token, "tok"),
        ("SHIELD_UPSTREAM_OPTIONS_POOL_SIZE", "8", lambda s: s.upstream_options.pool_size, 8),
        ("SHIELD_LOG_LEVEL", "debug", lambda s: s.log.level, "debug"),
        ("SHIELD_CLIENT_DEVICE_HEADER", "X-Device-Id", lambda s: s.client.device_header, "X-Device-Id"),
        ("SHIELD_GEOIP_ASN", "", lambda s: s.geoip.asn, None),
    ],
    ids=["admin_listen", "admin_token", "pool_size", "log_level", "client_header", "empty_clears_optional"],
)
def test_env_sets_nested_keys(var: str, value: str, get: object, expected: object) -> None:
    assert get(load_settings(None, env={var: value})) == expected  # type: ignore[operator]


def test_precedence_defaults_yaml_env_flags(tmp_path: Path) -> None:
    config = write(tmp_path, 'listen: "127.0.0.1:1001"\nupstream: "http://a:1"\nworkers: 3\n')
    s = load_settings(
        config,
        env={"SHIELD_LISTEN": "127.0.0.1:1002", "SHIELD_UPSTREAM": "http://b:2"},
        overrides={"listen": "127.0.0.1:1003"},
    )
    assert (s.listen, s.upstream, s.workers) == ("127.0.0.1:1003", "http://b:2", 3)


def test_secret_and_token_files(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("from-file\n")
    (tmp_path / "token").write_text("admin-tok\n")
    config = write(tmp_path, "secret_file: secret\nadmin: {token_file: token}\n")
    s = load_settings(config, env={})
    assert (s.secret, s.admin.token) == (b"from-file", "admin-tok")


def test_secret_file_from_env(tmp_path: Path) -> None:
    (tmp_path / "s").write_text("x")
    assert load_settings(None, env={"SHIELD_SECRET_FILE": str(tmp_path / "s")}).secret == b"x"


BAD = [
    (
        "unknown_key_did_you_mean",
        "upstrem: http://x\n",
        "shield.yaml:1:1: unknown key 'upstrem' in the settings (did you mean 'upstream'?)",
    ),
    (
        "nested_unknown_key",
        "admin: {listn: x}\n",
        "shield.yaml:1:9: unknown key 'listn' in admin (did you mean 'listen'?)",
    ),
    ("wrong_type_int", "workers: many\n", "workers: expected an integer, got 'many'"),
    ("negative_int", "workers: -1\n", "workers: must not be negative"),
    ("wrong_type_bool", "reload_rules: maybe\n", "reload_rules: expected true or false"),
    ("bad_cidr", "trusted_proxies: [300.0.0.0/8]\n", "trusted_proxies[0]: not a valid CIDR"),
    ("host_bits_cidr", "trusted_proxies: [10.0.0.1/8]\n", "has host bits set"),
    ("list_expected", "trusted_proxies: 10.0.0.0/8\n", "trusted_proxies: expected a list"),
    ("bad_url", "upstream: localhost:8080\n", "upstream: expected an http:// or https:// URL"),
    ("bad_listen", 'listen: "8000"\n', "listen: expected HOST:PORT"),
    ("bad_store", "store: mongo://x\n", "store: expected memory:// or redis[s]://"),
    ("bad_literal", "mode: strict\n", "mode: must be one of enforce, shadow, got 'strict'"),
    ("bad_country", "home_countries: [Japan]\n", "expected an ISO 3166 two-letter code"),
    ("bad_window", "windows: [1m, 5y]\n", "windows[1]: expected a window like 1m"),
    ("bad_field_ref", "routes: [{name: a, path: /a, account: {body: x}}]\n", "routes[0].account: expected one of"),
    ("route_without_name", "routes: [{path: /a}]\n", "routes[0].name: required"),
    ("route_path_relative", "routes: [{name: a, path: a}]\n", "routes[0].path: must start with '/'"),
    (
        "duplicate_route",
        "routes: [{name: a, path: /a}, {name: a, path: /b}]\n",
        "routes[1].name: duplicate route name 'a'",
    ),
    (
        "unknown_method",
        "routes: [{name: a, path: /a, methods: [PSOT]}]\n",
        "routes[0].methods: unknown method 'PSOT' (did you mean 'POST'?)",
    ),
    ("top_level_list", "- a\n- b\n", "the top level must be a mapping"),
    ("invalid_yaml", "listen: [\n", "shield.yaml:2:1: not valid YAML: "),
    ("missing_secret_file", "secret_file: nope.txt\n", "secret_file: cannot read"),
    (
        "max_difficulty_beyond_the_pow",
        "challenge:\n  max_difficulty: 64\n",
        "shield.yaml:2:3: challenge.max_difficulty: at most 32 (the proof of work's limit), got 64",
    ),
    (
        "base_difficulty_above_max",
        "challenge: {base_difficulty: 24, max_difficulty: 20}\n",
        "challenge.base_difficulty: must not exceed challenge.max_difficulty (20), got 24",
    ),
    ("yaml_alias", "a: &x [1, 2]\nb: *x\n", "shield.yaml:2:4: YAML aliases are not allowed"),
]


@pytest.mark.parametrize(("text", "expected"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_config_is_refused_with_its_key_path(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(write(tmp_path, text), env={})
    assert any(expected in p for p in err.value.problems), err.value.problems


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    config = write(tmp_path, "workers: x\nmode: y\nupstrem: z\n")
    with pytest.raises(SettingsError) as err:
        load_settings(config, env={"SHIELD_LOG_LEVEL": "loud"})
    assert len(err.value.problems) == 4
    assert "env SHIELD_LOG_LEVEL: log.level: must be one of" in str(err.value)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("127.0.0.1:8000", True),
        ("0.0.0.0:0", True),
        ("[::1]:8000", True),
        ("localhost:80", True),
        ("8000", False),
        ("127.0.0.1:70000", False),
        ("[nope]:80", False),
        (":80", False),
    ],
    ids=["v4", "any_port0", "v6", "name", "port_only", "port_range", "bad_v6", "no_host"],
)
def test_listen_addresses(value: str, ok: bool) -> None:
    assert (listen_problem(value) is None) is ok


def test_env_var_names_follow_key_paths() -> None:
    assert env_var("admin.listen") == "SHIELD_ADMIN_LISTEN"
    assert env_var("upstream_options.read_timeout") == "SHIELD_UPSTREAM_OPTIONS_READ_TIMEOUT"


def test_a_yaml_alias_bomb_is_refused_fast_with_its_place(tmp_path: Path) -> None:
    import time

    from tests.settings.yaml_bombs import billion_laughs

    config = write(tmp_path, billion_laughs())
    t0 = time.monotonic()
    with pytest.raises(SettingsError) as err:
        load_settings(config, env={})
    assert time.monotonic() - t0 < 1.0
    assert any(f"{config}:2:" in p and "YAML aliases are not allowed" in p for p in err.value.problems), err.value


def test_a_pool_of_zero_connections_is_refused_with_its_place(tmp_path: Path) -> None:
    # security: a pool with no slot made every request wait forever while /readyz said ready
    config = write(tmp_path, "upstream_options:\n  pool_size: 0\n")
    with pytest.raises(SettingsError) as err:
        load_settings(config, env={})
    assert err.value.problems == [f"{config}:2:3: upstream_options.pool_size: must be at least 1"]


@pytest.mark.parametrize(
    "key",
    [
        "limits.header_read_timeout", "limits.body_read_timeout", "limits.client_write_timeout",
        "limits.max_head_bytes", "limits.max_connections", "upstream_options.pool_acquire_timeout",
    ],
)
def test_a_zero_limit_is_refused(key: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(None, env={env_var(key): "0"})
    assert f"{key}: must be" in err.value.problems[0]
