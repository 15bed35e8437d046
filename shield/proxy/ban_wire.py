"""The ban fast path below aiohttp: a banned client's requests answered as the parser emits them.

A flood from a banned address is answered 403 thousands of times a second. On aiohttp's path each
answer builds a Request, a handler task, a context and a response object around the pre-rendered
bytes (95 us of CPU per refusal). Here the connection protocol (shield.proxy.client_limits) hands
each parsed head to `WireBans.answer` while its connection is idle (no earlier answer owed, so the
answers stay in order), and writes the bytes it returns: the same 403 as
shield.proxy.respond.banned, with a request id, recorded the same way (metrics, the folded
`decision` line) by shield.proxy.ban_refusal.BanRefusals.

Only the refusals that need nothing else are answered here; everything else goes on to aiohttp and
the full path as before, which is why this is safe to get wrong by omission:

- a client with no ban (the address, or for a trusted proxy its X-Forwarded-For client, and subnet);
- a refusal whose decision line needs what only aiohttp's Request says: a target that is not its own
  decoded path (a percent escape, a query, an absolute form) or a head without a Host.
- a head shield would refuse as framed (Connection naming a framing header, a Transfer-Encoding
  other than chunked) or too large, and an upgrade (WebSocket).

The first refusals of each ban and second (their own `decision` line, a store count on a protected
route, which is not waited for: `BanRefusals.refuse_head`) are answered here too: a rotating-address
wave's refusals are all first ones, and each cost an aiohttp Request, task and handler.

The body of a refused request is never read: the parser drops a body that came with its head;
one still on its way closes the connection after the answer (Connection: close), as on the full path.

A flood sends one target over and over on each connection. After a refusal, the connection
remembers it (`_Seen`: the target and the refusal's `BanRefusals` streak), and its next head with
the same method and target, framed the same harmless way, skips finding the client, its ban and its
route: `BanRefusals.again` records it, or says that something it depended on changed (then it is
decided afresh). Not when a trusted proxy names the client (each head may name another); the
request id is read (trusted proxy) or made for every head.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from shield.facts.address import subnet_text
from shield.observe.decision_log import refused_head_fields
from shield.proxy.app import REQUEST_ID, RequestIds
from shield.proxy.ban_refusal import BanRefusals, Streak
from shield.proxy.client_ip import Address, TrustedProxies, address, forwarded_client
from shield.proxy.clocks import monotonic_of, now_of
from shield.proxy.early_answers import Connection
from shield.proxy.header_policy import connection_tokens, names_framing
from shield.proxy.message import plain_target
from shield.proxy.passed import Passed
from shield.proxy.respond import banned_wire
from shield.proxy.routes import RouteMatcher
from shield.settings.schema import IPNetwork, RouteSettings

# aiohttp's RawRequestMessage: a NamedTuple to mypy, the C parser's own type at run time (which mypyc's
# compiled tuple checks refuse)
Head = Any


class WireBans:
    """The `Gate` of shield.proxy.early_answers: the bytes of a banned client's 403, or None for aiohttp."""

    __slots__ = ("_bans", "_ids", "_monotonic", "_now", "_peer", "_refusals", "_routes", "_trusted")

    def __init__(
        self, refusals: BanRefusals, *, routes: Sequence[RouteSettings], trusted: Sequence[IPNetwork]
    ) -> None:
        self._refusals = refusals
        self._bans = refusals.ban_cache
        self._now = now_of(refusals.clock)
        self._monotonic = monotonic_of(refusals.clock)
        self._routes = RouteMatcher(routes)
        self._trusted = TrustedProxies(trusted)  # compiled once: client_ip would compile a sequence per call
        self._ids = RequestIds()
        self._peer = functools.lru_cache(maxsize=4096)(self._peer_uncached)

    def _peer_uncached(self, peer: str) -> tuple[Address, bool] | None:
        found = address(peer)
        if found is None:  # not an address (a Unix socket): the full path knows what to do
            return None
        return found, self._trusted.holds(found[1], found[2])

    def answer(self, conn: Connection, msg: Head, *, keep_alive: bool) -> bytes | None:
        """The 403 to write for this request (`keep_alive`: the connection stays open after it),
        having recorded it; or None, recording nothing: aiohttp and the full path handle it."""
        seen = conn.memo
        if seen is not None:
            if msg.path == seen.path and msg.method == seen.method and not msg.upgrade and not _framing_refused(msg):
                # the connection's last head had this target: the same address (unless a trusted
                # proxy now names another client), route and, as long as the streak holds, ban
                rid = self._request_id(msg) if seen.trusted else self._ids.next()
                if rid and self._refusals.again(seen.streak, rid, self._now()):
                    return banned_wire(rid, msg.version, keep_alive=keep_alive, head_only=seen.head_only)
            conn.memo = None
        return self._decide(conn, msg, keep_alive=keep_alive)

    def _decide(self, conn: Connection, msg: Head, *, keep_alive: bool) -> bytes | None:
        bans = self._bans
        if not len(bans):  # no ban in force: nothing to look up
            return None
        known = self._peer(conn.peer)
        if known is None:
            return None
        found, trusted = known
        peer = found[0]
        headers = msg.headers
        forwarded = trusted and ("X-Forwarded-For" in headers or "Forwarded" in headers)
        client = forwarded_client(found, headers, self._trusted) if forwarded else found
        ip = client[0]
        started, now = self._monotonic(), self._now()
        # the subnet from the address's integer: subnet_of would parse the text again (a rotating
        # attack's addresses all miss BanRefusals' cache of them); BanRefusals.find's look, from here
        subnet = subnet_text(client[2], client[1])
        ban = bans.find({"ip": ip, "subnet": subnet}, now)
        if ban is None:
            # the handler of this request takes the client and the ban cache's answer from here
            conn.passed = Passed(msg, peer, trusted, ip, bans.version, subnet)
            return None
        refusals = self._refusals
        if msg.upgrade or _framing_refused(msg):
            conn.passed = Passed(msg, peer, trusted, ip, -1, subnet)
            return None
        rid = headers.get("X-Request-ID", "") if trusted else ""
        if not REQUEST_ID.fullmatch(rid):
            rid = self._ids.next()
        route = self._routes.match(msg.method, msg.path)  # the raw target, as the full path matches it
        streak = refusals.refuse_folded(ban, route, ip, rid, now)
        head_only = msg.method == "HEAD"
        if streak is None:
            # its own decision line or a store count: recorded from the head where the head says what
            # aiohttp's Request would (the decoded path, the host)
            target, host = msg.path, headers.get("Host")
            if host is None or not plain_target(target):
                conn.passed = Passed(msg, peer, trusted, ip, -1, subnet)
                return None
            head = refused_head_fields(msg.method, target, host, headers.get("User-Agent"))
            refusals.refuse_head(ban, route, ip, subnet, rid, head, started, now)
            return banned_wire(rid, msg.version, keep_alive=keep_alive, head_only=head_only)
        if not forwarded:  # the client is the peer: the connection's next heads have it too
            conn.memo = _Seen(msg.method, msg.path, trusted, head_only, streak)
        return banned_wire(rid, msg.version, keep_alive=keep_alive, head_only=head_only)

    def _request_id(self, msg: Head) -> str:
        """The request's id from a trusted proxy, or a new one; "" when a proxy names the client (the
        connection's last client may not be this one)."""
        headers = msg.headers
        if "X-Forwarded-For" in headers or "Forwarded" in headers:
            return ""
        rid = headers.get("X-Request-ID", "")
        return rid if REQUEST_ID.fullmatch(rid) else self._ids.next()


class _Seen:
    """The last head `WireBans` refused on a connection: its target, and the refusal's `Streak`."""

    __slots__ = ("head_only", "method", "path", "streak", "trusted")

    def __init__(self, method: str, path: str, trusted: bool, head_only: bool, streak: Streak) -> None:
        self.method, self.path, self.trusted, self.head_only, self.streak = method, path, trusted, head_only, streak


def _framing_refused(msg: Head) -> bool:
    """Whether shield.proxy.app.framing_refusal would answer this head 400 (it runs before the ban check)."""
    headers = msg.headers
    values = headers.getall("Connection", ())
    if values and names_framing(connection_tokens(values)):
        return True
    codings = headers.getall("Transfer-Encoding", ())
    return bool(codings) and [t.strip().lower() for v in codings for t in v.split(",")] != ["chunked"]
