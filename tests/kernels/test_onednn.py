"""oneDNN products of the CPU kernels: the same numbers as torch's ordinary products."""

import pytest
import torch
import torch.nn.functional as F

from seqlab.kernels.onednn import grad_weight, linear, linear_add, pack, project


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_projection_matches_f_linear_in_value_and_gradients(bias, batch_first):
    torch.manual_seed(0)
    x = torch.randn(7, 5, 6, requires_grad=True)  # (T, B, I), or (B, T, I) read as time-major below
    weight = torch.randn(12, 6, requires_grad=True)
    b = torch.randn(12, requires_grad=True) if bias else None
    seq = x.transpose(0, 1) if batch_first else x  # batch-first input: a strided (T, B, I) view
    leaves = [x, weight] + ([b] if bias else [])
    expected = F.linear(seq, weight, b)
    got = project(seq, weight, b)
    torch.testing.assert_close(got, expected)
    d_out = torch.randn_like(expected)
    for e, g in zip(torch.autograd.grad(expected, leaves, d_out), torch.autograd.grad(got, leaves, d_out)):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)


def test_projection_in_float64_is_f_linear_exactly():
    x, weight = torch.randn(3, 2, 4, dtype=torch.float64), torch.randn(8, 4, dtype=torch.float64)
    assert torch.equal(project(x, weight, None), F.linear(x, weight))


def test_packed_weights_give_the_plain_products():
    torch.manual_seed(0)
    rows, weight, bias = torch.randn(4, 3, 8), torch.randn(24, 8), torch.randn(24)
    x = rows[:, 1]  # (4, 8), a strided slice: the packed path copies it to rows first
    add = torch.randn(4, 24)
    packed = pack(weight, 4)
    torch.testing.assert_close(linear(x, packed, bias), torch.addmm(bias, x, weight.t()))
    torch.testing.assert_close(linear(x, packed), x @ weight.t())
    torch.testing.assert_close(linear_add(x, packed, add), torch.addmm(add, x, weight.t()))
    d_pre, inputs = torch.randn(10, 24), torch.randn(10, 8)
    torch.testing.assert_close(grad_weight(d_pre, inputs), d_pre.t() @ inputs)
