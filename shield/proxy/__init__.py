"""The proxy: the aiohttp app, the protected pipeline, routes, forwarders (h1, aiohttp), workers."""
