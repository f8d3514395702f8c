"""The front page is generated where it states figures, and a test fails when it disagrees with reports/."""

import re
import shutil
from pathlib import Path

import pytest
from tests.support import REPO

from farga.dev import report

pytestmark = pytest.mark.code

README = REPO / "README.md"


def test_readme_and_generated_pages_agree_with_the_committed_reports():
    assert report.stale(REPO) == [], "run `make docs` (farga dev report) and commit what it writes"


def test_a_changed_report_makes_the_readme_stale(tmp_path: Path):
    for part in ("README.md", "params.yaml", "reports", "docs"):
        (shutil.copytree if (REPO / part).is_dir() else shutil.copy)(REPO / part, tmp_path / part)
    assert report.stale(tmp_path) == []
    metrics = tmp_path / "reports/symbols/metrics.json"
    text = metrics.read_text()
    top1 = re.search(r'"test_top1": ([0-9.]+)', text)
    assert top1 is not None
    metrics.write_text(text.replace(top1[0], '"test_top1": 0.5', 1))
    assert set(report.stale(tmp_path)) == {tmp_path / "README.md", tmp_path / "docs/results.md"}
    report.write(tmp_path)
    assert "**50.0%**" in (tmp_path / "README.md").read_text()


def test_the_front_page_has_what_a_newcomer_needs():
    text = README.read_text(encoding="utf-8")
    assert len(text.encode()) < 10 * 1024
    for needed in ("make run", "make test", "make demo", "```mermaid", "http://127.0.0.1:8000/"):
        assert needed in text
    for component in ("symbols", "fillmask"):
        assert f"curl -s localhost:8000/v1/{component}/predict" in text
        assert f"<!-- farga:report {component} -->\n**{component}**" in text  # the table is filled in
    # no dated narrative, no CI timings
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b|today|CI run", text.split("## Read more")[0])


def test_every_relative_link_of_the_docs_resolves():
    pages = [README, *(REPO / "docs").rglob("*.md")]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text(encoding="utf-8")):
            if "://" not in target and not (page.parent / target).exists():
                broken.append(f"{page.relative_to(REPO)} -> {target}")
    assert broken == []


def test_make_run_ends_with_a_short_summary_of_each_champion():
    from typer.testing import CliRunner

    from farga.cli import app

    result = CliRunner().invoke(app, ["summary"], env={"FARGA_ROOT": str(REPO), "COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.index("symbols: champion v") < out.index("fillmask: champion v")  # the page's order
    for needed in ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/docs", "top-1"):
        assert needed in out
    assert len(out) < 5000  # short: not every slice of every predictor
