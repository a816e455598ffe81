"""`octoc report DIR --html FILE` and `--open` (runtime/reading/reporthtml.py; docs/run.md, "octoc report --html").

The page is parsed with the standard library's html.parser: its sections, one chart per metric that has a
number, every chart a non-empty <svg> in a <figure class="chart">, intervals where they exist and equal to
Wilson's by hand, nothing that loads anything (no src, no href but in-page, no script, no url() but the
arrow marker), everything from the pipeline or a unit escaped, and the same bytes twice. The browser side
(console errors, network, rendering) is tests/browser.py's (issue 15's harness)."""

from __future__ import annotations

import json
import math
import re
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import ROOT, octoc
from planvsemu import cut_data_files

SAILOR = (ROOT / "examples" / "drunken_sailor.octo").read_text().replace("repeat: 10000 ", "repeat: 300   ")


class Page(HTMLParser):
    """What a test reads from a page: elements with their attributes and the figure each sits in, and text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict, str | None]] = []  # (tag, attrs, data-chart of the figure it is in)
        self.text: list[str] = []
        self._figure: str | None = None
        self._in_svg = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "figure" and "chart" in (attrs.get("class") or "").split():
            self._figure = attrs.get("data-chart")
        self._in_svg += tag in ("svg", "style", "title")
        self.elements.append((tag, attrs, self._figure))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs), self._figure))

    def handle_endtag(self, tag):
        if tag == "figure":
            self._figure = None
        self._in_svg -= tag in ("svg", "style", "title")

    def handle_data(self, data):
        if not self._in_svg:
            self.text.append(data)

    def charts(self) -> dict[str, list[tuple[str, dict]]]:
        out: dict[str, list] = {}
        for tag, attrs, figure in self.elements:
            if figure is not None and tag != "figure":
                out.setdefault(figure, []).append((tag, attrs))
        return out

    def ids(self) -> set[str]:
        return {a["id"] for _, a, _ in self.elements if "id" in a}


def _run(tmp: Path, name: str, text: str, *extra: str) -> Path:
    (tmp / f"{name}.octo").write_text(text)
    out = octoc("run", f"{name}.octo", "--provider", "emulator", "--run-dir", name, *extra, cwd=tmp)
    assert out.returncode in (0, 6, 7), out.stdout + out.stderr
    return tmp / name


def _html(run_dir: Path, target: Path | None = None) -> str:
    target = target or run_dir.parent / f"{run_dir.name}.html"
    out = octoc("report", str(run_dir), "--html", str(target))
    assert out.returncode not in (2, 3) and "Traceback" not in out.stderr, out.stderr
    assert out.stdout == "" and out.stderr == f"html report written to {target} ({target.stat().st_size:,} bytes)\n"
    return target.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def sailor(tmp_path_factory):
    run_dir = _run(tmp_path_factory.mktemp("sailor"), "sailor", SAILOR)
    return run_dir, _html(run_dir)


def test_the_page_has_every_section_and_a_chart_per_metric(sailor):
    _, html = sailor
    page = Page(html)
    assert {"funnel", "spending", "aggregates", "distributions", "failures", "providers", "dag"} <= page.ids()
    charts = page.charts()
    metrics = {c for c in charts if c.startswith("metric:")}
    assert metrics == {"metric:odds.p_ship", "metric:odds.p_ship_ci", "metric:odds.median_steps", "metric:odds.mean_steps"}
    assert {"funnel", "dag", "dist:walk.outcome", "dist:walk.steps", "dist:shanty.mood", "dist:rhyme_check.score",
            "latency:shanty", "tries:rhyme_check"} <= set(charts)
    for name, elements in charts.items():  # each figure holds one svg, and the svg draws something
        assert [t for t, _ in elements].count("svg") == 1, name
        assert any(t in ("rect", "path") for t, _ in elements), name
    text = " ".join(" ".join(page.text).split())
    assert "synthetic: every model output came from the emulator" in text
    assert re.search(r"[✓✗] abs\(p_ship - unit.scenario.start / 10\) < 0.02 middle: p_ship = 0\.\d+", text)  # its verdicts
    assert "seed 2026" in text and "state done" in text


def test_a_share_has_wilsons_interval_drawn_where_a_hand_computation_puts_it(sailor):
    run_dir, html = sailor
    data = json.loads(octoc("report", str(run_dir), "--format", "json").stdout)
    groups = data["aggregates"][0]["groups"]
    whiskers = [a["d"] for t, a in Page(html).charts()["metric:odds.p_ship"] if t == "path" and a.get("class") == "ci"]
    assert len(whiskers) == len(groups) == 2
    for g, d in zip(groups, whiskers):
        p, n, z = g["metrics"]["p_ship"], g["units"], 1.96
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        low, high = [(float(x) - 170) / 420 for x in re.findall(r"M([\d.]+) ", d)[::2]]  # the axis runs 0..1 over 420 px
        assert low == pytest.approx(centre - half, abs=0.0003) and high == pytest.approx(centre + half, abs=0.0003)


def test_wilson_interval_against_a_hand_computation():
    from octo.runtime.reading.distributions import wilson_interval

    assert wilson_interval(30, 100) == pytest.approx((0.21895, 0.39585), abs=1e-5)  # p = .3: 0.30740 ± 0.08845
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.27754), abs=1e-5)


def test_nothing_on_the_page_loads_anything(sailor):
    _, html = sailor
    page = Page(html)
    assert not re.search(r"https?://|//[a-z]", html)
    assert [t for t, _, _ in page.elements if t in ("script", "link", "img", "iframe", "object", "embed")] == []
    for _, attrs, _ in page.elements:
        assert "src" not in attrs and not (attrs.get("href") or "#").strip().startswith(("http", "//", "data:"))
        assert not any(k.startswith("on") for k in attrs)
    assert re.findall(r"url\(([^)]*)\)", html) == ["#arrow"] * html.count("url(#arrow)")
    assert "@import" not in html and "@font-face" not in html


def test_two_renders_are_the_same_bytes(sailor):
    run_dir, html = sailor
    assert _html(run_dir, run_dir.parent / "again.html") == html


WEIRD = """octo: 1
name: weird
data:
  kinds:
    - {id: "<script>alert(1)</script>"}
    - {id: "a&b \\"q\\""}
