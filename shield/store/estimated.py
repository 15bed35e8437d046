"""Which counters the stores estimate: the ones something reads, not the whole catalog.

Every window of every measure is still counted on every request (a rule reload that starts reading a
counter gets its true value on the next request); only the estimates written into an answer's counters
are limited, as the distinct sets kept are (layout.keeps). A counter is estimated when

- a rule reads it (Retention.reads, the live rule pack's, followed per observe);
- a derived fact that is read needs it: ip/device.stopped_<w> (shield.decision.stopped) reads
  `<dim>.attempts/failures/successes_<w>`;
- a derived fact computed on every request needs it: ip/subnet.shared (shield.facts.shared_address,
  its inputs in the first of its windows configured), the takeover policy (shield.decision.takeover:
  `account.failures_<w>` and `account.distinct_ips_<w>`, in every window: the policy's own is one of
  them and a reload may move it) and the site's facts (shield.decision.site: the site is estimated whole).

The counters no one reads are absent from an answer, not 0: a missing counter is 0 to every reader
(rules, fact_record), and the derived facts compute only from inputs present (stopped needs all three).
`None` (no rules' reads given, or a caller that wants every counter, as a decision log recording the
whole catalog) estimates everything. tests/store/test_estimated.py holds the derived facts' reads to
this list.
"""

from __future__ import annotations

from collections.abc import Sequence

from shield.facts.catalog import SITE_WINDOWS
from shield.facts.shared_address import SHARED_WINDOWS
from shield.store.layout import MEASURES, SITE, SITE_MEASURES

# shield.decision.stopped.STOPPED_DIMENSIONS (the store may not import the decision core; a test ties them)
STOPPED_DIMENSIONS = ("ip", "device")
SHARED_DIMENSIONS = ("ip", "subnet")
SHARED_INPUTS = ("distinct_accounts", "successes", "failures")
TAKEOVER_INPUTS = ("account.failures", "account.distinct_ips")


def estimated(reads: frozenset[str] | None, windows: Sequence[str]) -> frozenset[str] | None:
    """The counter names to estimate for rules that read `reads` (None: every counter) over `windows`
    (the configured counter windows' names); names of other facts in `reads` are harmless."""
    if reads is None:
        return None
    out = set(reads)
    for dim in STOPPED_DIMENSIONS:
        for w in windows:
            if f"{dim}.stopped_{w}" in reads:
                out.update(f"{dim}.{word}_{w}" for _, word in MEASURES)
    shared = next((w for w in SHARED_WINDOWS if w in windows), None)
    if shared is not None:
        out.update(f"{dim}.{word}_{shared}" for dim in SHARED_DIMENSIONS for word in SHARED_INPUTS)
    out.update(f"{name}_{w}" for name in TAKEOVER_INPUTS for w in windows)
    out.update(site_names())
    return frozenset(out)


def site_names() -> list[str]:
    """Every site counter (the site is estimated whole: its facts are computed on every request)."""
    return [f"{SITE}.{word}_{w.name}" for w in SITE_WINDOWS for _, word in SITE_MEASURES]
