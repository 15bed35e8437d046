"""Rule authors' regexes run in linear time (RE2); a pattern RE2 cannot run is refused with its place."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shield.facts.catalog import catalog
from shield.rules.condition import Compiler
from shield.rules.expr import ExprError, parse
from shield.rules.load import load_rules
from shield.rules.source import RuleErrors
from shield.rules.values import UNSET

NESTED = '^([a-zA-Z]+)*$'


def _matcher(text: str) -> tuple[Compiler, object]:
    compiler = Compiler(catalog(), {})
    return compiler, compiler.condition(parse(text))


def test_nested_quantifier_pattern_runs_in_linear_time() -> None:
    # security: with backtracking, 29 letters and a '!' took 20 s and stalled proxy and admin (issue 12 item 8).
    compiler, compiled = _matcher(f'ua matches "{NESTED}"')
    subject = "a" * 34 + "!"  # 35 characters: about 2^34 paths for a backtracking engine
    start = time.perf_counter()
    hit = compiled.fn({"ua": subject}, [UNSET] * compiler.slots)  # type: ignore[attr-defined]
    elapsed = time.perf_counter() - start
    assert hit is False
    assert elapsed < 0.05  # measured well under 1 ms; loose to stay robust on a loaded machine


def test_the_same_pattern_still_matches_what_it_should() -> None:
    compiler, compiled = _matcher(f'ua matches "{NESTED}"')
    assert compiled.fn({"ua": "Mozilla"}, [UNSET] * compiler.slots) is True  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("pattern", "message", "offset"),
    [
        ("(a)\\\\1", "cannot run in linear time (RE2): backreference \\1", 3),
        ("(?=curl)c", "cannot run in linear time (RE2): lookaround (?=", 0),
        ("x(?<!y)", "cannot run in linear time (RE2): lookaround (?<!", 1),
        ("(?P<n>a)(?P=n)", "cannot run in linear time (RE2): backreference (?P=n)", 8),
    ],
    ids=["backreference", "lookahead", "lookbehind", "named_backreference"],
)
def test_a_pattern_re2_cannot_run_is_refused(pattern: str, message: str, offset: int) -> None:
    with pytest.raises(ExprError) as caught:
        _matcher(f'ua matches "{pattern}"')
    assert caught.value.message == message
    assert caught.value.pos == len('ua matches "') + offset


def test_rules_check_refuses_a_backtracking_only_pattern_with_file_line_col(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        'rules:\n  - id: r\n    description: d\n    when: ua matches "(?!Mozilla)"\n    score: 1\n    class: client\n'
    )
    with pytest.raises(RuleErrors) as caught:
        load_rules(tmp_path)
    assert [str(e) for e in caught.value.errors] == [
        f"{tmp_path}/r.yaml:4:23: cannot run in linear time (RE2): lookaround (?!"
    ]


def test_app_ua_pattern_runs_in_linear_time() -> None:
    from shield.facts.enrich.useragent import UserAgentParser

    parser = UserAgentParser(app_pattern=NESTED)
    start = time.perf_counter()
    info = parser.parse("a" * 34 + "!")
    assert time.perf_counter() - start < 0.5  # includes the ua-parser lookup; the regex itself is linear
    assert info.app is False


def test_app_ua_pattern_re2_cannot_run_is_refused_at_load_with_its_place(tmp_path: Path) -> None:
    from shield.settings.load import SettingsError, load_settings

    config = tmp_path / "shield.yaml"
    config.write_text('client:\n  app_ua_pattern: "^MyApp/(?!0)"\n')
    with pytest.raises(SettingsError) as caught:
        load_settings(config, env={})
    # the settings loader's places are file:line:col (the key's value)
    assert str(caught.value) == (
        f"{config}:2:3: client.app_ua_pattern: cannot run in linear time (RE2): lookaround (?!"
    )


def test_a_lone_surrogate_in_the_subject_is_matched_not_raised() -> None:
    # An account read by the fallback JSON parser may hold a lone surrogate, which UTF-8 (RE2's input) cannot encode.
    compiler, compiled = _matcher('account matches "^x.y$"')
    assert compiled.fn({"account": "x\ud800y"}, [UNSET] * compiler.slots) is True  # type: ignore[attr-defined]


def test_a_glob_with_many_stars_runs_without_backtracking_blow_up() -> None:
    compiler, compiled = _matcher('request.path glob "*a*a*a*a*a*a*a*a*a*a*b"')
    start = time.perf_counter()
    hit = compiled.fn({"request.path": "a" * 2048}, [UNSET] * compiler.slots)  # type: ignore[attr-defined]
    assert hit is False
    assert time.perf_counter() - start < 0.05  # fnmatch's atomic groups: linear in the path
