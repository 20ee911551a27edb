"""The seq2seq model: shapes, teacher forcing equal to stepping, padding, search, overfit."""

import pytest
import torch
import torch.nn.functional as F

from seqlab import decode
from seqlab.data.vocab import EOS_ID, PAD_ID, SOS_ID
from seqlab.tasks.seq2seq import Seq2Seq

SRC_V, TGT_V = 12, 9
CONFIGS = [
    {"cell": "lstm", "bidirectional": True, "attention": "dot", "input_feeding": False},
    {"cell": "lstm", "bidirectional": True, "attention": "general", "input_feeding": True, "num_layers": 2},
    {"cell": "gru", "bidirectional": False, "attention": "additive", "input_feeding": True},
    {"cell": "gru", "bidirectional": True, "attention": "dot", "input_feeding": False, "tie_embeddings": True},
]


def model(**kwargs):
    torch.manual_seed(0)
    return Seq2Seq(SRC_V, TGT_V, embedding_dim=6, hidden_size=8, **kwargs).eval()


def batch():
    src = torch.tensor([[4, 5, 6, 7, 8], [9, 10, 0, 0, 0]])
    lengths = torch.tensor([5, 2])
    tgt_in = torch.tensor([[SOS_ID, 4, 5, 6], [SOS_ID, 7, 8, 0]])
    return src, lengths, tgt_in


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_shapes_and_attention_rows(kwargs):
    src, lengths, tgt_in = batch()
    logits, alphas = model(**kwargs)(src, lengths, tgt_in)
    assert logits.shape == (2, 4, TGT_V) and alphas.shape == (2, 4, 5)
    torch.testing.assert_close(alphas.sum(-1), torch.ones(2, 4))
    assert torch.all(alphas[1, :, 2:] == 0)  # no weight on source padding


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_teacher_forcing_equals_stepping(kwargs):
    """The whole-target forward and the one-step function used by search agree."""
    net = model(**kwargs)
    src, lengths, tgt_in = batch()
    logits, alphas = net(src, lengths, tgt_in)
    state = net.initial_state(net.encode(src, lengths))
    for t in range(tgt_in.shape[1]):
        step_logits, state, step_alphas = net.decode_step(tgt_in[:, t], state)
        torch.testing.assert_close(step_logits, logits[:, t], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(step_alphas, alphas[:, t], atol=1e-6, rtol=1e-5)


def test_a_stepping_decoder_keeps_one_recurrent_dropout_mask_per_sequence():
    """Input feeding steps the decoder; its variational masks are drawn once, at the first
    step, and every step's recurrent product sees the same dropped units (as forward would)."""
    net = model(cell="lstm", input_feeding=True, num_layers=2, recurrent_dropout=0.5).train()
    src, lengths, tgt_in = batch()
    state = net.initial_state(net.encode(src, lengths))
    assert state.masks is None
    _, state, _ = net.decode_step(tgt_in[:, 0], state)
    assert len(state.masks) == 2 and state.masks[0].shape == (2, 8)
    first = state.masks
    for t in range(1, tgt_in.shape[1]):
        _, state, _ = net.decode_step(tgt_in[:, t], state)
        assert state.masks is first
    kept = state.masks[0] != 0
    assert not kept.all() and kept.any()  # p = 0.5 on 16 units: some dropped, some kept
    torch.testing.assert_close(state.masks[0][kept], torch.full_like(state.masks[0][kept], 2.0))
    net.eval()
    _, state, _ = net.decode_step(tgt_in[:, 0], net.initial_state(net.encode(src, lengths)))
    assert state.masks is None  # nothing is dropped in eval


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_source_padding_changes_nothing(kwargs):
    net = model(**kwargs)
    src, lengths, tgt_in = batch()
    more = F.pad(src, (0, 4), value=PAD_ID)
    a, _ = net(src, lengths, tgt_in)
    b, _ = net(more, lengths, tgt_in)
    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


def test_beam_of_one_equals_greedy_through_the_model():
    net = model(**CONFIGS[1])
    src, lengths, _ = batch()
    state = net.initial_state(net.encode(src, lengths))
    with torch.no_grad():
        greedy = decode.greedy(net.step, state, 2, SOS_ID, EOS_ID, 7)
        beam = decode.beam_search(net.step, state, 2, SOS_ID, EOS_ID, 7, beam_size=1)
    assert torch.equal(greedy.tokens, beam.tokens)
    torch.testing.assert_close(greedy.scores, beam.scores)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="even hidden_size"):
        Seq2Seq(5, 5, hidden_size=7, bidirectional=True)
    with pytest.raises(ValueError, match="cell must be one of lstm, gru; got 'rnn'"):
        Seq2Seq(5, 5, cell="rnn")


def test_overfits_reversal_of_a_few_sequences():
    """Learn to reverse 8 short sequences exactly: the whole path trains."""
    torch.manual_seed(1)
    seqs = [torch.randint(4, SRC_V, (n,)).tolist() for n in (3, 4, 5, 3, 4, 5, 2, 4)]
    src = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], batch_first=True)
    lengths = torch.tensor([len(s) for s in seqs])
    targets = [list(reversed(s)) for s in seqs]
    tgt_in = torch.nn.utils.rnn.pad_sequence([torch.tensor([SOS_ID] + s) for s in targets], batch_first=True)
    tgt_out = torch.nn.utils.rnn.pad_sequence([torch.tensor(s + [EOS_ID]) for s in targets], batch_first=True)
    net = Seq2Seq(SRC_V, SRC_V, embedding_dim=16, hidden_size=32, input_feeding=True)  # one shared id space
    optimizer = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(150):
        logits, _ = net(src, lengths, tgt_in)
        loss = F.cross_entropy(logits.transpose(1, 2), tgt_out, ignore_index=PAD_ID)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        found = decode.greedy(net.step, net.initial_state(net.encode(src, lengths)), len(seqs), SOS_ID, EOS_ID, 8)
    for row, target, length in zip(found.tokens.tolist(), targets, found.lengths.tolist()):
        assert row[: length - 1] == target and row[length - 1] == EOS_ID
