"""A classify bundle as an ONNX graph: ``seqlab export RUN [--output model.onnx]``.

The graph takes what the bundle's ``encode`` makes of texts, padded, and gives the class
probabilities::

    tokens         (B, T) int64   token ids, padded with 0 after each text's end
    lengths        (B,)   int64   each text's real length, 1 <= length <= T
    probabilities  (B, C) float32 softmax over the classes, in labels.json's order

B and T are free. Tokenizing stays outside the graph: tokenizer.json and vocab.json in the
run dir say how (``seqlab.load(RUN).encode(text)`` is the reference). Runs with an LSTM or GRU
encoder (stacked, bidirectional) export; conv and transformer encoders,
numeric feature sequences, the recurrent variants torch's own layers cannot run (layer
norm, ``reset_after=False``) and vanilla RNNs (the exporter unrolls torch's RNN layer over
the traced steps, fixing T) are refused with the reason: each would need its own path.

Why not export the model as it is: seqlab's recurrent layers pack padded batches and check
lengths in Python, which a graph cannot keep. :class:`ExportableClassifier` computes the
same numbers with fixed-shape operations: each layer and direction is one torch.nn layer
over the padded batch; the backward direction reads each text reversed within its own
length (a gather) and its outputs are reversed back; padded positions are zeroed, so the
forward direction's extra steps over padding never reach a real position. The tests hold it
to the bundle's own probabilities, and the exported graph (through onnxruntime) to both.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from seqlab.errors import ConfigError

TORCH_LAYERS = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN_TANH": nn.RNN, "RNN_RELU": nn.RNN}


def check_exportable(model: nn.Module, where: str, onnx: bool = True) -> None:
    """A ConfigError naming why ``model`` (a classify model) has no fixed-shape path (or, with
    ``onnx``, no ONNX graph), or nothing."""
    if getattr(model, "embedding", None) is None or isinstance(model.embedding, nn.Linear):
        raise ConfigError(f"{where}: the model reads numeric feature sequences; export takes token classifiers")
    if not getattr(model, "recurrent", False):
        raise ConfigError(f"{where}: export takes recurrent encoders (lstm, gru); this model's is "
                          f"{type(model.encoder).__name__}")
    lacking = list(model.encoder._static_reference_features())
    if getattr(model.encoder, "proj_size", 0):
        lacking.append(f"proj_size={model.encoder.proj_size}")
    if lacking:
        raise ConfigError(f"{where}: the encoder uses {', '.join(lacking)}, which torch's layers (and so ONNX's) "
                          "cannot run")
    if onnx and model.encoder.mode.startswith("RNN"):
        raise ConfigError(f"{where}: torch's ONNX exporter unrolls a vanilla RNN layer over the traced steps, so "
                          "the graph would read one length only; export takes lstm and gru encoders")


class _PaddedRecurrent(nn.Module):
    """A seqlab.nn RNN/LSTM/GRU (batch first) as fixed-shape operations over a padded batch."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.num_layers, self.bidirectional = layer.num_layers, layer.bidirectional
        kind = TORCH_LAYERS[layer.mode]
        extra = {"nonlinearity": "relu" if layer.mode == "RNN_RELU" else "tanh"} if kind is nn.RNN else {}
        self.cells = nn.ModuleList()
        for k in range(layer.num_layers):
            for suffix in ("", "_reverse") if layer.bidirectional else ("",):
                cell = kind(layer.weight_ih_l0.shape[1] if k == 0 else layer.hidden_size * (2 if layer.bidirectional
                            else 1), layer.hidden_size, batch_first=True, bias=layer.bias, **extra)
                with torch.no_grad():
                    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                        if hasattr(cell, f"{name}_l0"):
                            getattr(cell, f"{name}_l0").copy_(getattr(layer, f"{name}_l{k}{suffix}"))
                self.cells.append(cell)

    def forward(self, x: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, T, I); lengths (B,). Returns outputs (B, T, D * H), zero at padding, and the
        top layer's final states (B, D * H): forward at each text's last step, backward at step 0."""
        steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)  # (1, T)
        ends = lengths.unsqueeze(1)  # (B, 1)
        real = (steps < ends).unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        reverse = torch.where(steps < ends, ends - 1 - steps, steps)  # (B, T): each text reversed in place
        directions = 2 if self.bidirectional else 1
        h = x
        for k in range(self.num_layers):
            forward_out, _ = self.cells[directions * k](h)  # (B, T, H)
            outs = [forward_out]
            if self.bidirectional:  # (the index is expanded from the inputs' B and T: the layer's output shape is
                # traced as fixed, so expand_as on it would fix T in the graph)
                flipped = h.gather(1, reverse.unsqueeze(-1).expand(-1, -1, h.shape[-1]))
                backward_out, _ = self.cells[directions * k + 1](flipped)
                outs.append(backward_out.gather(1, reverse.unsqueeze(-1).expand(-1, -1, forward_out.shape[-1])))
            h = torch.cat(outs, dim=-1) * real  # (B, T, D * H)
        last = (ends - 1).unsqueeze(-1).expand(-1, 1, h.shape[-1])  # (B, 1, D * H)
        final = h.gather(1, last).squeeze(1)  # forward's final state: its output at the last real step
        if self.bidirectional:
            width = h.shape[-1] // 2
            final = torch.cat([final[:, :width], h[:, 0, width:]], dim=-1)  # backward's: its output at step 0
        return h, final


class ExportableClassifier(nn.Module):
    """A recurrent seqlab Classifier (eval mode) as (tokens, lengths) -> probabilities in
    fixed-shape operations; the same numbers as ``softmax(model(tokens, lengths))``."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        check_exportable(model, "ExportableClassifier", onnx=False)
        self.model = model.eval()
        self.encoder = _PaddedRecurrent(model.encoder)
        self.eval()  # the copies too: a graph is traced in eval mode

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        h, final = self.encoder(self.model.embedding(tokens), lengths)
        mask = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)
        return torch.softmax(self.model.head(self.model.pool(h, final, mask)), dim=-1)


