"""Which `Forwarder` a worker uses: shield's own HTTP/1.1 client, or aiohttp's for TLS upstreams."""

from __future__ import annotations

from yarl import URL

from shield.proxy.aiohttp_client import AiohttpForwarder
from shield.proxy.forwarder import Forwarder, UpstreamTarget
from shield.proxy.h1.forwarder import H1Forwarder
from shield.settings.schema import Settings


def make_forwarder(settings: Settings) -> Forwarder:
    """`upstream_options.client: h1` (the default) for a plain-HTTP upstream, else aiohttp's."""
    target = UpstreamTarget.of(settings)
    if target.options.client == "h1" and URL(target.url).scheme == "http":
        return H1Forwarder(target)
    return AiohttpForwarder(target)
