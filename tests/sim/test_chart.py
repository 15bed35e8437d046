"""The SVG chart: written, well-formed XML, one panel per campaign plus real users."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from shield.sim.chart import write_svg
from shield.sim.driver import Result
from shield.sim.events import LEGIT
from shield.sim.report import build_report
from shield.sim.scenario import Scenario

SVG = "{http://www.w3.org/2000/svg}"
A = Scenario(name="overseas-stuffing", seed=1, start=3600.0, duration=1800.0)
B = Scenario(name="naive <&> test", seed=1, start=7200.0, duration=600.0)


def _results() -> list[Result]:
    out = [
        Result(t=3600 + i, actor=A.name, segments=(), username=f"a{i}", stopped=i > 30, success=i == 3)
        for i in range(100)
    ]
    out += [Result(t=7200 + i, actor=B.name, segments=(), username="b", stopped=True) for i in range(10)]
    out += [
        Result(
            t=60.0 * i, actor=LEGIT, segments=("app", "carrier-nat"), username="u", success=True, challenged=i % 50 == 0
        )
        for i in range(200)
    ]
    return out


def test_chart_is_well_formed_svg_with_a_panel_per_campaign_and_real_users(tmp_path: Path) -> None:
    path = tmp_path / "out.svg"
    report = build_report(_results(), [A, B], duration=4 * 3600.0, baseline=_results())
    write_svg(report, path, title="test <run>")
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    for title in ("overseas-stuffing", "naive <&> test", "real users", "test <run>"):
        assert title in texts
    assert any(t and t.startswith("taken over: 1 (without shield 1)") for t in texts)
    assert root.findall(f"{SVG}rect")
    circles = root.findall(f"{SVG}circle")
    assert any(c.get("fill") != "none" for c in circles)  # taken over through shield
    assert any(c.get("fill") == "none" for c in circles)  # taken over in the baseline run
    assert root.findall(f"{SVG}polyline")  # real users' challenges


def test_chart_of_an_empty_run_is_still_valid(tmp_path: Path) -> None:
    path = tmp_path / "empty.svg"
    write_svg(build_report([], [], duration=3600.0), path)
    assert ET.parse(path).getroot().tag == f"{SVG}svg"
