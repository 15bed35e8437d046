"""upstream_options.client: read from YAML or env like every key, checked against its two values."""

from __future__ import annotations

from pathlib import Path

import pytest

from shield.settings.load import SettingsError, load_settings


def test_the_client_is_h1_unless_configured(tmp_path: Path) -> None:
    assert load_settings(None, env={}).upstream_options.client == "h1"
    config = tmp_path / "shield.yaml"
    config.write_text("upstream_options:\n  client: aiohttp\n", encoding="utf-8")
    assert load_settings(config, env={}).upstream_options.client == "aiohttp"
    env = {"SHIELD_UPSTREAM_OPTIONS_CLIENT": "h1"}
    assert load_settings(config, env=env).upstream_options.client == "h1"  # env over the file


def test_an_unknown_client_is_reported_with_its_key_and_choices() -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(None, env={"SHIELD_UPSTREAM_OPTIONS_CLIENT": "h2"})
    assert "upstream_options.client: must be one of h1, aiohttp, got 'h2'" in str(caught.value)
