"""A tiny in-test store: only the Store methods the challenge and admin code use.

Not a stand-in for shield's stores (those have their own contract suite); it exists so these
tests do not depend on another part's progress. Replace with shield.store.memory.MemoryStore
once that lands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shield.model import Ban, BanScope


@dataclass
class TinyStore:
    claims: dict[str, float] = field(default_factory=dict)
    _bans: dict[tuple[str, str], Ban] = field(default_factory=dict)

    async def claim_once(self, key: str, *, ttl: float, now: float) -> bool:
        if self.claims.get(key, 0.0) > now:
            return False
        self.claims[key] = now + ttl
        return True

    async def add_ban(
        self,
        scope: BanScope,
        value: str,
        *,
        ttl: float,
        reason: str,
        now: float,
        source: str = "rules",
        escalate: bool = True,
        max_ttl: float = 7 * 86400,
    ) -> Ban:
        ban = Ban(scope, value, reason, created_at=now, expires_at=now + min(ttl, max_ttl), source=source)
        self._bans[(scope, value)] = ban
        return ban

    async def remove_ban(self, scope: BanScope, value: str) -> bool:
        return self._bans.pop((scope, value), None) is not None

    async def bans(self, now: float) -> list[Ban]:
        return [b for b in self._bans.values() if b.active(now)]
