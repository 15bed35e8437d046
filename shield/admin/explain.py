"""Admin route POST /explain: a request description -> the explanation, as the running shield decides.

The described request goes through the live rule pack (its rules and lists), the live GeoIP, and
the store's bans (looked up, never counted), then through evaluate_request like a real one: the
answer agrees with what the pipeline does to the same request (tests/e2e/test_explain_agrees.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import orjson
from aiohttp import web

from shield.decision.explain import explain, render
from shield.decision.explain_request import DescriptionError, describe, from_mapping, with_ban
from shield.facts.build import FactBuilder
from shield.model import Clock, FactValue
from shield.proxy.routes import RouteMatcher
from shield.rules.reload import RuleBook
from shield.settings.schema import Settings
from shield.store.base import Store, StoreUnavailable


def _jsonable(value: FactValue) -> object:
    return sorted(value) if isinstance(value, frozenset) else value


def explain_routes(
    settings: Settings, *, facts: FactBuilder, rules: RuleBook, store: Store, clock: Clock,
    degraded: Callable[[], bool] = lambda: False,
) -> list[web.RouteDef]:
    """`degraded`: the shared store is unreachable right now (the route's on_store_error applies, as live)."""
    routes = RouteMatcher(settings.routes)

    async def post_explain(request: web.Request) -> web.Response:
        now = clock.now()
        pack = rules.pack  # one read: the facts' lists and the rules from the same load
        try:
            data = orjson.loads(await request.read())
            if not isinstance(data, dict):
                raise DescriptionError("the description must be a JSON object")
            described = describe(from_mapping(data), settings, facts, routes=routes, lists=pack.lists, now=now)
        except (orjson.JSONDecodeError, DescriptionError, TypeError, ValueError) as exc:
            return web.json_response({"error": "bad_description", "message": str(exc)}, status=400)
        with contextlib.suppress(StoreUnavailable):  # explained without bans, said in the reasons
            described = with_ban(described, await store.find_ban(described.ban_keys(), now))
        e = explain(
            pack.rules, described, challenge=settings.challenge, now=now, mode=settings.mode, degraded=degraded()
        )
        d = e.decision
        body = {
            "route": e.route,
            "ruleset": e.ruleset,
            "score": d.score,
            "action": d.action.value,
            "rules": [
                {"id": r.id, "score": r.score, "action": r.action.value if r.action else None} for r in e.matched
            ],
            "shadow_rules": [{"id": r.id, "score": r.score} for r in e.shadow],
            "shadow_action": d.shadow_action.value if d.shadow_action else None,
            "reasons": list(d.reasons),
            "evidence": dict(d.scores_by_class),
            "facts": {k: _jsonable(v) for k, v in e.facts},
            "text": render(e, all_facts=False),
        }
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    return [web.post("/explain", post_explain)]
