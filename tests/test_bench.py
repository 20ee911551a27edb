"""seqlab.bench: grids, the FLOPs formula by hand, the report's shape, n/a rows and bad input."""

import importlib.util
import json

import pytest
import torch

from seqlab import bench, bench_peers
from seqlab import nn as snn
from seqlab.bench import LayerConfig, layer_flops
from seqlab.errors import ConfigError

QUICK = bench.BenchSettings(warmup=0, repeats=1, iters=1, matmul_size=64)
TINY = {"batch": 2, "steps": 3, "input_size": 4, "hidden_size": 5}
CPU = torch.device("cpu")


def test_flops_of_one_lstm_layer_by_hand():
    # 4 gates x H=5 outputs, each a dot product over I + H = 4 + 5 inputs (2 FLOPs per
    # multiply-add), for B*T = 2*3 = 6 tokens: 2 * 6 * 20 * 9 = 2160 forward FLOPs.
    assert layer_flops(LayerConfig(**TINY, mode="infer")) == 2160
    assert layer_flops(LayerConfig(**TINY, mode="train")) == 3 * 2160


def test_flops_of_a_stacked_bidirectional_gru_by_hand():
    # GRU: 3 gates -> 15 outputs. Layer 0: two directions of 2 * 6 * 15 * (4 + 5) = 1620.
    # Layer 1 reads both directions (I_1 = 10): two of 2 * 6 * 15 * (10 + 5) = 2700.
    config = LayerConfig(**TINY, cell="gru", num_layers=2, bidirectional=True, mode="infer")
    assert layer_flops(config) == 2 * 1620 + 2 * 2700
    # the Elman RNN has one "gate": 2 * 6 * 5 * 9 = 540
    assert layer_flops(LayerConfig(**TINY, cell="rnn", mode="infer")) == 540


def test_grid_is_the_product_of_the_listed_values():
    configs = bench.expand_grid({"cell": ["lstm", "gru"], "batch": [1, 8], "mode": "infer"})
    assert [(c.cell, c.batch, c.mode) for c in configs] == [
        ("lstm", 1, "infer"),
        ("lstm", 8, "infer"),
        ("gru", 1, "infer"),
        ("gru", 8, "infer"),
    ]
    assert configs[0].hidden_size == LayerConfig().hidden_size  # fields left out keep the defaults


def test_grid_file_with_a_list_of_grids(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("- {cell: [lstm, gru], steps: 10}\n- {cell: rnn, bidirectional: true, layer_norm: true}\n")
    configs = bench.load_grid(path)
    assert [(c.cell, c.steps, c.bidirectional) for c in configs] == [
        ("lstm", 10, False),
        ("gru", 10, False),
        ("rnn", 100, True),
    ]


def test_preset_with_flags_overrides_each_config():
    configs = bench.configs_from("cpu-small", flags={"steps": 7, "mode": "infer"})
    assert configs and all(c.steps == 7 and c.mode == "infer" for c in configs)
    assert len(configs) == len(set(configs))  # train/infer pairs collapse into one
    lstm = LayerConfig(batch=32, steps=100, input_size=128, hidden_size=256)
    assert lstm in bench.PRESETS["cpu-small"]  # the speed target's CPU shape


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"hiden_size": 4}, "unknown grid field 'hiden_size'; did you mean 'hidden_size'"),
        ({"cell": "lstmm"}, "cell must be one of lstm, gru, rnn; got 'lstmm'"),
        ({"batch": 0}, "batch must be a positive integer, got 0"),
        ({"recurrent_dropout": 1.0}, r"recurrent_dropout must be a number in \[0, 1\), got 1.0"),
        ({"dtype": "float8"}, "dtype must be one of float32, float16, bfloat16, float64; got 'float8'"),
        ({"mode": ["train", "predict"]}, "mode must be one of train, infer; got 'predict'"),
        ({"bidirectional": "yes"}, "bidirectional must be true or false, got 'yes'"),
        ({"steps": []}, "grid field 'steps' has an empty list"),
    ],
)
def test_bad_grid_names_the_field(spec, message):
    with pytest.raises(ConfigError, match=message):
        bench.expand_grid(spec)


def test_bad_grid_file_names_the_file(tmp_path):
    path = tmp_path / "g.yaml"
    path.write_text("- {cell: gru}\n- {cel: lstm}\n")
    with pytest.raises(ConfigError, match=r"unknown grid field 'cel'; did you mean 'cell'.*g\.yaml, grid 2"):
        bench.load_grid(path)
    with pytest.raises(ConfigError, match="does not exist"):
        bench.load_grid(tmp_path / "missing.yaml")