def export_onnx(run_dir: str | Path, output: str | Path | None = None) -> Path:
    """Write ``run_dir``'s classifier as ONNX (default RUN/model.onnx); returns the path.
    Needs the export extra (onnx, onnxscript)."""
    from seqlab import bundle

    run_dir = Path(run_dir)
    _, cfg = bundle.read_config(run_dir)
    if cfg.task != "classify":
        raise ConfigError(f"{run_dir}: a {cfg.task} run; export takes classify runs (a token classifier with a "
                          "recurrent encoder)")
    try:
        import onnx  # noqa: F401 (torch.onnx.export needs it; checked here for a clear message)
        import onnxscript  # noqa: F401
    except ImportError:
        raise ConfigError("seqlab export needs onnx and onnxscript: pip install 'seqlab[export]'") from None
    clf = bundle.load(run_dir)
    return write_graph(clf.model, Path(output) if output is not None else run_dir / "model.onnx", str(run_dir))


def write_graph(model: nn.Module, output: Path, where: str = "export") -> Path:
    """Trace ``model`` (a recurrent Classifier) through :class:`ExportableClassifier` into an
    ONNX file at ``output`` (written to a temporary name, then renamed); returns the path.
    ``where`` names the model in a refusal (see :func:`check_exportable`)."""
    check_exportable(model, where)
    graph = ExportableClassifier(model)
    lengths = torch.tensor([5, 3])  # an example batch to trace: B and T above 1, so neither is fixed
    tokens = torch.randint(1, model.embedding.num_embeddings, (2, 5)).masked_fill(torch.arange(5) >= lengths[:, None], 0)
    batch, time = torch.export.Dim("batch"), torch.export.Dim("time")
    tmp = output.with_name(output.name + ".tmp")
    with torch.no_grad():
        torch.onnx.export(graph, (tokens, lengths), str(tmp), dynamo=True, verbose=False, optimize=True,
                          input_names=["tokens", "lengths"], output_names=["probabilities"],
                          dynamic_shapes={"tokens": {0: batch, 1: time}, "lengths": {0: batch}})
    tmp.replace(output)  # atomic: a half-written graph never has the final name
    return output