units:
  for: {kind: kinds}
  repeat: 6
steps:
  calc:
    compute:
      big: 10 ** 30 if unit.repeat == 1 else unit.repeat
      ratio: 1.0 / (unit.repeat - 2) if unit.repeat != 2 else 0.0
      word: "'<b>' if unit.repeat % 2 == 0 else 'plain'"
    validate:
      - rule: unit.repeat != 3
        message: "<img src=x onerror=alert(1)> {{ unit.kind.id }}"
  never:
    compute:
      x: unit.repeat
    validate:
      - rule: x < 0
        message: "x is {{ x }}"
  lost:
    aggregate:
      metrics:
        m: mean(never.x)
  sums:
    aggregate:
      by: [unit.kind.id]
      metrics:
        share_big: mean(calc.big > 3)
        mean_ratio: mean(calc.ratio)
        total: sum(calc.big)
        word: "'<i>'"
      expect:
        - share_big < 0.9
"""


def test_what_a_pipeline_or_a_unit_wrote_is_text_and_odd_values_still_render(tmp_path):
    """Group values, failure reasons and outputs with markup, a 31-digit integer, a negative mean, an aggregate
    no unit reached: all on the page, escaped; nothing of them is markup."""
    html = _html(_run(tmp_path, "weird", WEIRD))
    page = Page(html)
    assert [t for t, _, _ in page.elements if t in ("script", "img", "b", "i")] == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    text = " ".join(page.text)
    assert "<script>alert(1)</script>" in text and 'a&b "q"' in text and "<i>" in text
    assert "no unit reached this aggregate: all 12 units failed at step 'never'" in text
    charts = page.charts()
    assert {"metric:sums.share_big", "metric:sums.mean_ratio", "metric:sums.total"} <= set(charts)
    assert "metric:sums.word" not in charts  # a string metric is in the table only
    assert "1e+30" in html  # the sum of a 10**30 as a short number on its axis


def test_a_run_with_no_unit_renders(tmp_path):
    text = "octo: 1\nname: none\nunits: {repeat: 3, where: unit.repeat < 0}\nsteps:\n  a: {compute: {x: 1}}\n" \
           "  s: {aggregate: {metrics: {n: count()}}}\n"
    page = Page(_html(_run(tmp_path, "none", text)))
    assert "no unit reached this aggregate: the run has no units" in " ".join(page.text)
    assert "dag" in page.charts() and "funnel" in page.charts()


NAN = """octo: 1
name: odd
units: {repeat: 4}
steps:
  v:
    compute:
      x: "float('nan') if unit.repeat == 0 else (float('inf') if unit.repeat == 1 else unit.repeat * 1.5)"
  s:
    aggregate:
      metrics:
        m: mean(v.x)
        n: count()