def test_bad_contenders_presets_and_settings():
    with pytest.raises(ConfigError, match="contender must be one of .*; got 'cudnn'"):
        bench.parse_contenders("torch.nn,cudnn")
    with pytest.raises(ConfigError, match="unknown preset 'h200'; known: tiny, cpu-small, h100"):
        bench.configs_from("h200")
    with pytest.raises(ConfigError, match="repeats must be an integer >= 1, got 0"):
        bench.BenchSettings(repeats=0)
    with pytest.raises(ConfigError, match="clock must be one of wall, process; got 'cpu'"):
        bench.BenchSettings(clock="cpu")
    with pytest.raises(ConfigError, match="clock 'process' .* measures the CPU only"):
        bench.run_bench(
            [LayerConfig(**TINY)], ("torch.nn",), torch.device("cuda"), bench.BenchSettings(clock="process")
        )
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="torch sees no CUDA GPU"):
            bench.resolve_device("cuda")
    assert bench.parse_contenders("auto, fused") == ("torch.nn", "auto", "fused")  # the peer comes first


def test_report_rows_ratios_and_na_reasons():
    configs = [
        LayerConfig(**TINY),
        LayerConfig(**TINY, cell="rnn", mode="infer"),
        LayerConfig(**TINY, recurrent_dropout=0.25),
    ]
    contenders = ("torch.nn", "reference", "fused", "auto", "triton")
    report = bench.run_bench(configs, contenders, CPU, QUICK)
    json.dumps(report)  # JSON-ready as it is
    assert set(report) == {"machine", "settings", "contenders", "matmul_peak", "results"}
    assert report["matmul_peak"]["float32"] > 0
    rows = {(r["label"], r["contender"]): r for r in report["results"]}
    assert len(report["results"]) == len(configs) * len(contenders)

    plain = rows[(configs[0].label(), "torch.nn")]
    assert plain["status"] == "ok" and plain["vs_torch_nn"] == 1.0
    assert plain["tokens_per_s"] == pytest.approx(6 / plain["seconds"])
    assert plain["flops"] == 3 * 2160
    assert plain["matmul_peak_share"] == pytest.approx(
        plain["flops"] / plain["seconds"] / report["matmul_peak"]["float32"]
    )
    assert plain["peak_memory_bytes"] is None  # not measured on the CPU
    auto = rows[(configs[0].label(), "auto")]
    assert auto["vs_torch_nn"] == pytest.approx(plain["seconds"] / auto["seconds"])

    triton = rows[(configs[0].label(), "triton")]
    assert triton["status"] == "n/a" and "triton" in triton["reason"]
    fused_rnn = rows[(configs[1].label(), "fused")]
    assert fused_rnn["status"] == "n/a" and "Elman RNN" in fused_rnn["reason"]
    peer_dropout = rows[(configs[2].label(), "torch.nn")]
    assert peer_dropout["status"] == "n/a" and peer_dropout["reason"] == "torch.nn.LSTM has no recurrent dropout"
    assert rows[(configs[2].label(), "auto")]["vs_torch_nn"] is None  # no peer to compare with

    table = bench.to_markdown(report).splitlines()
    assert table[2].startswith("| config | contender | tokens/s |")
    assert len(table) == 4 + len(report["results"])
    assert "| lstm train B=2 T=3 I=4 H=5 rd=0.25 fp32 | torch.nn | n/a |" in table[-5]
    assert all(line.count("|") == 9 for line in table[2:])  # 8 columns in every row


def test_keras_row_when_keras_is_missing():
    if importlib.util.find_spec("keras") and importlib.util.find_spec("jax"):
        pytest.skip("keras and jax are installed here")
    report = bench.run_bench([LayerConfig(**TINY)], ("torch.nn", "keras"), CPU, QUICK)
    keras_row = report["results"][1]
    assert keras_row["status"] == "n/a" and "pip install keras jax" in keras_row["reason"]


def test_triton_backend_without_a_gpu_is_an_error_naming_it(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)  # the test session interprets Triton on the CPU
    with pytest.raises((ValueError, RuntimeError), match="triton"):
        snn.LSTM(4, 5, backend="triton")(torch.randn(3, 2, 4))


@pytest.mark.slow
def test_keras_contender_runs_when_installed():
    if not (importlib.util.find_spec("keras") and importlib.util.find_spec("jax")):
        pytest.skip("keras and jax are not installed (benchmark-only: pip install keras jax)")
    configs = [LayerConfig(**TINY, cell="gru", mode="infer"), LayerConfig(**TINY, recurrent_dropout=0.25)]
    report = bench.run_bench(configs, ("torch.nn", "keras"), CPU, QUICK)
    keras_rows = [r for r in report["results"] if r["contender"] == "keras"]
    assert [r["status"] for r in keras_rows] == ["ok", "ok"]
    assert keras_rows[0]["vs_torch_nn"] > 0 and keras_rows[1]["vs_torch_nn"] is None
    with pytest.raises(ValueError, match="no layer norm"):
        bench_peers.keras_contender(LayerConfig(**TINY, layer_norm=True))


def test_the_shipped_grid_file_loads():
    from pathlib import Path

    path = Path(__file__).parents[1] / "benchmarks" / "recurrent_variants.yaml"
    configs = bench.load_grid(path)
    assert len(configs) == 8
    assert sum(c.recurrent_dropout > 0 for c in configs) == 2 and sum(c.layer_norm for c in configs) == 1
    assert {c.batch for c in configs if c.mode == "infer"} == {1, 8}
