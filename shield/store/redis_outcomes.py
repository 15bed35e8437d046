"""RedisStore's outcomes: counted off the request path, in batches of one call per master.

An outcome's hot entities (the site, the country, the ASN) are counted by the worker at once and
sent with the next hot batch (shield.store.batched). The rest (the account's history, the other
entities' rows) waits in a Coalescer: the outcomes arriving while a batch is in flight share the
next one, which is one `outcome` call (lua/outcome.lua) per master holding one of their entities.
"""

from __future__ import annotations

from collections.abc import Sequence

from shield.facts.catalog import DIMENSIONS
from shield.model import Observation, Outcome
from shield.store.batched import Batched, Layout
from shield.store.coalesce import Coalescer
from shield.store.redis_bans import RedisBanTable
from shield.store.redis_replies import HOT, hot_owned, values_of
from shield.store.routing import ACCOUNT, Group, entity_key
from shield.store.sliding import MEASURE_INDEX

# One outcome waiting for its batch: now, measure, familiar, the dimension values, lat, lon, confirmed, ripe.
PendingOutcome = tuple[str, str, str, Sequence[str], str, str, str, str]


class RedisOutcomes(RedisBanTable):
    """The Store port's record_outcome (RedisStore's base; RedisStore sets the attributes below).
    Built on the ban table, not beside it: RedisCalls -> RedisBanTable -> RedisOutcomes -> RedisStore
    is one line of bases, as mypyc compiles them (no multiple inheritance of compiled classes)."""

    _batched: Batched
    _hot_layout: Layout
    _site_layout: Layout
    _confirm_after: float
    _outcomes: Coalescer[PendingOutcome]

    async def record_outcome(
        self, obs: Observation, outcome: Outcome, *, familiar: bool, now: float, confirmed: bool = True
    ) -> None:
        if outcome is Outcome.UNKNOWN:
            return
        measure = "s" if outcome is Outcome.SUCCESS else "f"
        # The hot entities' share, counted here (seen by this worker at once, sent with the next batch).
        counted = (MEASURE_INDEX[measure],)
        values = values_of(obs)
        for d in HOT:
            if values[d]:
                key = entity_key(self._tag, DIMENSIONS[d], values[d])
                self._batched.add(self._batched.tally(key, self._hot_layout), now, counted)
        home = self._shard0 if self._router is None else await self._home()
        self._batched.add(self._batched.tally(home, self._site_layout), now, counted)
        located = obs.lat is not None and obs.lon is not None
        lat, lon = (repr(obs.lat), repr(obs.lon)) if located else ("", "")
        # The history's part: whether a success is confirmed, and before when a pending one has matured.
        learn = ("1" if confirmed else "0", repr(now - self._confirm_after))
        # Off the request path: outcomes arriving while a batch is in flight share the next one.
        await self._outcomes.submit((repr(now), measure, "1" if familiar else "0", values, lat, lon, *learn))

    async def _flush_outcomes(self, batch: list[PendingOutcome]) -> None:
        """A batch of outcomes: one call per master, each carrying the outcomes it holds entities of."""
        per_master: dict[str, tuple[Group, list[bytes]]] = {}
        no_hot, owns = dict.fromkeys(HOT, "0"), dict[str, str]()  # a group's owned flags -> the call's
        # One server: every outcome's one group, whatever its values (asked once, not per outcome).
        single = await self._groups((), bans=False, count_site=False) if self._router is None else None
        for now, measure, familiar, values, lat, lon, confirmed, ripe in batch:
            cold = [("" if d in HOT else v) for d, v in enumerate(values)]  # the hot ones are batched
            # The entities' keys, not their values: the script need not build them (Redis's CPU).
            keys = [entity_key(self._tag, DIMENSIONS[d], v) if v else "" for d, v in enumerate(values)]
            learn = (lat, lon, confirmed, ripe)
            for g in single or await self._groups(cold, bans=False, count_site=False):
                own = owns.get(g.owned) or owns.setdefault(g.owned, hot_owned(g.owned, no_hot))
                entry = per_master.setdefault(g.shard, (g, []))
                # Bytes, as the observe's (RedisStore.observe): a str that cannot be encoded fails
                # this batch here, not the loop turn's pipeline it would join.
                entry[1].extend([w.encode() for w in outcome_entry(now, measure, familiar, own, keys, learn)])
        await self._per_master("outcome", [g for g, _ in per_master.values()], lambda g: per_master[g.shard][1])


def outcome_entry(
    now: str, measure: str, familiar: str, owned: str, keys: Sequence[str], learn: Sequence[str]
) -> list[str]:
    """One outcome's entry for one master (lua/outcome.lua): now, flags, the keys they name, and on
    the account's master (which learns the history: every key's value, lat, lon, confirmed, ripe)
    the `learn` values. Another master gets only the keys it counts: every argument is Redis CPU."""
    history = owned[ACCOUNT] == "1" and keys[ACCOUNT] != ""
    # (one per dimension each: equal by construction, redis_replies._STRICT)
    codes = [("1" if c == "1" else ("k" if history else "0")) if k else "0" for c, k in zip(owned, keys)]  # noqa: B905
    flags = "".join(codes) + measure + familiar + "0"
    sent = [k for k, c in zip(keys, codes) if c != "0"]  # noqa: B905
    return [now, flags, *sent, *(learn if history else ())]
