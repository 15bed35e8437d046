"""One protected request, start to finish: the only place that awaits the steps.

identity+enrich (FactBuilder, pure) -> challenge state (pure) -> signals (one store call)
-> history/site facts (pure) -> rules (pure) -> decide (pure) -> act -> outcome (off the
request path) -> one `decision` log line and metrics.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Literal, NamedTuple

import structlog
from aiohttp import hdrs, web

from shield.challenge import passes, pow
from shield.challenge.carried import carried
from shield.challenge.pages import clear_solution_cookie
from shield.decision.confirm import app_confirmed, confirmed
from shield.decision.evaluate import evaluate_request
from shield.decision.outcome import classify
from shield.decision.takeover import event_fields, suspected, takeover_risk, with_risk_tag
from shield.facts.build import FactBuilder, RequestFacts, observation
from shield.facts.identity.device import minted_device_id
from shield.model import (
    Action,
    Ban,
    BanScope,
    Clock,
    Decision,
    FactValue,
    Observation,
    Outcome,
    TakeoverPolicy,
)
from shield.observe.app_pattern_warning import AppPatternWarning
from shield.observe.decision_log import Timings, log_ban_added, log_decision
from shield.observe.metrics import Metrics
from shield.proxy.app import upstream_failure
from shield.proxy.clocks import monotonic_of, now_of
from shield.proxy.delay import Tarpit
from shield.proxy.forwarder import Forwarder, RequestContext, StreamAborted, UpstreamError, UpstreamReply
from shield.proxy.header_policy import SHIELD_PREFIX
from shield.proxy.message import host, path_and_query
from shield.proxy.respond import banned, rate_limited, refusal, upstream_tags
from shield.rules.pack import RulePack
from shield.rules.reload import RuleBook
from shield.settings.schema import RouteSettings, Settings
from shield.store.bancache import BanCache
from shield.store.base import Store

log = structlog.get_logger()

Mode = Literal["enforce", "shadow"]
# Where the pipeline reads its mode, once per request: the settings' by default; the simulator
# passes its own (shadow while it replays the weeks before a run, enforce after).
ModeSource = Callable[[], Mode]


class ChallengeState(NamedTuple):
    """What the request carried: a solution (`solved`/`failed`) and/or a valid pass.

    A NamedTuple, not a frozen dataclass: one per protected request, internal to the pipeline (2.9 us against 0.8)."""

    binding: pow.Binding | None  # None: nothing carried, and not built (Pipeline._binding when needed)
    solved: bool
    failed: str | None  # why a carried solution was refused
    passed: bool

    @property
    def label(self) -> str:
        if self.solved:
            return "solved"
        if self.failed:
            return f"failed:{self.failed}"
        return "pass" if self.passed else "none"


# A request that carries no pass and no solution: most of them (a stuffing wave's are), decided without
# building its binding or reading its cookies.
NOTHING_CARRIED = ChallengeState(None, solved=False, failed=None, passed=False)


def carries_nothing(request: web.Request) -> bool:
    """True when `carried` would find neither a pass nor a solution (passes.read_pass and pow.read_solution
    read these two headers and two cookies). False is always safe: the full check runs."""
    headers = request._message.headers  # request.headers (shield.proxy.message)
    if headers.get(passes.PASS_HEADER) or headers.get(pow.RESPONSE_HEADER):
        return False
    if hdrs.COOKIE not in headers:
        return True
    cookies = request.cookies
    return passes.PASS_COOKIE not in cookies and pow.SOLUTION_COOKIE not in cookies


class Handled(NamedTuple):
    """One protected request once decided: what `_act` needs to answer, record and log it.

    A NamedTuple, not a frozen dataclass: built for every protected request, and a frozen slots
    dataclass's __init__ sets its 14 fields one object.__setattr__ at a time (2.8 us against 1.0)."""

    request: web.Request
    route: RouteSettings
    body: bytes
    ctx: RequestContext
    rf: RequestFacts
    facts: dict[str, FactValue]
    obs: Observation
    decision: Decision
    state: ChallengeState
    pack: RulePack  # the rules and lists this request was decided with (a reload mid-request changes nothing)
    timings: tuple[float, float]  # shield_ms, store_ms
    degraded: bool
    now: float
    ban: Ban | None


