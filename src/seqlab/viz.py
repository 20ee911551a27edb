"""Pictures of what a model does: attention heat maps, gradient flow through time.

matplotlib's object API (``Figure``, no pyplot), so nothing touches a global backend and
it works headless. matplotlib is imported inside the functions: it is an optional extra.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import Tensor


def plot_attention(alphas: Tensor, source: Sequence[str], output: Sequence[str], path: Path, title: str = "") -> None:
    """Write an attention heat map: one row per output token, one column per source token.

    alphas: (T, S), row t the attention weights while producing ``output[t]`` (each row sums
    to 1); source: S tokens; output: T tokens.
    """
    from matplotlib.figure import Figure

    if tuple(alphas.shape) != (len(output), len(source)):
        raise ValueError(
            f"plot_attention: alphas {tuple(alphas.shape)} must be (len(output), len(source)) = "
            f"({len(output)}, {len(source)})"
        )
    figure = Figure(figsize=(1.5 + 0.32 * len(source), 1.2 + 0.32 * len(output)))
    axes = figure.add_subplot()
    axes.imshow(alphas.detach().float().cpu().numpy(), cmap="viridis", vmin=0.0, vmax=1.0, aspect="equal")
    axes.set_xticks(range(len(source)), [_label(t) for t in source], rotation=90)
    axes.set_yticks(range(len(output)), [_label(t) for t in output])
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    if title:
        axes.set_title(title, fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)


def plot_gradient_flow(norms: dict[str, Tensor], path: Path) -> None:
    """Write ``path``: for each layer (key) its (T,) norms ‖∂L/∂x_t‖ as a share of the last
    step's, against the distance T - t from the end, on a log scale."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    axes = figure.add_subplot()
    for name, values in norms.items():
        share = (values / values[-1]).flip(0).clamp_min(1e-300)  # index = distance from the end
        axes.semilogy(range(len(share)), share.detach().cpu().numpy(), label=name.upper())
    axes.set_xlabel("T - t (steps before the last)")
    axes.set_ylabel("‖∂L/∂x_t‖ / ‖∂L/∂x_T‖")
    axes.legend()
    axes.grid(True, which="major", alpha=0.3)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)


def _label(token: str) -> str:
    """A tick label that shows whitespace: a space as ␣, a newline as \\n."""
    return "␣" if token == " " else repr(token)[1:-1]
