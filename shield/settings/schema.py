"""Settings: `shield.yaml` + `SHIELD_*` environment -> these frozen dataclasses, once, at start.

The field names are the product's interface: the YAML keys are exactly these names, and
every key has an environment variable made of its path (`admin.listen` -> SHIELD_ADMIN_LISTEN).
The loader (shield.settings.load) walks these dataclasses generically, so a new setting is
one field with a default and one line of README.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shield.model import DEFAULT_WINDOWS, Window

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# security: a puzzle above this would never be solved by a phone; a token claiming more is forged anyway.
# Here (not in shield.challenge.pow, which enforces it) so the loader refuses a config beyond it.
MAX_DIFFICULTY = 32

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PROJECT_DIR = PACKAGE_DIR.parent  # the source checkout (tests and docs read it); not in a wheel
# The bundled rule pack, package data (a wheel ships it), used when the config names none.
BUNDLED_RULES = PACKAGE_DIR / "rules" / "bundled"
# The demo world: a made-up GeoIP database over documentation and benchmarking ranges, and the
# lists that go with it (its hosting ASNs, carriers, relays). Only `shield demo`, `./dev run`, the
# simulator and the tests that ask for it load these; a plain `shield run` has no GeoIP. They are
# the simulator's package data; this module only names where they are (it imports nothing of sim).
DEMO_DATA = PACKAGE_DIR / "sim" / "data"
DEMO_CSV = DEMO_DATA / "demo.csv"
DEMO_GEOIP = DEMO_DATA / "demo.mmdb"
DEMO_LISTS = DEMO_DATA / "demo-lists"


@dataclass(slots=True, frozen=True)
class FieldRef:
    """Where a value lives in a request: {json: a.b}, {form: f}, {header: H} or {query: q}."""

    source: Literal["json", "form", "header", "query"]
    path: str


@dataclass(slots=True, frozen=True)
class ValueMatch:
    """A response field (JSON dotted path or header name) and the values that mean success/failure."""

    field: str
    success: tuple[str, ...] = ()
    failure: tuple[str, ...] = ()


@dataclass(slots=True, frozen=True)
class OutcomeSettings:
    """How to read a login's result from the upstream's answer: header, then JSON, then status."""

    success_status: frozenset[int] = frozenset({200})
    failure_status: frozenset[int] = frozenset({401, 403})
    json: ValueMatch | None = None
    header: ValueMatch | None = None


@dataclass(slots=True, frozen=True)
class PathFolds:
    """How a request path is folded before it is compared with a route's path (README: which framework needs which).

    Percent-decoding, dot segments and duplicate slashes are always handled; these four are the
    per-framework folds, all on by default: a fold the app does not do only protects a path the app answers 404.
    """

    case: bool = True  # /API/Login: Express (default), ASP.NET, IIS route case-insensitively
    path_params: bool = True  # /api;x/login;jsessionid=1: Tomcat, Spring, Jetty drop ;params in every segment
    backslash: bool = True  # /api\login and %5C: IIS/ASP.NET and some Node servers read them as /
    format_suffix: bool = True  # /api/login.json: Rails (.:format), Spring suffix patterns, DRF format suffixes


# Where a field is read, in order: one source or several (the first present wins).
FieldSources = FieldRef | tuple[FieldRef, ...]


@dataclass(slots=True, frozen=True)
class RouteSettings:
    name: str
    path: str  # exact, or a glob such as /api/*/login
    methods: frozenset[str] = frozenset({"POST"})
    account: FieldSources | None = None
    password: FieldSources | None = None
    # A field sent twice (form, query or JSON key): first (Flask, Go, Java servlets), last (Django, Rack, PHP,
    # JSON parsers), or malformed: flagged, and counted under the last value.
    duplicates: Literal["first", "last", "malformed"] = "malformed"
    fold: PathFolds = field(default_factory=PathFolds)
    outcome: OutcomeSettings = field(default_factory=OutcomeSettings)
    max_body: int = 64 * 1024
    on_store_error: Literal["allow", "challenge"] = "allow"


DEFAULT_ROUTES: tuple[RouteSettings, ...] = (
    RouteSettings(
        name="login",
        path="/api/login",
        # security: every place a common framework reads a login from (Express, Rails and PHP take JSON, form and
        # query alike): a login sent as a form or a query string must reach the account counters too
        account=(FieldRef("json", "username"), FieldRef("form", "username"), FieldRef("query", "username")),
        password=(FieldRef("json", "password"), FieldRef("form", "password"), FieldRef("query", "password")),
    ),
)


@dataclass(slots=True, frozen=True)
class GeoipSettings:
    """None: no database, so no geo facts and the geo rules stay inactive (`geoip.missing` at start)."""

    country: Path | None = None  # an mmdb with country (and location): GeoLite2/GeoIP2 City or Country, IPinfo, DB-IP
    asn: Path | None = None  # an mmdb with the ASN: GeoLite2/GeoIP2 ASN, IPinfo, DB-IP (may be the same file)


@dataclass(slots=True, frozen=True)
class AdminSettings:
    listen: str = "127.0.0.1:9000"
    token: str | None = None  # secret: from SHIELD_ADMIN_TOKEN or admin.token_file
    # secret, read-only: GET /metrics only (a scraper's token cannot add bans or reload rules)
    metrics_token: str | None = None


@dataclass(slots=True, frozen=True)
class UpstreamSettings:
    connect_timeout: float = 2.0
    read_timeout: float = 30.0
    pool_size: int = 256  # keep-alive connections to the upstream per worker
    pool_acquire_timeout: float = 5.0  # seconds a request waits for a free one (then 503)
    max_response_inspect: int = 64 * 1024  # protected responses read up to this to classify
    # h1: shield's own HTTP/1.1 client (plain-HTTP upstreams); aiohttp: aiohttp's ClientSession,
    # always used for an https:// upstream and for WebSocket upgrades.
    client: Literal["h1", "aiohttp"] = "h1"


@dataclass(slots=True, frozen=True)
class LimitsSettings:
    """What one client connection may cost the proxy listener (the admin listener has its own
    fixed, small limits): time to send a head or a body, time to take an answer, head bytes,
    and connections per worker."""

    header_read_timeout: float = 10.0  # seconds from connect (or the head's first byte) to a whole head
    body_read_timeout: float = 30.0  # seconds without a byte of a request body being uploaded
    keepalive_timeout: float = 75.0  # seconds an idle keep-alive connection is kept
    client_write_timeout: float = 30.0  # seconds a client may take no part of the answer
    max_head_bytes: int = 32 * 1024  # request line + headers, in total (then 431)
    max_header_bytes: int = 16 * 1024  # one header line (then 431)
    max_headers: int = 100  # header lines per request (then 431)
    max_connections: int = 10_000  # open client connections per worker (above: 503 and close)


@dataclass(slots=True, frozen=True)
class LogSettings:
    level: Literal["debug", "info", "warning", "error"] = "info"
    # auto: console on a TTY, else JSON; ecs: JSON in Elastic Common Schema (shield.observe.ecs)
    format: Literal["auto", "json", "console", "ecs"] = "auto"
    account_in_clear: bool = False  # log the normalised account beside its keyed hash
    requests: bool = True  # false: no `request` line for pass-through traffic (decisions stay)
    # Per ban and second, this many refused requests get their own `decision` line; the rest of that
    # second are folded into one `decision.folded` line with their count. 0: never fold.
    ban_lines_per_second: int = 10
    # the facts on each decision line, for `shield replay`: those the rules read, every fact, or none
    decision_facts: Literal["rules", "catalog", "off"] = "rules"


@dataclass(slots=True, frozen=True)
class ClientSettings:
    """What the legitimate clients look like: the mobile app and the device id carriers."""

    app_ua_pattern: str | None = None  # regex matched against User-Agent -> ua.app
    app_version_header: str | None = None  # header the real app always sends
    device_header: str | None = None  # header carrying the app's device id
    device_cookie: str = "shield_device"  # shield's signed device cookie for browsers
    device_cookie_ttl: int = 400 * 86400
    tls_fingerprint_header: str | None = None  # e.g. X-JA4 set by the TLS terminator
    secure_cookies: bool = False  # set Secure on cookies (behind HTTPS)


@dataclass(slots=True, frozen=True)
class ChallengeSettings:
    ttl: int = 300  # seconds a puzzle may be solved in
    base_difficulty: int = 16  # leading zero bits at the challenge threshold
    max_difficulty: int = 20  # ~1.5 s on a phone browser; 22 is too harsh for real users
    bind: Literal["ip", "subnet"] = "ip"  # subnet suits mobile carriers that rotate addresses
    pass_ttl: int = 3600  # how long a solved challenge's pass lowers the score
    pass_credit: int = 40  # score removed while a pass is valid
    solve_credit: int = 40  # score removed from the request that carries a solution


@dataclass(slots=True, frozen=True)
class DelaySettings:
    max_seconds: float = 5.0
    max_concurrent: int = 1000  # above it, a delayed request is answered 429 instead


@dataclass(slots=True, frozen=True)
class MemoryStoreSettings:
    max_keys: int = 1_000_000
    history_days: int = 90
    history_size: int = 10


@dataclass(slots=True, frozen=True)
class HistorySettings:
    """How an account's history learns (shield.decision.confirm, shield.store.records)."""

    # A success that any rule scored, or that came after a challenge, teaches nothing until
    # it is this old without a failed login on the account. A day: the owner who was not the one logging
    # in usually notices (a notification, a failed login of their own) within hours, and a real user's
    # new device is learned by their next day's login.
    confirm_after: float = 86400.0
    # The app confirms a login (its own second factor passed) by answering it with this header set to 1;
    # shield removes the header before the answer reaches the client.
    confirm_header: str = "Shield-Confirm"


