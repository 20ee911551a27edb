"""seqlab.data.batching: masks match lengths, every example once per epoch, budgets hold, LM windows chain."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqlab.data.batching import (
    BucketBatchSampler,
    Padded,
    collate,
    example_length,
    lm_windows,
    make_loader,
    pad,
    padding_fraction,
)
from seqlab.errors import DataError

PROPERTY = settings(max_examples=60, deadline=None)
LENGTHS = st.lists(st.integers(0, 40), min_size=0, max_size=120)


# ----------------------------------------------------------------------------- pad


def test_pad_by_hand():
    ids, lengths, mask = pad([[5, 6, 7], [8], []], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0], [0, 0, 0]]
    assert lengths.tolist() == [3, 1, 0]
    assert mask.tolist() == [[True, True, True], [True, False, False], [False, False, False]]
    assert ids.dtype == lengths.dtype == torch.long and mask.dtype == torch.bool


@PROPERTY
@given(st.lists(st.lists(st.integers(4, 99), max_size=15), min_size=1, max_size=10), st.booleans())
def test_pad_masks_match_lengths(sequences, as_tensors):
    batch = pad([torch.tensor(s, dtype=torch.long) for s in sequences] if as_tensors else sequences, pad_id=-1)
    B, T = len(sequences), max(len(s) for s in sequences)
    assert batch.ids.shape == batch.mask.shape == (B, T) and batch.lengths.shape == (B,)
    assert batch.lengths.tolist() == [len(s) for s in sequences]
    assert torch.equal(batch.mask, torch.arange(T)[None, :] < batch.lengths[:, None])
    assert torch.equal(batch.mask, batch.ids != -1)  # real ids are ≥ 4 here
    for b, seq in enumerate(sequences):
        assert batch.ids[b, : len(seq)].tolist() == seq


def test_pad_rejects_empty_and_nested_input():
    with pytest.raises(ValueError, match="at least one sequence"):
        pad([])
    with pytest.raises(ValueError, match=r"sequence 1 has shape \(2, 2\); pad expects 1-D"):
        pad([[1], [[1, 2], [3, 4]]])


# ----------------------------------------------------------------------------- bucketing


@PROPERTY
@given(LENGTHS, st.integers(1, 9), st.integers(1, 5), st.integers(0, 3), st.booleans())
def test_every_example_exactly_once_per_epoch(lengths, batch_size, bucket_size, epoch, shuffle):
    sampler = BucketBatchSampler(lengths, batch_size=batch_size, bucket_size=bucket_size, shuffle=shuffle, seed=4)
    sampler.set_epoch(epoch)
    batches = list(sampler)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    assert all(1 <= len(batch) <= batch_size for batch in batches)
    assert len(sampler) == len(batches)


@PROPERTY
@given(LENGTHS, st.integers(1, 120), st.one_of(st.none(), st.integers(1, 9)), st.integers(0, 3))
def test_max_tokens_budget_holds_except_single_long_examples(lengths, max_tokens, batch_size, epoch):
    sampler = BucketBatchSampler(lengths, batch_size=batch_size, max_tokens=max_tokens, bucket_size=3)
    sampler.set_epoch(epoch)
    batches = list(sampler)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        longest = max(max(1, lengths[i]) for i in batch)
        if len(batch) * longest > max_tokens:
            assert len(batch) == 1 and longest > max_tokens  # the documented exception
        if batch_size is not None:
            assert len(batch) <= batch_size


def test_set_epoch_changes_the_order_reproducibly():
    lengths = [(7 * i) % 23 for i in range(200)]
    sampler = BucketBatchSampler(lengths, batch_size=8, bucket_size=4, seed=1)
    epoch0 = list(sampler)
    assert list(sampler) == epoch0  # same epoch, same order
    sampler.set_epoch(1)
    epoch1 = list(sampler)
    assert epoch1 != epoch0
    again = BucketBatchSampler(lengths, batch_size=8, bucket_size=4, seed=1)
    again.set_epoch(1)
    assert list(again) == epoch1
    other_seed = BucketBatchSampler(lengths, batch_size=8, bucket_size=4, seed=2)
    assert list(other_seed) != epoch0


def test_bucketing_cuts_padding():
    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 100, (2000,), generator=generator).tolist()
    bucketed = BucketBatchSampler(lengths, batch_size=32, bucket_size=50)
    random_batches = BucketBatchSampler(lengths, batch_size=32, bucket_size=1)  # windows of one batch: no sorting gain

    def mean_padding(sampler):
        fractions = [padding_fraction([lengths[i] for i in batch]) for batch in sampler]
        return sum(fractions) / len(fractions)

    assert mean_padding(bucketed) < 0.1 < 0.3 < mean_padding(random_batches)


def test_without_shuffle_batches_follow_the_sorted_windows():
    sampler = BucketBatchSampler([5, 1, 4, 2, 3, 0], batch_size=2, bucket_size=1, shuffle=False)
    assert list(sampler) == [[1, 0], [3, 2], [5, 4]]
    sampler = BucketBatchSampler([5, 1, 4, 2, 3, 0], batch_size=2, bucket_size=3, shuffle=False)
    assert list(sampler) == [[5, 1], [3, 4], [2, 0]]


def test_sampler_bad_arguments():
    with pytest.raises(ValueError, match="give batch_size, max_tokens or both; got neither"):
        BucketBatchSampler([1, 2])
    with pytest.raises(ValueError, match="batch_size must be an integer ≥ 1 or None, got 0"):
        BucketBatchSampler([1, 2], batch_size=0)
    with pytest.raises(ValueError, match="max_tokens must be an integer ≥ 1 or None, got -5"):
        BucketBatchSampler([1, 2], max_tokens=-5)
    with pytest.raises(ValueError, match="bucket_size must be an integer ≥ 1"):
        BucketBatchSampler([1, 2], batch_size=1, bucket_size=0)
    with pytest.raises(ValueError, match=r"lengths must be one non-negative integer per example, got \[1, -2\]"):
        BucketBatchSampler([1, -2], batch_size=1)


# ----------------------------------------------------------------------------- LM windows


def test_lm_windows_by_hand():
    # 0..12 with B=2 → rows 0..5 and 6..11 (12 dropped); bptt=2 → windows of 2, 2, 1 tokens.
    windows = lm_windows(torch.arange(13), batch_size=2, bptt=2)
    assert [(x.tolist(), y.tolist()) for x, y in windows] == [
        ([[0, 1], [6, 7]], [[1, 2], [7, 8]]),
        ([[2, 3], [8, 9]], [[3, 4], [9, 10]]),
        ([[4], [10]], [[5], [11]]),
    ]
    shifted = lm_windows(torch.arange(13), batch_size=2, bptt=2, offset=1)
    assert shifted[0][0].tolist() == [[1, 2], [7, 8]]


@PROPERTY
@given(st.integers(2, 300), st.integers(1, 6), st.integers(1, 12), st.data())
def test_lm_windows_shift_by_one_and_continue_each_stream(n, batch_size, bptt, data):
    offset = data.draw(st.integers(0, n - 1))
    stream = torch.arange(1000, 1000 + n)
    if (n - offset) // batch_size < 2:
        with pytest.raises(DataError, match="too short"):
            lm_windows(stream, batch_size, bptt, offset)
        return
    windows = lm_windows(stream, batch_size, bptt, offset)
    per_stream = (n - offset) // batch_size
    for x, y in windows:
        assert x.shape == y.shape and x.shape[0] == batch_size and 1 <= x.shape[1] <= bptt
        assert torch.equal(x[:, 1:], y[:, :-1])  # targets are inputs shifted by one
    for (_, y), (x_next, _) in zip(windows, windows[1:]):
        assert torch.equal(y[:, -1], x_next[:, 0])  # the next window continues each stream
    inputs = torch.cat([x for x, _ in windows], dim=1)  # (B, L - 1)
    expected = stream[offset : offset + per_stream * batch_size].view(batch_size, per_stream)
    assert torch.equal(inputs, expected[:, :-1])
    assert torch.equal(torch.cat([y for _, y in windows], dim=1), expected[:, 1:])


def test_lm_windows_bad_arguments():
    with pytest.raises(ValueError, match="batch_size must be an integer ≥ 1, got 0"):
        lm_windows(torch.arange(10), 0, 2)
    with pytest.raises(ValueError, match="bptt must be an integer ≥ 1, got 0"):
        lm_windows(torch.arange(10), 2, 0)
    with pytest.raises(ValueError, match=r"offset must be an integer in 0\.\.9, got 10"):
        lm_windows(torch.arange(10), 2, 2, offset=10)
    with pytest.raises(ValueError, match=r"stream must be 1-D \(N,\), got shape \(2, 5\)"):
        lm_windows(torch.zeros(2, 5, dtype=torch.long), 2, 2)
    with pytest.raises(DataError, match="a stream of 5 tokens .* too short for batch_size=3"):
        lm_windows(torch.arange(5), 3, 2)


# ----------------------------------------------------------------------------- collate and loader


def test_collate_pairs_and_labels():
    src_tgt = collate([([4, 5, 6], [7]), ([8], [9, 10])])
    assert isinstance(src_tgt[0], Padded) and src_tgt[0].ids.tolist() == [[4, 5, 6], [8, 0, 0]]
    assert src_tgt[1].lengths.tolist() == [1, 2]
    ids, labels = collate([([4, 5], 1), ([6], 0)])
    assert ids.mask.tolist() == [[True, True], [True, False]] and labels.tolist() == [1, 0]
    assert collate([[4], [5, 6]], pad_id=9).ids.tolist() == [[4, 9], [5, 6]]
    assert example_length(([1, 2], [3, 4, 5], 1)) == 3 and example_length([1, 2]) == 2


@pytest.mark.parametrize("num_workers", [0, 1])
def test_make_loader_yields_every_example_once(num_workers):
    dataset = [(list(range(4, 4 + n % 9 + 1)), n % 2) for n in range(50)]
    loader = make_loader(dataset, batch_size=8, bucket_size=2, seed=3, num_workers=num_workers)
    assert loader.pin_memory == torch.cuda.is_available()
    loader.batch_sampler.set_epoch(2)
    seen = 0
    for ids, labels in loader:
        assert ids.ids.shape[0] == labels.shape[0] <= 8
        assert torch.equal(ids.mask.sum(1), ids.lengths)
        seen += labels.shape[0]
    assert seen == len(dataset)


def test_make_loader_bad_arguments():
    with pytest.raises(ValueError, match="got 2 lengths for 3 examples"):
        make_loader([[1], [2], [3]], batch_size=2, lengths=[1, 1])
    with pytest.raises(ValueError, match="num_workers must be an integer ≥ 0, got -1"):
        make_loader([[1]], batch_size=2, num_workers=-1)


def test_token_batch_mixin_counts_and_masks_real_positions():
    from dataclasses import dataclass

    from seqlab.data.batching import TokenBatch

    @dataclass(frozen=True)
    class Batch(TokenBatch):
        tokens: torch.Tensor
        lengths: torch.Tensor

    batch = Batch(torch.tensor([[5, 6, 0], [7, 0, 0]]), torch.tensor([2, 1]))
    assert batch.num_tokens == 3
    assert batch.mask().tolist() == [[True, True, False], [True, False, False]]
