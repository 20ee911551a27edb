"""seqlab.viz: the attention heat map is written, and a shape mismatch is named."""

import pytest
import torch

from seqlab.viz import plot_attention


def test_plot_attention_writes_a_png(tmp_path):
    alphas = torch.softmax(torch.randn(3, 4), dim=-1)  # (T, S)
    path = tmp_path / "plots" / "attention-1.png"
    plot_attention(alphas, ["a", " ", "b", "\n"], ["x", "y", "<eos>"], path, title="a b -> x y")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_plot_attention_names_a_shape_mismatch(tmp_path):
    with pytest.raises(ValueError, match=r"alphas \(3, 4\) must be \(len\(output\), len\(source\)\) = \(2, 4\)"):
        plot_attention(torch.zeros(3, 4), list("abcd"), ["x", "y"], tmp_path / "a.png")
