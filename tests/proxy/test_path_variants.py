"""Route matching on a canonical path: every spelling a framework routes to a protected handler is protected.

security: issue 12 item 5. `/API/login`, `/api/login;x=1`, `/api/login.json`, `/api\\login` and friends passed
through unscored while Express/ASP.NET (case), Spring/Tomcat (`;params`), Rails (`(.:format)`) and IIS (`\\`)
routed them to the login handler.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shield.proxy.routes import RouteMatcher
from shield.settings.load import load_settings
from shield.settings.schema import PathFolds, RouteSettings

STRICT = PathFolds(case=False, path_params=False, backslash=False, format_suffix=False)
MATCHER = RouteMatcher(
    (
        RouteSettings(name="login", path="/api/login"),
        RouteSettings(name="versioned", path="/api/*/login"),
        RouteSettings(name="pay", path="/pay/**"),
        RouteSettings(name="legacy", path="/login.php"),
        RouteSettings(name="strict", path="/Strict/Path", fold=STRICT),
    )
)

VARIANTS = [
    # (id, method, target, route)
    ("exact", "POST", "/api/login", "login"),
    ("upper_segment", "POST", "/API/login", "login"),
    ("upper_last", "POST", "/api/Login", "login"),
    ("all_upper", "POST", "/API/LOGIN", "login"),
    ("params_last", "POST", "/api/login;x=1", "login"),
    ("params_first", "POST", "/api;x/login", "login"),
    ("jsessionid", "POST", "/api/login;jsessionid=ABC123", "login"),
    ("params_every_segment", "POST", "/api;a=1/login;b=2", "login"),
    ("format_json", "POST", "/api/login.json", "login"),
    ("format_upper", "POST", "/api/login.JSON", "login"),
    ("format_two", "POST", "/api/login.json.xml", "login"),
    ("trailing_dot", "POST", "/api/login.", "login"),
    ("backslash", "POST", "/api\\login", "login"),
    ("backslash_encoded", "POST", "/api%5Clogin", "login"),
    ("backslash_encoded_lower", "POST", "/api%5clogin", "login"),
    ("leading_backslash", "POST", "\\api\\login", "login"),
    ("percent_letter", "POST", "/%61pi/login", "login"),
    ("percent_upper_letter", "POST", "/api/%4Cogin", "login"),
    ("encoded_slash", "POST", "/api%2Flogin", "login"),
    ("double_encoded", "POST", "/api/%256Cogin", "login"),
    ("encoded_semicolon", "POST", "/api/login%3Bx=1", "login"),
    ("trailing_slash", "POST", "/api/login/", "login"),
    ("double_slash", "POST", "//api//login", "login"),
    ("dot_segment", "POST", "/api/./login", "login"),
    ("dotdot_segment", "POST", "/api/x/../login", "login"),
    ("dotdot_with_params", "POST", "/api/..;/api/login", "login"),
    ("encoded_dotdot", "POST", "/api/x/%2e%2e/login", "login"),
    ("double_encoded_dotdot", "POST", "/api/x/%252e%252e/login", "login"),
    ("backslash_dotdot", "POST", "/api/x\\..\\login", "login"),
    ("query_kept_out", "POST", "/api/login?next=/x", "login"),
    ("everything_at_once", "POST", "/API;v=1\\.\\Login.JSON;jsessionid=1", "login"),
    ("lower_method", "post", "/api/login", "login"),
    ("absolute_form", "POST", "http://shop.example/api/login", "login"),
    ("absolute_form_variant", "POST", "HTTPS://shop.example:8443/API/Login;x", "login"),
    ("glob", "POST", "/api/v2/login", "versioned"),
    ("glob_upper", "POST", "/API/V2/LOGIN;x", "versioned"),
    ("glob_format", "POST", "/api/v2/login.json", "versioned"),
    ("double_star", "POST", "/PAY/card/confirm", "pay"),
    ("dotted_route_exact", "POST", "/login.php", "legacy"),
    ("dotted_route_format", "POST", "/login.php.json", "legacy"),
    ("dotted_route_upper", "POST", "/LOGIN.PHP", "legacy"),
    ("strict_exact", "POST", "/Strict/Path", "strict"),
    ("strict_slashes_still_collapse", "POST", "//Strict//Path/", "strict"),
    ("strict_percent_still_decoded", "POST", "/Strict/%50ath", "strict"),
    ("strict_dots_still_resolved", "POST", "/Strict/x/../Path", "strict"),
    # must NOT match
    ("wrong_method", "GET", "/api/login", None),
    ("longer_segment", "POST", "/api/logins", None),
    ("split_segment", "POST", "/api/log/in", None),
    ("other_prefix", "POST", "/api2/login", None),
    ("joined", "POST", "/apilogin", None),
    ("below", "POST", "/api/login/x", None),
    ("encoded_slash_below", "POST", "/api/login%2Fx", None),
    ("suffix_not_a_format", "POST", "/api/loginx.json", None),
    ("dotdot_out", "POST", "/api/..%2f..%2flogin", None),
    ("nul_inside", "POST", "/api/log%00in", None),
    ("param_name_only", "POST", "/api/;login", None),
    ("glob_is_one_segment", "POST", "/api/v2/x/login", None),
    ("unprotected", "POST", "/other", None),
    ("absolute_form_root", "POST", "http://shop.example", None),
    ("authority_like_path", "POST", "//shop.example/api/login", None),
    ("strict_case", "POST", "/strict/path", None),
    ("strict_params", "POST", "/Strict/Path;x=1", None),
    ("strict_format", "POST", "/Strict/Path.json", None),
    ("strict_backslash", "POST", "/Strict\\Path", None),
]


@pytest.mark.parametrize(("method", "target", "route"), [v[1:] for v in VARIANTS], ids=[v[0] for v in VARIANTS])
def test_path_variant(method: str, target: str, route: str | None) -> None:
    found = MATCHER.match(method, target)
    assert (found.name if found else None) == route



def test_folds_load_per_route_from_yaml(tmp_path: Path) -> None:
    config = tmp_path / "shield.yaml"
    config.write_text("routes:\n  - name: login\n    path: /Login\n    fold: {case: false, format_suffix: false}\n")
    (route,) = load_settings(config, env={}).routes
    assert route.fold == PathFolds(case=False, path_params=True, backslash=True, format_suffix=False)
    matcher = RouteMatcher((route,))
    assert [bool(matcher.match("POST", t)) for t in ("/Login;x", "/login", "/Login.json")] == [True, False, False]


SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=8)


@st.composite
def spelled(draw: st.DrawFn) -> tuple[str, str]:
    """A route path and one spelling of it that some framework routes to the same handler."""
    segments = draw(st.lists(SEGMENT, min_size=1, max_size=4))
    out: list[str] = []
    for seg in segments:
        if draw(st.booleans()):
            seg = "".join(c.upper() if draw(st.booleans()) else c for c in seg)
        if draw(st.booleans()):
            i = draw(st.integers(0, len(seg) - 1))
            seg = seg[:i] + f"%{ord(seg[i]):02{draw(st.sampled_from('xX'))}}" + seg[i + 1 :]
        if draw(st.booleans()):
            seg += ";" + draw(SEGMENT)
        noise = draw(st.sampled_from(["", ".", "x/..", "", ""]))
        sep = draw(st.sampled_from(["/", "/", "//", "\\", "%5C", "%2F"]))
        out.append(f"{sep}{noise}{sep if noise else ''}{seg}")
    suffix = draw(st.sampled_from(["", "", "/", ".json", ".xml", "?a=b"]))
    return "/" + "/".join(segments), "".join(out) + suffix


@given(spelled())
@settings(max_examples=300, deadline=None)
def test_every_generated_spelling_of_a_route_matches_it(case: tuple[str, str]) -> None:
    path, target = case
    assert RouteMatcher((RouteSettings(name="r", path=path),)).match("POST", target) is not None, target
