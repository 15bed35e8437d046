"""What the connection's gate found out about a head it left to aiohttp (shield.proxy.early_answers).

Compiled (pyproject [tool.shield] compiled): the gate (shield.proxy.ban_wire, compiled) builds one
for nearly every protected request; an interpreted class cost it a Python __init__ frame.
"""

from __future__ import annotations

from typing import Any


class Passed:
    """What a gate found out about a head it left to aiohttp, so that the handler of that request
    need not find it out again (`LimitedRequestHandler.passed`): the peer's normalised address,
    whether it is a trusted proxy, the client's address (shield.proxy.client_ip.client_ip of both),
    and the version of the ban cache (shield.store.bancache.BanCache.version) with which the client
    and its subnet had no ban, or -1 when that is not known. A ban cache whose version did not change
    since holds no ban for them either (a new ban changes it; time only ends bans). And the client's
    subnet (shield.facts.address.subnet_of), for the handler's own look in a ban cache that changed."""

    # msg: aiohttp's RawRequestMessage (Any: the C parser's own type at run time, which mypyc's checks refuse)
    def __init__(self, msg: Any, peer: str, trusted: bool, client_ip: str, unbanned: int, subnet: str) -> None:
        self.msg, self.peer, self.trusted, self.client_ip, self.unbanned = msg, peer, trusted, client_ip, unbanned
        self.subnet = subnet