class Pipeline:
    """The ProtectedHandler of shield.proxy.app: decides, acts, records, logs."""

    def __init__(
        self,
        settings: Settings,
        *,
        facts: FactBuilder,
        store: Store,
        rules: RuleBook,
        forwarder: Forwarder,
        clock: Clock,
        metrics: Metrics,
        bans: BanCache,
        degraded: Callable[[], bool] = lambda: False,
        mode: ModeSource | None = None,
    ) -> None:
        self.settings = settings
        self.facts = facts
        self.store = store
        self.rules = rules
        self.forwarder = forwarder
        self.clock = clock
        self._now, self._monotonic = now_of(clock), monotonic_of(clock)
        self.metrics = metrics
        self.bans = bans
        self.degraded = degraded
        # enforce, or shadow: decide and log, let everything through
        self.mode: ModeSource = mode or (lambda: settings.mode)
        self.tarpit = Tarpit(settings.delay.max_concurrent, max_seconds=settings.delay.max_seconds)
        self._secret = settings.secret
        self._tasks: set[asyncio.Task[None]] = set()
        self.app_pattern = AppPatternWarning(settings.client)  # config.app_ua_pattern_missing, once per worker

    async def __call__(
        self, request: web.Request, route: RouteSettings, body: bytes, ctx: RequestContext
    ) -> web.StreamResponse:
        monotonic = self._monotonic
        started = monotonic()
        now = self._now()
        pack = self.rules.pack  # one read: the facts' lists and the rules come from the same load
        msg = request._message  # the head's fields, not the Request's properties (shield.proxy.message)
        path, query = path_and_query(request)
        rf = self.facts.build(
            request_id=ctx.request_id, route=route, method=msg.method, path=path,
            query=query, raw_headers=msg.raw_headers, body=body, client_ip=ctx.client_ip,
            peer_trusted=ctx.peer_trusted, lists=pack.lists,
        )
        self.app_pattern.seen(rf.facts, route=route.name)
        state = NOTHING_CARRIED if carries_nothing(request) else await self._challenge_state(request, rf, now)
        obs = observation(rf)
        t_store = monotonic()
        signals = await self.store.observe(obs, now)
        store_s = monotonic() - t_store
        degraded = self.degraded()
        evaluation = evaluate_request(
            pack.rules, rf.facts, route, signals, challenge=self.settings.challenge, now=now, mode=self.mode(),
            solved=state.solved, passed=state.passed, failed=state.failed is not None, degraded=degraded,
        )
        facts, decision = evaluation.facts, evaluation.decision
        shield_ms = (monotonic() - started) * 1000
        self.metrics.decided(route.name, store_s, shield_ms / 1000)  # the store's and shield's time
        if decision.action is Action.BAN and decision.enforced and signals.ban is None:
            await self._ban(decision, rf, facts, pack, now)
        return await self._act(Handled(
            request, route, body, ctx, rf, facts, obs, decision, state, pack, timings=(shield_ms, store_s * 1000),
            degraded=degraded, now=now, ban=signals.ban,
        ))

    # -- the pure-ish steps -------------------------------------------------------------

    def _binding(self, rf: RequestFacts) -> pow.Binding:
        a = rf.attempt
        return pow.Binding.of(
            ip=a.client_ip, subnet=a.subnet, route=a.route, fingerprint=a.fingerprint,
            bind=self.settings.challenge.bind, account=a.account_id or "",
        )

    async def _challenge_state(self, request: web.Request, rf: RequestFacts, now: float) -> ChallengeState:
        binding = self._binding(rf)
        marks = carried(self._secret, request.headers, request.cookies, binding=binding, now=now)
        passed, solution, result = marks.passed, marks.solution, marks.result
        if solution is None or result is None:
            return ChallengeState(binding, solved=False, failed=None, passed=passed)
        if not result.ok:
            self.metrics.challenge("failed")
            log.info("challenge.failed", request_id=rf.attempt.request_id, reason=result.status.value)
            return ChallengeState(binding, solved=False, failed=result.status.value, passed=passed)
        # security: a solution is good once; a replay is refused through the store.
        key = result.replay_key or solution
        fresh = await self.store.claim_once(key, ttl=self.settings.challenge.ttl + 60, now=now)
        if not fresh:
            self.metrics.challenge("failed")
            log.info("challenge.failed", request_id=rf.attempt.request_id, reason="replayed")
            return ChallengeState(binding, solved=False, failed="replayed", passed=passed)
        self.metrics.challenge("passed")
        log.info("challenge.passed", request_id=rf.attempt.request_id, route=rf.attempt.route)
        return ChallengeState(binding, solved=True, failed=None, passed=passed)

    async def _ban(
        self, decision: Decision, rf: RequestFacts, facts: dict[str, FactValue], pack: RulePack, now: float
    ) -> None:
        scope = decision.ban_scope or "ip"
        value = _ban_value(scope, rf, facts)
        if value is None:
            return
        policy = pack.rules.policy
        reason = ",".join([h.id for h in decision.hits[:8]]) or "score"
        ban = await self.store.add_ban(
            scope, value, ttl=decision.ban_ttl or policy.ban.ttl, reason=reason, now=now,
            max_ttl=policy.ban.max_ttl,
        )
        self.bans.put(ban)
        self.metrics.ban(scope)
        # once per banned client of a wave: structlog's pipeline cost ~40 us of it, the direct line a few
        fields = log_ban_added(rf.attempt.request_id, scope, value, ban.expires_at - now, ban.offenses, reason)
        if fields is not None:
            log.warning("ban.added", **fields)

    # -- acting ---------------------------------------------------------------------------

    async def _act(self, h: Handled) -> web.StreamResponse:
        request, route, ctx, rf, facts, decision, state, now = (
            h.request, h.route, h.ctx, h.rf, h.facts, h.decision, h.state, h.now
        )
        challenge_label = state.label
        answer: web.StreamResponse | None = None
        delayed = 0.0
        if decision.enforced and decision.action is Action.DELAY:
            if await self.tarpit.hold(decision.delay_s):
                delayed = min(decision.delay_s, self.tarpit.max_seconds)
            else:  # the tarpit is full: refuse rather than hold more sockets
                answer = rate_limited(rf.attempt.request_id, max(1, int(decision.delay_s)))
        elif decision.enforced:
            answer = await self._refuse(request, rf, decision, state, now)
            if answer is not None and decision.action is Action.CHALLENGE:
                challenge_label = "issued"
        upstream_status: int | None = None
        outcome = Outcome.UNKNOWN
        upstream_ms: float | None = None
        takeover = h.pack.rules.policy.takeover
        risk: str | None = None  # a refusal's outcome is unknown: never a suspected takeover, no risk to weigh
        if answer is None:
            risk = takeover_risk(facts, takeover) if rf.attempt.account_id else None
            extra = upstream_tags(decision, solved=state.solved or state.passed)
            if risk is not None and decision.enforced:
                extra = with_risk_tag(extra, decision)
            try:
                reply = await self.forwarder.exchange(request, h.body, ctx, extra)
            except UpstreamError as exc:
                answer = upstream_failure(exc, ctx.request_id, metrics=self.metrics, upstream=self.settings.upstream)
            else:
                try:
                    upstream_status, upstream_ms = reply.status, reply.upstream_seconds * 1000
                    ctype = reply.headers.get("Content-Type")
                    outcome = classify(route.outcome, reply.status, reply.headers, reply.body, ctype)
                    self.metrics.login_outcome(route.name, outcome.value)
                    by_app = app_confirmed(reply.headers, self.settings.history.confirm_header)
                    _drop_shield_headers(reply)
                    answer = await self._send(request, reply, rf, state, now, delayed)
                finally:
                    # send releases it; an exception before that must not strand the upstream
                    # connection (with the h1 client, its pool slot for good).
                    reply.release()
                self.metrics.upstream_time(route.name, reply.upstream_seconds)
                if outcome is not Outcome.UNKNOWN:
                    learn = confirmed(
                        decision, solved=state.solved, passed=state.passed, takeover=risk is not None, by_app=by_app
                    )
                    self._record(
                        _learned(h.obs, rf, outcome), outcome, familiar=facts.get("account.familiar") is True,
                        now=now, confirmed=learn,
                    )
        total_ms = (self._monotonic() - ctx.started) * 1000
        self._observe(
            h, challenge_label, answer.status, upstream_status, outcome,
            Timings(h.timings[0], h.timings[1], upstream_ms, total_ms),
        )
        if suspected(risk, outcome):
            self._takeover(rf, facts, str(risk), takeover)
        return answer

    def _takeover(self, rf: RequestFacts, facts: dict[str, FactValue], risk: str, policy: TakeoverPolicy) -> None:
        self.metrics.takeover_suspected(risk)
        log.warning(
            "takeover.suspected", request_id=rf.attempt.request_id, route=rf.attempt.route,
            account_id=rf.attempt.account_id, client_ip=rf.attempt.client_ip, device_id=rf.attempt.device_id,
            **event_fields(risk, facts, policy),
        )

    async def _refuse(
        self, request: web.Request, rf: RequestFacts, decision: Decision, state: ChallengeState, now: float
    ) -> web.StreamResponse | None:
        action = decision.action
        if action is Action.BAN:
            return banned(rf.attempt.request_id)
        challenge = None
        if action is Action.CHALLENGE:
            cs = self.settings.challenge
            # decide sets the difficulty of every challenge, capped at challenge.max_difficulty
            binding = state.binding or self._binding(rf)
            challenge = pow.issue(self._secret, binding=binding, difficulty=decision.difficulty, now=now,
                                  ttl=cs.ttl)
            self.metrics.challenge("issued")
        return refusal(
            decision, rf.attempt.request_id, challenge=challenge, accept=request.headers.get("Accept"),
            method=request.method,
        )

    async def _send(
        self,
        request: web.Request,
        reply: UpstreamReply,
        rf: RequestFacts,
        state: ChallengeState,
        now: float,
        delayed: float,
    ) -> web.StreamResponse:
        extra: dict[str, str] = {}
        if delayed:
            extra["Shield-Delayed"] = f"{delayed:g}"
        cookies: list[str] = []
        secure = self.settings.client.secure_cookies
        if state.solved:
            cs = self.settings.challenge
            binding = state.binding or self._binding(rf)  # a solved state has one
            value = passes.issue_pass(self._secret, binding=binding, now=now, ttl=cs.pass_ttl)
            extra[passes.PASS_HEADER] = value
            cookies.append(passes.pass_cookie(value, ttl=cs.pass_ttl, secure=secure))
            if pow.SOLUTION_COOKIE in request.cookies:
                cookies.append(clear_solution_cookie(secure=secure))
        if rf.new_device_cookie is not None:
            cookies.append(_device_cookie(self.settings, rf.new_device_cookie))
        if cookies:
            reply.headers.extend(("Set-Cookie", c) for c in cookies)
        try:
            fw = await self.forwarder.send(request, reply, extra or None)
        except StreamAborted as exc:
            fw = exc.forwarded
        return fw.response

    def _record(self, obs: Observation, outcome: Outcome, *, familiar: bool, now: float, confirmed: bool) -> None:
        """Record the outcome off the request path; the task is referenced until it ends."""
        task = asyncio.create_task(
            self._record_now(obs, outcome, familiar, now, confirmed), name="shield.decision.outcome"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record_now(self, obs: Observation, outcome: Outcome, familiar: bool, now: float, learn: bool) -> None:
        try:
            await self.store.record_outcome(obs, outcome, familiar=familiar, now=now, confirmed=learn)
        except Exception:  # the resilient store already logs outages; this is a bug's last net
            log.exception("outcome.record_failed")

    async def drain(self) -> None:
        """Wait for pending outcome writes (shutdown, tests)."""
        if self._tasks:
            await asyncio.gather(*tuple(self._tasks), return_exceptions=True)

    def _observe(
        self, h: Handled, challenge: str, status: int, upstream_status: int | None, outcome: Outcome, timings: Timings
    ) -> None:
        rf, facts, decision = h.rf, h.facts, h.decision
        self.metrics.answered(rf.attempt.route, status, decision)  # requests, decisions, rule hits
        logs = self.settings.log
        fields = log_decision(
            rf.attempt, facts, decision, challenge, status, upstream_status, outcome, timings, h.degraded,
            logs.account_in_clear, logs.decision_facts, h.pack.rules.reads, h.ban, h.now, host(h.request),
        )
        if fields is not None:
            log.info("decision", **fields)


def _ban_value(scope: BanScope, rf: RequestFacts, facts: dict[str, FactValue]) -> str | None:
    a = rf.attempt
    if scope == "ip":
        return a.client_ip
    if scope == "subnet":
        return a.subnet
    if scope == "asn":
        asn = facts.get("ip.asn")
        return str(asn) if isinstance(asn, int) else None
    if scope == "account":
        return a.account_id
    return a.fingerprint


def _learned(obs: Observation, rf: RequestFacts, outcome: Outcome) -> Observation:
    """The observation a success teaches the history: with the device cookie this answer sets, so the
    browser's next login (carrying it) is a known device."""
    if outcome is Outcome.SUCCESS and rf.new_device_cookie is not None:
        return replace(obs, device=minted_device_id(rf.new_device_cookie))
    return obs


def _drop_shield_headers(reply: UpstreamReply) -> None:
    """The app's Shield-* answer headers (its login confirmation) are for shield, not for the client."""
    for name in [n for n in reply.headers if n.lower().startswith(SHIELD_PREFIX)]:
        reply.headers.popall(name, None)


def _device_cookie(settings: Settings, value: str) -> str:
    c = settings.client
    cookie = f"{c.device_cookie}={value}; Max-Age={c.device_cookie_ttl}; Path=/; HttpOnly; SameSite=Lax"
    return cookie + "; Secure" if c.secure_cookies else cookie