"""


def test_nan_and_infinity_outputs_are_counted_as_no_finite_number(tmp_path):
    """SQLite's JSON functions refuse a stored NaN: the distribution counts such a unit, it does not crash."""
    from octo.runtime.reading.report import report

    run_dir = _run(tmp_path, "odd", NAN)
    dist = report(run_dir, detail=True)["distributions"]
    assert [(d["output"], d["units"], d["missing"]) for d in dist] == [("x", 2, 2)]
    page = Page(_html(run_dir))
    assert "2 with no finite number" in " ".join(page.text)
    assert "metric:s.n" in page.charts() and "metric:s.m" not in page.charts()  # a NaN mean: in the table only


PROVIDER = """octo: 1
name: prov
units: {repeat: 12}
steps:
  ask:
    generate:
      model: openai:gpt-4.1-mini
      prompt: "Pick {{ unit.repeat }}"
      output: {n: int, mood: happy | sad}
  s:
    aggregate:
      by: [ask.mood]
      metrics:
        m: mean(ask.n)
"""


def test_an_interrupted_run_renders_with_its_state(tmp_path):
    (tmp_path / "prov.octo").write_text(PROVIDER)
    import os
    import subprocess

    env = {**os.environ, "OCTO_CRASHPOINT": "before-submit"}
    subprocess.run([sys.executable, "-m", "octo", "run", "prov.octo", "--provider", "emulator", "--run-dir", "prov"],
                   cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    target = tmp_path / "prov.html"
    out = octoc("report", "prov", "--html", str(target), cwd=tmp_path)
    assert out.returncode == 130 and target.is_file(), out.stderr  # the code `report` gives an interrupted run
    text = " ".join(" ".join(Page(target.read_text()).text).split())
    assert "state interrupted" in text and "12 pending" in text and "not computed yet" in text


def test_open_writes_into_the_run_and_says_where_without_a_browser(sailor, monkeypatch, capsys):
    from octo.cli.main import main

    run_dir, html = sailor
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or False)
    assert main(["report", str(run_dir), "--open"]) in (0, 7)  # 7: an expectation failed on 300 replicas
    err = capsys.readouterr().err
    target = run_dir / "report.html"
    assert target.read_text(encoding="utf-8") == html and opened == [target.resolve().as_uri()]
    assert err.endswith(f"no browser to open it with here; open {target.resolve()} yourself\n")
    assert main(["report", str(run_dir)]) in (0, 7)  # the text report ends with where the HTML one is
    assert capsys.readouterr().out.endswith(f"html report: {target}\n")
    monkeypatch.setattr("webbrowser.open", lambda url: True)
    assert main(["report", str(run_dir), "--open"]) in (0, 7)  # 7: an expectation failed on 300 replicas
    assert "no browser" not in capsys.readouterr().err
    target.unlink()


def test_html_does_not_go_with_format_and_an_unwritable_file_is_a_clear_error(sailor, tmp_path):
    run_dir, _ = sailor
    out = octoc("report", str(run_dir), "--html", str(tmp_path / "r.html"), "--format", "json")
    assert out.returncode == 2 and out.stderr == "octoc: error: --html and --open write HTML; they do not go with --format\n"
    (tmp_path / "file").write_text("")
    out = octoc("report", str(run_dir), "--html", str(tmp_path / "file" / "r.html"))
    assert out.returncode == 2 and out.stderr.startswith(f"octoc: error: cannot write '{tmp_path / 'file' / 'r.html'}'")
    assert "Traceback" not in out.stderr


def test_the_text_skeleton_of_a_small_report(tmp_path, snapshot):
    """What the page says, without its charts (their text is their axes) and the run's elapsed time."""
    run_dir = _run(tmp_path, "weird", WEIRD)
    text = "\n".join(line.strip() for line in Page(_html(run_dir)).text if line.strip())
    assert re.sub(r"(?m)^[\d.,]+ s$", "ELAPSED", text) == snapshot


