"""The ban fast path: refuse a banned client before anything is read, and keep the refusal on record.

Runs first for every request, protected or not, so it must stay cheap: with no ban in force it is
one length check; otherwise two dictionary lookups in the per-process BanCache (address and
subnet), no body read, no rules. A refusal then answers 403 with the request's real id and
records it like any other decision:

- a `decision` line with the ban's scope, reason and remaining TTL (folded per ban and second
  under a flood: shield.observe.ban_lines);
- the decision metrics;
- on a protected route, the attempt counted in the store for the address and its subnet (what
  the observe of every protected request writes, with none of its reads: Store.count_attempt,
  which waits for nothing), so a ban that expires does not hand the attacker a clean slate. The
  body is never read, so no account, password or fingerprint is counted. Under a flood the first
  STORE_COUNTS_PER_SECOND refusals of a ban in a second are counted (per worker), the rest only in
  the metrics and the folded lines: the store call was a third of a refusal's cost (as an observe),
  and 20 a second already keeps every attempt counter of the bundled rules past its threshold
  when the ban ends (ip.attempts_1m >= 30 needs two seconds of flood).

The refusals that need neither a line of their own nor a store count (the bulk of a flood) are
answered earlier still, by the connection protocol as the head is parsed (shield.proxy.ban_wire,
through `refuse_folded`): the same bytes and records, no aiohttp Request. `refuse_folded` hands back
a `Streak`, with which `again` records the next refusals of the same client, ban, route and second
without looking anything up again, for as long as nothing they depend on changed (the bans, this
second's store counts, the folded line's second).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aiohttp import web

from shield.facts.address import subnet_of
from shield.model import Ban, Clock, Observation
from shield.observe.ban_lines import BanLines, BanSecond, Folded
from shield.observe.decision_log import Timings, ban_refusal_fields, refused_request_fields
from shield.observe.fact_record import FactScope, ban_record
from shield.observe.metrics import Metrics
from shield.observe.tallies import Count
from shield.proxy.clocks import now_of
from shield.proxy.forwarder import RequestContext
from shield.proxy.respond import Canned, banned
from shield.rules.reload import RuleBook
from shield.settings.schema import RouteSettings
from shield.store.bancache import BanCache
from shield.store.base import Store

PASSTHROUGH = "passthrough"  # the route label of unprotected traffic (shield.proxy.app.PASSTHROUGH)
STORE_COUNTS_PER_SECOND = 20
_MAX_TRACKED = 4096  # bans whose second is tracked at once; past it the table starts over


@functools.lru_cache(maxsize=4096)
def _subnet(ip: str) -> str:  # a flood repeats its address; parsing it was ~4% of a refusal
    return subnet_of(ip)


class Streak:
    """A refusal `refuse_folded` recorded, and what it depended on: see `BanRefusals.again`."""

    __slots__ = ("bans", "decision", "epoch", "folded", "request", "since", "until", "window")

    def __init__(  # positional on purpose: built once a second per connection
        self, since: float, until: float, bans: int, epoch: int, window: BanSecond, folded: Folded,
        request: Count, decision: Count,
    ) -> None:
        self.since, self.until = since, until  # the clock's second, cut short where the ban ends
        self.bans, self.epoch = bans, epoch  # BanCache.version and BanRefusals._epoch then
        self.window, self.folded = window, folded  # the folded line's second, and what it keeps
        self.request, self.decision = request, decision  # the metrics' tallies


class BanRefusals:
    """The `ban_check` of shield.proxy.app: finds a client's ban, answers a banned client 403."""

    __slots__ = (
        "_bans", "_clock", "_counted", "_degraded", "_epoch", "_facts_scope", "_lines", "_metrics", "_now",
        "_rules", "_store",
    )

    def __init__(
        self,
        *,
        bans: BanCache,
        store: Store,
        rules: RuleBook,
        clock: Clock,
        metrics: Metrics,
        lines: BanLines,
        degraded: Callable[[], bool] = lambda: False,
        facts_scope: FactScope = "rules",
    ) -> None:
        self._facts_scope = facts_scope
        self._bans = bans
        self._store = store
        self._rules = rules
        self._clock = clock
        self._now = now_of(clock)
        self._metrics = metrics
        self._lines = lines
        self._degraded = degraded
        self._counted: dict[tuple[str, str], tuple[int, int]] = {}  # ban -> (second, refusals counted in it)
        self._epoch = 0  # bumped when a ban's count starts over (a streak's "not counted" may not hold)

    def banned(self, ctx: RequestContext) -> Ban | None:
        """The ban of this request's client, if any (a request without one costs no coroutine)."""
        bans = self._bans
        if not len(bans) or ctx.unbanned == bans.version:  # no ban, or none for this client (ban_wire found)
            return None
        return self.find(ctx.client_ip, self._now(), ctx.subnet)

    async def refuse(
        self, request: web.Request, ctx: RequestContext, route: RouteSettings | None, ban: Ban
    ) -> web.StreamResponse:
        """The 403 of a client `banned` found a ban for, recorded."""
        subnet = ctx.subnet if ctx.subnet is not None else _subnet(ctx.client_ip)
        return await self._refuse(request, ctx, route, subnet, ban, self._now())

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def ban_cache(self) -> BanCache:
        return self._bans

    def find(self, client_ip: str, now: float, subnet: str | None = None) -> Ban | None:
        """The ban of this address or its subnet (`subnet`: subnet_of(client_ip), if known), if any."""
        return self._bans.find({"ip": client_ip, "subnet": _subnet(client_ip) if subnet is None else subnet}, now)

    def refuse_folded(
        self, ban: Ban, route: RouteSettings | None, client_ip: str, request_id: str, now: float
    ) -> Streak | None:
        """Record a refusal whose decision line folds and that is not counted in the store (what a
        flood's refusals are, after the first few of each second), as `_refuse` would: the metrics and
        the folded line. None, recording nothing, when it needs `_refuse` (a line of its own, or a
        store count): shield.proxy.ban_wire then leaves the request to aiohttp and this class. Else
        the `Streak` that `again` records the next ones like it with."""
        if route is not None and self._counts(ban, now):
            return None
        label = route.name if route is not None else PASSTHROUGH
        window = self._lines.fold(ban, request_id=request_id, route=label, client_ip=client_ip, status=403, now=now)
        if window is None:
            return None
        request, decision = self._metrics.ban_refusal_tallies(label)
        request.n += 1
        decision.n += 1
        assert window.folded_last is not None  # what fold just kept
        second = float(int(now))
        return Streak(second, min(second + 1, ban.expires_at), self._bans.version, self._epoch, window,
                      window.folded_last, request, decision)

    def again(self, streak: Streak, request_id: str, now: float) -> bool:
        """Record a refusal like the one `streak` came from (same client, route and first ban found)
        as `refuse_folded` would, if `refuse_folded` would: the clock is still in its second and the
        ban still in force, no ban came or went (`find` would find the same), this second's store
        count of the ban did not start over (`_counts` would still say no), and the line's second
        still folds. False, recording nothing, when any of them may not hold: then `refuse_folded`
        decides afresh."""
        if (
            not streak.since <= now < streak.until or streak.bans != self._bans.version
            or streak.epoch != self._epoch or streak.window.done
        ):
            return False
        BanLines.refold(streak.window, streak.folded, request_id, now)
        streak.request.n += 1
        streak.decision.n += 1
        return True

    def _record_folded(self, ban: Ban, label: str, client_ip: str, request_id: str, now: float) -> bool:
        """Record a refusal whose line folds; False, recording nothing, when its line would not fold."""
        if not self._lines.fold(ban, request_id=request_id, route=label, client_ip=client_ip, status=403, now=now):
            return False
        self._metrics.request("banned", 403)
        self._metrics.decision(label, "ban", shadow=False)
        return True

    def _counts(self, ban: Ban, now: float) -> bool:
        """Whether `_count` would count this refusal (without counting it)."""
        seen, n = self._counted.get((ban.scope, ban.value), (-1, 0))
        return seen != int(now) or n < STORE_COUNTS_PER_SECOND

    def _count(self, ban: Ban, now: float) -> bool:
        """Whether this refusal is counted in the store: the first STORE_COUNTS_PER_SECOND of a ban's second."""
        key, second = (ban.scope, ban.value), int(now)
        seen, n = self._counted.get(key, (second, 0))
        if seen != second:
            n = 0
            self._epoch += 1
        if n >= STORE_COUNTS_PER_SECOND:
            return False
        if len(self._counted) >= _MAX_TRACKED and key not in self._counted:
            self._counted.clear()
            self._epoch += 1
        self._counted[key] = (second, n + 1)
        return True

    async def _refuse(
        self, request: web.Request, ctx: RequestContext, route: RouteSettings | None, subnet: str, ban: Ban, now: float
    ) -> web.StreamResponse:
        self.refuse_head(ban, route, ctx.client_ip, subnet, ctx.request_id, refused_request_fields(request),
                         ctx.started, now)
        return self._answer(request, ctx)

    def refuse_head(
        self, ban: Ban, route: RouteSettings | None, client_ip: str, subnet: str, request_id: str,
        head: dict[str, Any], started: float, now: float,
    ) -> None:
        """Record a refusal `refuse_folded` leaves (its own decision line, or a store count): `head` is
        its `refused_head_fields` (shield.proxy.ban_wire reads them from the parsed head, `_refuse` from
        aiohttp's Request), `started` the monotonic time its handling began. The store count waits for
        nothing (Store.count_attempt)."""
        label = route.name if route is not None else PASSTHROUGH
        if route is not None and self._count(ban, now):
            self._store.count_attempt(Observation(route=route.name, ip=client_ip, subnet=subnet), now)
        if not self._record_folded(ban, label, client_ip, request_id, now):
            spent = (self._clock.monotonic() - started) * 1000
            self._record(ban, label, client_ip, subnet, request_id, head, Timings(spent, 0.0, None, spent), now)

    def _record(
        self, ban: Ban, label: str, client_ip: str, subnet: str, request_id: str, head: dict[str, Any],
        timings: Timings, now: float,
    ) -> None:
        """The metrics and the decision line of a refusal whose line does not fold."""
        self._metrics.request("banned", 403)
        self._metrics.decision(label, "ban", shadow=False)
        fields = ban_refusal_fields(
            request_id=request_id, route=label, client_ip=client_ip, subnet=subnet, ban=ban,
            ruleset=self._rules.current.hash, store_degraded=self._degraded(), timings=timings, now=now,
        )
        fields.update(head)
        if (record := ban_record(scope=self._facts_scope, ban_scope=ban.scope)) is not None:
            fields["facts"] = record  # replay keeps a ban refusal a ban, whatever the candidate rules say
        self._lines.write(ban, fields, now)

    @staticmethod
    def _answer(request: web.Request, ctx: RequestContext) -> web.StreamResponse:
        answer = banned(ctx.request_id)
        if request.body_exists and not request.content.is_eof() and isinstance(answer, Canned):
            # security: the body is never read, and not drained either: aiohttp's lingering close would
            # read a banned client's huge or slow body for up to 10 s (a socket and a worker's time).
            # The client may see a reset instead of its 403 when more of its body arrives after the close.
            answer.hang_up()
        return answer
