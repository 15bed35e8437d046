"""`shield run`: serve the proxy (and the admin listener) until SIGTERM.

    shield run --config shield.yaml
    shield run --upstream http://127.0.0.1:8080 --listen 127.0.0.1:8000

Flags win over SHIELD_* environment variables, which win over the file.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
import sys
from pathlib import Path

import structlog

from shield.commands import preflight as preflight
from shield.observe.logs import configure_logging
from shield.proxy.workers import AppFactory, Apps, serve
from shield.service import build_service
from shield.settings.load import SettingsError, load_settings
from shield.settings.schema import Settings

# flag -> key path of the setting it overrides
FLAGS = {
    "upstream": "upstream",
    "listen": "listen",
    "workers": "workers",
    "admin_listen": "admin.listen",
    "store": "store",
    "rules": "rules",
    "mode": "mode",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "run", help="serve the proxy", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", "-c", type=Path, help="YAML config file (default: built-in defaults)")
    p.add_argument("--upstream", metavar="URL", help="the protected app, e.g. http://127.0.0.1:8080")
    p.add_argument("--listen", metavar="HOST:PORT", help="proxy listen address")
    p.add_argument("--workers", metavar="N", help="worker processes sharing the port (0: one per CPU)")
    p.add_argument("--admin-listen", metavar="HOST:PORT", help="admin listener address")
    p.add_argument("--store", metavar="URL", help="memory:// or redis://host:6379/0")
    p.add_argument("--rules", metavar="DIR", help="rule pack directory")
    p.add_argument("--mode", choices=("enforce", "shadow"))
    p.set_defaults(handler=run)


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {path: getattr(args, flag) for flag, path in FLAGS.items()}
    return load_settings(args.config, env=os.environ, overrides=overrides)


def with_secret(settings: Settings) -> tuple[Settings, bool]:
    """A random secret when none is configured (generated once, before workers fork)."""
    if settings.secret:
        return settings, False
    return dataclasses.replace(settings, secret=secrets.token_bytes(32)), True


async def service_apps(settings: Settings, with_admin: bool) -> Apps:
    """The protecting proxy: one Service (store, facts, rules, pipeline) per worker."""
    service = build_service(settings, with_admin=with_admin)
    return Apps(service.proxy, service.admin, service.metrics)


def run(args: argparse.Namespace, factory: AppFactory = service_apps) -> int:
    try:
        settings = settings_from_args(args)
    except SettingsError as exc:
        print("shield: the configuration has problems:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    found = preflight.problems(settings)
    if found:
        print("shield: cannot start:", file=sys.stderr)
        for problem in found:
            print(f"  {problem}", file=sys.stderr)
        return 2
    configure_logging(settings.log)
    settings, warning = preflight.worker_count(settings)
    if warning:
        structlog.get_logger().warning("workers.memory_store", message=warning)
    if geoip := preflight.geoip_warning(settings):
        structlog.get_logger().warning("geoip.missing", message=geoip)
    settings, generated = with_secret(settings)
    if generated:
        structlog.get_logger().warning(
            "secret.generated",
            message="no SHIELD_SECRET or secret_file: using a random secret for this start; "
            "replicas will not accept each other's challenges, passes or device cookies",
        )
    return serve(settings, factory)
