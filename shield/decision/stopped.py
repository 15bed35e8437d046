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

from collections.abc import Mapping, Sequence

from shield.model import DEFAULT_WINDOWS, FactValue, Window

STOPPED_DIMENSIONS = ("ip", "device")


def stopped_facts(counters: Mapping[str, int], windows: Sequence[Window] = DEFAULT_WINDOWS) -> dict[str, FactValue]:
    """ip.stopped_<w> and device.stopped_<w> for every window whose counters are present."""
    out: dict[str, FactValue] = {}
    get = counters.get
    for dim in STOPPED_DIMENSIONS:
        for w in windows:
            attempts = get(f"{dim}.attempts_{w.name}")
            if attempts is None:
                continue
            answered = get(f"{dim}.failures_{w.name}", 0) + get(f"{dim}.successes_{w.name}", 0)
            out[f"{dim}.stopped_{w.name}"] = max(0, attempts - answered - 1)
    return out
