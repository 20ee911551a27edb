"""Fast paths for the recurrent layers, each checked against the reference equations.

- :mod:`seqlab.kernels.cpu`: one layer, one direction of LSTM and GRU on the CPU as
  ``torch.autograd.Function``s. The forward runs the loop over time with preallocated
  buffers and fused gate math; the backward runs the reverse loop and then computes the
  recurrent weight gradient as one large matrix product over all steps, instead of one
  small product per step as autograd through the per-step loop does.
- :mod:`seqlab.kernels.onednn`: the matrix products they make, through oneDNN in float32
  (weights packed once per call), and the input projection of all steps with a backward
  whose large products go through oneDNN too.
- :mod:`seqlab.kernels.triton_lstm`, :mod:`seqlab.kernels.triton_gru`: the same layers on
  CUDA GPUs as Triton kernels (design in :mod:`seqlab.kernels.triton_common`), with
  recurrent dropout and layer norm: one launch runs the whole sequence, forward or
  backward; the weight gradients are one product after the loop.
  :mod:`seqlab.kernels.triton_infer`: small-batch LSTM inference with the weights held on
  chip across steps. Imported only when ``backend="triton"`` runs, so triton stays optional.

The caller (:mod:`seqlab.nn.recurrent`) computes the input projection of all steps,
reverses sequences for the backward direction and loops over layers and directions; a
kernel sees only ``gx = W_ih x + b_ih`` for every step and runs the recurrence.
"""
