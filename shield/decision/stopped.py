"""Stopped attempts per client: how many of an address's or device's attempts never reached the app.

    ip.stopped_<w> = ip.attempts_<w> - ip.failures_<w> - ip.successes_<w> - 1   (floored at 0)

and the same for `device`. Every protected attempt is counted when it arrives; a failure or a
success only once the app answered it. What is left is the attempts shield answered itself (a
challenge never solved, a block, a ban) or whose answer was not classified, minus this attempt,
which has no outcome yet. A client that solves its puzzles adds one stopped attempt per login (the
challenged request) and one success or failure (the solved one); a client that refuses them adds
only stopped ones. That is evidence about this client's own behaviour (challenge_refused).

Caveats, said in the catalog: attempts still in flight count as stopped until their outcome is
recorded, and so does every forwarded attempt on a route whose outcome shield cannot classify
(UNKNOWN), so rules compare stopped with forwarded attempts rather than trust the count alone.
Pure: counters in, facts out.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence

from shield.model import DEFAULT_WINDOWS, FactValue, Window

STOPPED_DIMENSIONS = ("ip", "device")


def stopped_facts(counters: Mapping[str, int], windows: Sequence[Window] = DEFAULT_WINDOWS) -> dict[str, FactValue]:
    """ip.stopped_<w> and device.stopped_<w> for every window whose three counters are present (the stores
    estimate only the counters something reads, shield.store.estimated: an attempts count without its
    outcomes is not a stopped count)."""
    out: dict[str, FactValue] = {}
    add_stopped(out, counters, windows)
    return out


def add_stopped(
    out: MutableMapping[str, FactValue], counters: Mapping[str, int], windows: Sequence[Window] = DEFAULT_WINDOWS
) -> None:
    """stopped_facts written into `out` (on every protected request: no dict of its own, names built once).
    The counters as a dict (the stores' are one): compiled, a dict's get is a direct lookup, a Mapping's a
    method call (~200 instructions each, a dozen per request)."""
    known: dict[str, int] = counters if isinstance(counters, dict) else dict(counters)
    for attempts_name, failures_name, successes_name, stopped_name in _names(windows):
        attempts = known.get(attempts_name)
        if attempts is None:
            continue
        failures, successes = known.get(failures_name), known.get(successes_name)
        if failures is None or successes is None:
            continue
        left = attempts - (failures + successes) - 1
        out[stopped_name] = left if left > 0 else 0


# windows object id -> (the windows, kept so the id stays theirs; the names): a rule set's windows are one
# tuple for its life, so this is an identity lookup, not a hash of the windows on every request
_NAMES: dict[int, tuple[Sequence[Window], tuple[tuple[str, str, str, str], ...]]] = {}


def _names(windows: Sequence[Window]) -> tuple[tuple[str, str, str, str], ...]:
    """(attempts, failures, successes, stopped) fact names per dimension and window, in the facts' order."""
    hit = _NAMES.get(id(windows))
    if hit is not None and hit[0] is windows:
        return hit[1]
    names = tuple(
        (f"{dim}.attempts_{w.name}", f"{dim}.failures_{w.name}", f"{dim}.successes_{w.name}", f"{dim}.stopped_{w.name}")
        for dim in STOPPED_DIMENSIONS
        for w in windows
    )
    if not isinstance(windows, tuple):
        return names  # only an immutable sequence is remembered by identity
    if len(_NAMES) >= 16:
        _NAMES.clear()  # a few rule reloads' worth; a list built per call (tests) must not pile up
    _NAMES[id(windows)] = (windows, names)
    return names