@dataclass(slots=True, frozen=True)
class Settings:
    listen: str = "127.0.0.1:8000"
    upstream: str = "http://127.0.0.1:8080"
    workers: int = 0  # 0: one per CPU of the container's quota (cgroup cpu.max), else of the host
    trusted_proxies: tuple[IPNetwork, ...] = (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("::1/128"),
    )
    home_countries: frozenset[str] = frozenset({"JP"})
    store: str = "memory://"
    geoip: GeoipSettings = field(default_factory=GeoipSettings)
    rules: Path = BUNDLED_RULES
    extra_lists: tuple[Path, ...] = ()  # more list folders; a list named like one in rules/lists/ adds to it
    mode: Literal["enforce", "shadow"] = "enforce"
    routes: tuple[RouteSettings, ...] = DEFAULT_ROUTES
    admin: AdminSettings = field(default_factory=AdminSettings)
    secret: bytes = b""  # secret: from SHIELD_SECRET or secret_file; random per start if unset
    upstream_options: UpstreamSettings = field(default_factory=UpstreamSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    log: LogSettings = field(default_factory=LogSettings)
    client: ClientSettings = field(default_factory=ClientSettings)
    challenge: ChallengeSettings = field(default_factory=ChallengeSettings)
    delay: DelaySettings = field(default_factory=DelaySettings)
    memory: MemoryStoreSettings = field(default_factory=MemoryStoreSettings)
    history: HistorySettings = field(default_factory=HistorySettings)
    windows: tuple[Window, ...] = DEFAULT_WINDOWS
    reload_rules: bool = True  # watch rules/ and reload on change
    shutdown_grace: float = 10.0  # seconds in-flight requests may finish after SIGTERM
