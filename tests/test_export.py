"""seqlab export: the fixed-shape classifier against the model itself, and the ONNX graph
(run by onnxruntime, at shapes other than the traced ones) against the bundle."""

from __future__ import annotations

import pytest
import torch

import seqlab
from seqlab import nn as snn
from seqlab.cli.main import main
from seqlab.errors import ConfigError
from seqlab.export import ExportableClassifier, check_exportable, write_graph
from seqlab.tasks.classify import Classifier


def padded_batch(lengths, vocab=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    tokens = torch.randint(1, vocab, (len(lengths), int(lengths.max())), generator=g)
    return tokens.masked_fill(torch.arange(tokens.shape[1]) >= lengths[:, None], 0), lengths


@pytest.mark.parametrize("options", [
    {"encoder": "lstm", "num_layers": 2, "bidirectional": True, "pooling": "max+mean"},
    {"encoder": "gru", "num_layers": 2, "bidirectional": True, "pooling": "attention"},
    {"encoder": "lstm", "bidirectional": True, "pooling": "last"},
    {"encoder": "rnn", "num_layers": 3, "pooling": "last"},
    {"encoder": "gru", "pooling": "mean"},
])
def test_fixed_shape_classifier_gives_the_models_probabilities(options):
    torch.manual_seed(0)
    model = Classifier(50, 3, embedding_dim=8, hidden_size=6, **options).eval()
    tokens, lengths = padded_batch([7, 1, 4, 7, 2])  # padding after every text but the longest two
    with torch.no_grad():
        expected = torch.softmax(model(tokens, lengths), dim=-1)
        got = ExportableClassifier(model)(tokens, lengths)
    assert torch.allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("make, reason", [
    (lambda: Classifier(50, 2, embedding_dim=4, encoder=snn.ConvEncoder(4, 4), pooling="max"),
     "export takes recurrent encoders"),
    (lambda: Classifier(50, 2, num_features=3, embedding_dim=4, hidden_size=4), "numeric feature sequences"),
])
def test_models_without_an_onnx_path_are_refused(make, reason):
    with pytest.raises(ConfigError, match=reason):
        check_exportable(make(), "RUN")


@pytest.mark.parametrize("layer, feature", [
    (lambda: snn.LSTM(4, 4, batch_first=True, layer_norm=True), "layer_norm"),
    (lambda: snn.GRU(4, 4, batch_first=True, reset_after=False), "reset_after"),
])
def test_recurrent_variants_torch_cannot_run_are_refused(layer, feature):
    model = Classifier(50, 2, embedding_dim=4, hidden_size=4)
    model.encoder = layer()
    with pytest.raises(ConfigError, match=f"the encoder uses .*{feature}"):
        check_exportable(model, "RUN")


def test_a_vanilla_rnn_has_the_fixed_shape_path_but_no_onnx_graph():
    model = Classifier(50, 2, embedding_dim=4, hidden_size=4, encoder="rnn")
    check_exportable(model, "RUN", onnx=False)  # ExportableClassifier computes it (tested above)
    with pytest.raises(ConfigError, match="unrolls a vanilla RNN layer over the traced steps"):
        check_exportable(model, "RUN")


@pytest.mark.slow
def test_exported_graph_matches_the_bundle_at_other_shapes(classify_run, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    path = tmp_path / "clf.onnx"
    assert main(["export", str(classify_run), "--output", str(path)]) == 0
    assert f"wrote {path}" in capsys.readouterr().out
    clf = seqlab.load(classify_run)
    texts = ["the film was good and the plot was lovely", "awful", "dull plot", "really superb film", "the and"]
    ids = [clf.encode(text) for text in texts]
    tokens = torch.zeros(len(ids), max(map(len, ids)), dtype=torch.long)
    for row, seq in enumerate(ids):
        tokens[row, :len(seq)] = torch.tensor(seq)
    lengths = torch.tensor([len(seq) for seq in ids])
    session = ort.InferenceSession(str(path))
    assert [i.name for i in session.get_inputs()] == ["tokens", "lengths"]
    (probabilities,) = session.run(None, {"tokens": tokens.numpy(), "lengths": lengths.numpy()})
    assert torch.allclose(torch.from_numpy(probabilities), clf.probabilities(texts), atol=1e-5)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.export's own deprecations
@pytest.mark.filterwarnings("ignore:The tensor attributes:UserWarning")  # torch.nn.RNNBase._flat_weights, during export
def test_graphs_of_stacked_bidirectional_gru_with_attention_pooling(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    torch.manual_seed(0)
    model = Classifier(50, 3, embedding_dim=8, hidden_size=6, encoder="gru", num_layers=2, bidirectional=True,
                       pooling="attention").eval()
    path = write_graph(model, tmp_path / "gru.onnx")
    tokens, lengths = padded_batch([9, 1, 4, 9])  # traced at (2, 5)
    (probabilities,) = ort.InferenceSession(str(path)).run(None, {"tokens": tokens.numpy(), "lengths": lengths.numpy()})
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(probabilities), torch.softmax(model(tokens, lengths), -1), atol=1e-5)


def test_cli_refuses_other_tasks(tag_run, capsys):
    assert main(["export", str(tag_run)]) == 2
    assert "a tag run; export takes classify runs" in capsys.readouterr().err


def test_cli_names_a_bad_output(classify_run, tmp_path, capsys):
    assert main(["export", str(classify_run), "--output", str(tmp_path)]) == 2
    assert "is a folder; expected a file name such as model.onnx" in capsys.readouterr().err
    assert main(["export", str(classify_run), "--output", str(tmp_path / "missing" / "m.onnx")]) == 2
    assert f"--output: no folder {tmp_path / 'missing'} to write into" in capsys.readouterr().err
