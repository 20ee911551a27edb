"""seqlab.training.records: metrics.jsonl cut back for resume, timing keys dropped, the curves plot."""

import sys

from seqlab.training.records import MetricsLog, plot_curves, without_timings

RECORDS = [{"kind": "step", "epoch": 1, "step": 1, "train_loss": 2.0, "lr": 0.1, "tokens_per_s": 123.4},
           {"kind": "epoch", "epoch": 1, "step": 2, "train_loss": 1.5, "valid_loss": 1.0}]


def test_log_truncates_to_a_checkpointed_size(tmp_path):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    log.append(RECORDS[0])
    size = log.size()
    log.append(RECORDS[1])
    log.truncate(size)  # what resume does with lines written after the last checkpoint
    assert log.read() == RECORDS[:1]


def test_without_timings():
    assert without_timings(RECORDS)[0] == {"kind": "step", "epoch": 1, "step": 1, "train_loss": 2.0, "lr": 0.1}


def test_plot_curves(tmp_path, monkeypatch):
    assert plot_curves(RECORDS, "valid_loss", tmp_path / "plots" / "curves.png") is None
    assert (tmp_path / "plots" / "curves.png").read_bytes()[:4] == b"\x89PNG"
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    note = plot_curves(RECORDS, "valid_loss", tmp_path / "other.png")
    assert note == "plots/curves.png skipped: matplotlib is not installed (pip install matplotlib)"
    assert not (tmp_path / "other.png").exists()
