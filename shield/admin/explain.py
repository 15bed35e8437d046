"""Admin routes for the rules: POST /explain (a request description -> the explanation)."""

from __future__ import annotations

from collections.abc import Callable

import orjson
from aiohttp import web

from shield.decision.explain_request import DescriptionError, describe_facts, from_mapping
from shield.facts.build import FactBuilder
from shield.model import Clock, FactValue
from shield.rules.explain import explain, render
from shield.rules.reload import RuleBook
from shield.settings.schema import Settings


def _jsonable(value: FactValue) -> object:
    return sorted(value) if isinstance(value, frozenset) else value


def explain_routes(
    settings: Settings, facts: Callable[[], FactBuilder], rules: RuleBook, clock: Clock
) -> list[web.RouteDef]:
    """`facts` gives the current fact builder (a rules reload replaces it with new lists)."""

    async def post_explain(request: web.Request) -> web.Response:
        try:
            data = orjson.loads(await request.read())
            if not isinstance(data, dict):
                raise DescriptionError("the description must be a JSON object")
            desc = from_mapping(data)
            route, _rf, all_facts = describe_facts(desc, settings, facts(), now=clock.now())
        except (orjson.JSONDecodeError, DescriptionError, TypeError, ValueError) as exc:
            return web.json_response({"error": "bad_description", "message": str(exc)}, status=400)
        ruleset = rules.current
        e = explain(ruleset, ruleset.policy, all_facts, route, challenge=settings.challenge)
        d = e.decision
        body = {
            "route": route,
            "ruleset": e.ruleset,
            "score": d.score,
            "action": d.action.value,
            "rules": [
                {"id": r.id, "score": r.score, "action": r.action.value if r.action else None} for r in e.matched
            ],
            "shadow_rules": [{"id": r.id, "score": r.score} for r in e.shadow],
            "shadow_action": d.shadow_action.value if d.shadow_action else None,
            "facts": {k: _jsonable(v) for k, v in e.facts},
            "text": render(e, all_facts=False),
        }
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    return [web.post("/explain", post_explain)]
