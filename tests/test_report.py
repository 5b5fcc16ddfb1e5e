"""`gantool report RUN_DIR`: plots and a self-contained HTML page from a run folder."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from gantool.errors import GantoolError
from gantool.report import write_report
from gantool.run import train
from gantool_cli.main import cli


@pytest.fixture
def run_with_warning(tiny_cfg, tmp_path):
    """A tiny run, plus a warning record as the monitor writes them."""
    run = train(tiny_cfg, out=tmp_path / "run", quiet=True).run_dir
    with (run / "metrics.jsonl").open("a") as f:
        f.write(json.dumps({"step": 3, "warning": "mode_collapse", "message": "few <distinct> outputs",
                            "remedy": "check z"}) + "\n")
    return run


def test_report_writes_plots_and_one_self_contained_page(run_with_warning):
    report = write_report(run_with_warning)
    assert report.html == run_with_warning / "report" / "report.html"
    names = {p.name for p in report.plots}
    assert {"losses.png", "d_scores.png", "d_accuracy.png", "grad_norms.png", "diversity.png"} <= names
    assert all(p.stat().st_size > 1000 for p in report.plots)
    page = report.html.read_text()
    assert page.count("data:image/png;base64,") == len(report.plots) + 2  # plots + sample grids at steps 2 and 4
    assert "few &lt;distinct&gt; outputs" in page and "mode_collapse" in page  # escaped, listed
    assert "src='samples/" not in page and "file://" not in page  # nothing outside the page


def test_report_cli(run_with_warning, tmp_path):
    result = CliRunner().invoke(cli, ["report", str(run_with_warning), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "rep" / "report.html").is_file()
    assert "1 warning(s)" in result.output and "step 3: mode_collapse" in result.output


def test_report_needs_a_run_folder(tmp_path):
    with pytest.raises(GantoolError, match="metrics.jsonl does not exist"):
        write_report(tmp_path)
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "val_l1": 0.3}\n')
    with pytest.raises(GantoolError, match="no training records"):
        write_report(tmp_path)
    (tmp_path / "metrics.jsonl").write_text('not json\n{"step": 1, "loss_g": 0.3}\n')  # a cut-short last line is skipped
    with pytest.raises(GantoolError, match="line 1: not JSON"):
        write_report(tmp_path)