EXAMPLES = sorted((ROOT / "examples").glob("*.octo"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_run_gets_its_html_report(path: Path, tmp_path: Path):
    """Each example on the emulator (scripted answers where it has them), fewer replicas and data rows."""
    shutil.copytree(ROOT / "examples" / "data", tmp_path / "data")
    cut_data_files(tmp_path / "data")
    copy = tmp_path / path.name
    copy.write_text(re.sub(r"^(\s*repeat:\s*)(\d+)", lambda m: m.group(1) + str(min(int(m.group(2)), 20)),
                           path.read_text(), flags=re.M))
    answers = path.with_suffix(".answers.yaml")
    extra = ("--answers", str(answers)) if answers.exists() else ("--mode", "realtime")
    run_dir = _run(tmp_path, path.stem, copy.read_text(), *extra)
    page = Page(_html(run_dir))
    charts = page.charts()
    assert "dag" in charts and {"aggregates", "failures", "dag"} <= page.ids()
    for name, elements in charts.items():
        assert any(t in ("rect", "path") for t, _ in elements), name


def test_distributions_read_in_one_pass_or_field_by_field_agree(sailor, monkeypatch):
    """Past DISTINCT combinations of values a step's fields are read one by one, a float field in two SQL
    passes (summary, then bins): the same histograms and counts as the one pass."""
    from octo.runtime.reading import distributions
    from octo.runtime.reading.report import report

    run_dir, _ = sailor
    one = report(run_dir, detail=True)["distributions"]
    monkeypatch.setattr(distributions, "DISTINCT", 1)
    each = report(run_dir, detail=True)["distributions"]
    assert [{**d, "mean": None} for d in one] == [{**d, "mean": None} for d in each]
    assert [d.get("mean") for d in one] == pytest.approx([d.get("mean") for d in each])
    steps = next(d for d in one if d["output"] == "steps")
    assert sum(b["count"] for b in steps["bins"]) == steps["units"] == 600
    assert all(float(b["low"] + 0.5).is_integer() and float(b["high"] - b["low"]).is_integer() for b in steps["bins"])


def test_the_commands_of_docs_run_md_html_section_do_what_it_says(tmp_path):
    """Each command of docs/run.md's "`octoc report --html` and `--open`" block, run as written (the example
    from examples/; a browser that cannot start, as on a machine without one)."""
    import os
    import subprocess

    doc = (ROOT / "docs" / "run.md").read_text(encoding="utf-8")
    section = doc[doc.index("## `octoc report --html` and `--open`"):]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    commands = [line.split("#")[0].split() for line in block.splitlines() if line.strip()]
    assert [c[:2] for c in commands] == [["octoc", "run"], ["octoc", "report"], ["octoc", "report"]]
    env = {**os.environ, "BROWSER": "false"}  # webbrowser runs `false URL`: no browser
    outs = []
    for words in commands:
        words = [str(ROOT / w) if w.startswith("examples/") else w for w in words[1:]]
        outs.append(subprocess.run([sys.executable, "-m", "octo", *words], cwd=tmp_path, env=env, capture_output=True,
                                   text=True, timeout=300))
        assert outs[-1].returncode in (0, 7) and "Traceback" not in outs[-1].stderr, outs[-1].stderr
    assert re.fullmatch(r"html report written to sailor\.html \([\d,]+ bytes\)\n", outs[1].stderr)
    report = tmp_path / "runs" / "sailor" / "report.html"
    assert outs[2].stderr.endswith(f"no browser to open it with here; open {report.resolve()} yourself\n")
    assert report.read_bytes() == (tmp_path / "sailor.html").read_bytes()
    assert len(report.read_bytes()) < 64_000
    text = octoc("report", "runs/sailor", cwd=tmp_path).stdout
    assert text.endswith("html report: runs/sailor/report.html\n")


def test_an_output_the_aggregate_reads_is_drawn_per_group(sailor):
    """`by: [unit.scenario.id]` reads only a table field: each group's units are counted from the store, and its
    share of ships is the aggregate's own p_ship."""
    from octo.runtime.reading.report import report

    run_dir, html = sailor
    data = report(run_dir, detail=True)
    odds = data["aggregates"][0]
    drawn = {d["output"]: d for d in odds["distributions"]}
    assert set(drawn) == {"outcome", "steps"}
    for g, group in zip(odds["groups"], drawn["outcome"]["groups"]):
        ships = next(v["count"] for v in group["values"] if v["value"] == "ship")
        assert group["group"] == g["by"]["id"] and group["units"] == g["units"] == 300
        assert ships / group["units"] == pytest.approx(g["metrics"]["p_ship"])
    overall = next(d for d in data["distributions"] if d["output"] == "steps")
    per_group = drawn["steps"]["groups"]
    assert [b["count"] for b in overall["bins"]] == [sum(x) for x in zip(*([b["count"] for b in g["bins"]] for g in per_group))]
    charts = Page(html).charts()
    assert {"groupdist:odds.walk.outcome", "groupdist:odds.walk.steps@middle", "groupdist:odds.walk.steps@near_ship"} <= set(charts)


def test_a_mean_of_an_output_has_the_normal_interval_of_its_groups_values(sailor):
    """mean(walk.steps) by scenario: mean ± 1.96·sd/√n with the sd of each group's values, computed here from
    `octoc results`; a quantile gets no interval."""
    import statistics

    from octo.runtime.reading.report import report

    run_dir, html = sailor
    rows = [json.loads(line) for line in octoc("results", str(run_dir), "--step", "walk").stdout.splitlines()]
    groups: dict[str, list[int]] = {}
    for r in rows:
        groups.setdefault("middle" if r["unit"].startswith("middle") else "near_ship", []).append(r["steps"])
    odds = report(run_dir, detail=True)["aggregates"][0]
    assert "median_steps" not in odds["intervals"]
    for g, iv in zip(odds["groups"], odds["intervals"]["mean_steps"]):
        values = groups[g["by"]["id"]]
        half = 1.96 * statistics.stdev(values) / math.sqrt(len(values))
        assert iv["method"] == "normal 95%" and len(values) == g["units"]
        assert iv["low"] == pytest.approx(statistics.mean(values) - half) and iv["high"] == pytest.approx(statistics.mean(values) + half)
    assert "whiskers: normal 95% interval" in html


BY_OUTPUT = """octo: 1
name: by-output
seed: 7
units: {repeat: 240}
steps:
  classify:
    compute:
      label: "'low' if unit.repeat % 3 == 0 else 'high'"
      x: unit.repeat % 11 + choice([0, 5])
  by_label:
    aggregate:
      by: [classify.label]
      metrics:
        mean_x: mean(classify.x)
        low: mean(classify.label == 'low')
  some:
    aggregate:
      by: [classify.label]
      metrics:
        mean_x: mean(classify.x)
    when: classify.x > 6
  broken:
    aggregate:
      by: [1 // (unit.repeat % 5)]
      metrics:
        mean_x: mean(classify.x)
"""


@pytest.fixture(scope="module")
def by_output(tmp_path_factory):
    """A run whose aggregates group by a step's output, one with `when`, one whose `by` raises for some units;
    its report's data, and each unit's (label, x) from `octoc results`."""
    from octo.runtime.reading.report import report

    run_dir = _run(tmp_path_factory.mktemp("byoutput"), "byout", BY_OUTPUT)
    rows = [json.loads(line) for line in octoc("results", str(run_dir), "--step", "classify").stdout.splitlines()]
    return report(run_dir, detail=True), [(r["label"], r["x"]) for r in rows], _html(run_dir)


def _aggregate(data: dict, name: str) -> dict:
    return next(a for a in data["aggregates"] if a["step"] == name)


@pytest.mark.parametrize("name, keep", [("by_label", lambda x: True), ("some", lambda x: x > 6)])
def test_a_by_of_a_steps_output_with_or_without_when_is_drawn_per_group(by_output, name, keep):
    """`by: [classify.label]` (and with `when`): each group's histogram holds the units the aggregate counted in
    it, and its normal interval is mean ± 1.96·sd/√n of that group's values from `octoc results`."""
    import statistics

    data, rows, html = by_output
    agg = _aggregate(data, name)
    drawn = {d["output"]: d for d in agg["distributions"]}
    values: dict[str, list[int]] = {}
    for label, x in rows:
        if keep(x):
            values.setdefault(label, []).append(x)
    assert [g["group"] for g in drawn["x"]["groups"]] == [g["by"]["label"] for g in agg["groups"]] == ["high", "low"]
    for g, group, iv in zip(agg["groups"], drawn["x"]["groups"], agg["intervals"]["mean_x"]):
        mine = values[g["by"]["label"]]
        assert group["units"] == g["units"] == sum(b["count"] for b in group["bins"]) == len(mine)
        half = 1.96 * statistics.stdev(mine) / math.sqrt(len(mine))
        assert iv["method"] == "normal 95%" and iv["estimate"] == pytest.approx(statistics.mean(mine))
        assert iv["low"] == pytest.approx(statistics.mean(mine) - half) and iv["high"] == pytest.approx(statistics.mean(mine) + half)
    assert {f"groupdist:{name}.classify.x@high", f"groupdist:{name}.classify.x@low"} <= set(Page(html).charts())


def test_an_enum_output_grouped_by_itself_is_drawn_as_bars_per_group(by_output):
    data, rows, html = by_output
    drawn = {d["output"]: d for d in _aggregate(data, "by_label")["distributions"]}
    counts = {label: sum(1 for r, _ in rows if r == label) for label in ("high", "low")}
    assert [(g["group"], g["values"]) for g in drawn["label"]["groups"]] == [
        (label, [{"value": label, "count": counts[label]}]) for label in ("high", "low")]
    assert "groupdist:by_label.classify.label" in Page(html).charts()


def test_units_whose_by_raises_are_left_out_as_the_aggregate_leaves_them(by_output):
    """`1 // (unit.repeat % 5)` raises for every fifth unit: the aggregate counts them in a group of their own
    (null `by`, no metrics); the drawing counts them as left out, and draws the other groups' units."""
    data, rows, _ = by_output
    agg = _aggregate(data, "broken")
    left, *groups = agg["groups"]
    assert all(v is None for v in left["by"].values())
    assert left["units"] == len(rows) // 5
    d = next(d for d in agg["distributions"] if d["output"] == "x")
    assert d["left_out"] == left["units"]
    assert [g["units"] for g in d["groups"]] == [g["units"] for g in groups]
    assert sum(g["units"] for g in d["groups"]) + d["left_out"] == len(rows)


def test_an_aggregate_over_a_fanouts_children_is_drawn_per_group(tmp_path):
    """examples/idea_stories.octo: `per_topic` reduces the stories (a fan-out's children) by their parent's topic;
    each group's histogram holds the children the aggregate counted in it, and mean(story.words) has its interval."""
    from octo.runtime.reading.report import report

    run_dir = _run(tmp_path, "ideas", (ROOT / "examples" / "idea_stories.octo").read_text())
    agg = _aggregate(report(run_dir, detail=True), "per_topic")
    words = next(d for d in agg["distributions"] if d["output"] == "words")
    assert [(g["group"], g["units"]) for g in words["groups"]] == [(g["by"]["id"], g["units"]) for g in agg["groups"]]
    assert all(sum(b["count"] for b in g["bins"]) == g["units"] for g in words["groups"])
    assert [iv["method"] for iv in agg["intervals"]["mean_words"]] == ["normal 95%"] * len(agg["groups"])


def test_a_computed_aggregate_missing_an_upstream_result_still_renders_without_its_groups(sailor, tmp_path):
    """A store caught between a fix's steps: the aggregate is stored, one of its units' results is gone."""
    import shutil
    import sqlite3

    run_dir = tmp_path / "sailor"
    shutil.copytree(sailor[0], run_dir)
    with sqlite3.connect(run_dir / "run.db") as db:
        db.execute("DELETE FROM results WHERE step = 'walk' AND unit = (SELECT min(unit) FROM results WHERE step = 'walk')")
    charts = Page(_html(run_dir)).charts()
    assert "metric:odds.p_ship" in charts and "dist:walk.steps" in charts  # the rest of the page is there
    assert not any(c.startswith("groupdist:odds") for c in charts)  # the aggregate's groups are not drawn
    assert any(c.startswith("groupdist:odds") for c in Page(sailor[1]).charts())  # where they are when whole
