"""The report as plain, aligned text tables for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from shield.sim.report import Report


def pct(x: float) -> str:
    if x == 0:
        return "0%"
    return f"{x * 100:.2f}%" if x < 0.1 else f"{x * 100:.1f}%"


def _opt(x: float | int | None, fmt: str = "{}") -> str:
    return "-" if x is None else fmt.format(x)


def grid(header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1) -> str:
    """The first `left` columns left-aligned, the rest (numbers) right-aligned, two spaces between."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        padded = [c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "  ".join(padded).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def campaign_table(report: Report) -> str:
    header = [
        "campaign",
        "attempts",
        "stopped",
        "unchallenged",
        "challenged",
        "solved",
        "compromised",
        "without shield",
        "after 1st min",
        "1st mitigation",
        "transfers",
        "tagged",
        "taken tagged",
        "taken untagged",
    ]
    rows = [
        [
            c.name,
            str(c.attempts),
            pct(c.stopped_share),
            pct(c.unchallenged_share),
            pct(c.challenged_share),
            str(c.solved),
            str(c.compromised),
            _opt(c.compromised_baseline),
            str(c.compromised_after_first_minute),
            "-" if c.first_mitigation_s is None else f"{c.first_mitigation_s:.0f}s / #{c.first_mitigation_attempts}",
            str(c.transfers),
            pct(c.tagged_share),
            str(c.compromised_tagged),
            str(c.compromised_untagged),
        ]
        for c in report.campaigns
    ]
    return grid(header, rows)


def users_table(report: Report) -> str:
    header = ["real users", "logins", "challenged", "delayed", "429", "blocked", "logged in"]
    rows = [
        [
            u.segment,
            str(u.logins),
            pct(u.challenged_share),
            pct(u.delayed_share),
            pct(u.rate_limited_share),
            f"{pct(u.blocked_share)} ({u.blocked})",
            pct(u.success_share),
        ]
        for u in report.users
        if u.logins or u.segment == "all"
    ]
    return grid(header, rows)


def render(report: Report) -> str:
    parts = [campaign_table(report), "", users_table(report)]
    if report.errors:
        parts += ["", f"{report.errors} attempts failed at the transport level (counted as stopped)"]
    return "\n".join(parts)
