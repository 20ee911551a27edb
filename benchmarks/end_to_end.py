"""A recipe trained by seqlab beside the same model written plainly in PyTorch.

    SEQLAB_DATA_DIR=../shared/datasets python benchmarks/end_to_end.py imdb-bilstm
    SEQLAB_DATA_DIR=../shared/datasets python benchmarks/end_to_end.py multi30k-lstm --epochs 3
    python benchmarks/end_to_end.py imdb-bilstm --limit-train 2000 --epochs 1   # a quick look

Both sides read the same encoded splits (seqlab's tokenizer and vocabulary for the
recipe), start from the same seed and train the recipe's model with its optimizer
settings (AdamW, lr, weight decay, clipping, schedule, epochs, batch size, dropout,
label smoothing), keep the epoch with the best validation score and score the test split
with it. What differs is the machinery:

- seqlab: ``seqlab.train(recipe)`` as a user runs it (its layers and backend choice,
  ``train.bucket`` batches of similar lengths, bf16 autocast on a GPU, evaluation of
  the recipe: beam search for seq2seq if the recipe asks for it);
- plain: ``torch.nn.Embedding`` / ``torch.nn.LSTM`` (packed sequences, cuDNN on a GPU),
  a ``torch.utils.data.DataLoader`` over shuffled examples padded to the longest in each
  batch (no bucketing), the same autocast, and for seq2seq a Python loop over decoder
  steps (Luong attention with input feeding, as the recipes) and greedy decoding.

Prints, per side: training seconds per epoch (the batches only, validation excluded),
training tokens/s (real tokens: classify the text's, seq2seq the target's with eos), the
whole wall time, and the test score (accuracy; BLEU on detokenized text), then the ratio.
Supported: classify recipes with a recurrent encoder (lstm/gru, pooling last, mean, max,
max+mean) and seq2seq recipes with the RNN encoder-decoder and dot attention.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence
from torch.utils.data import DataLoader

import seqlab
from seqlab import config
from seqlab.data.vocab import EOS_ID, SOS_ID
from seqlab.tasks import get_task
from seqlab.training.passes import autocast, autocast_dtype, resolve_device
from seqlab.training.schedule import build_scheduler

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


# -- the plain models --------------------------------------------------------------------


class PlainClassifier(nn.Module):
    """Embedding -> torch.nn.LSTM/GRU over packed sequences -> pooling -> dropout -> linear."""

    def __init__(self, m: config.ModelConfig, vocab: int, classes: int) -> None:
        super().__init__()
        self.pooling, self.directions = m.pooling, 2 if m.bidirectional else 1
        self.embedding = nn.Embedding(vocab, m.embedding_dim, padding_idx=0)
        self.embedding_dropout = nn.Dropout(m.embedding_dropout)
        self.rnn = CELLS[m.encoder](m.embedding_dim, m.hidden_size, m.num_layers, batch_first=True,
                                    bidirectional=m.bidirectional, dropout=m.dropout if m.num_layers > 1 else 0.0)
        width = m.hidden_size * self.directions
        self.dropout = nn.Dropout(m.dropout)
        self.head = nn.Linear(2 * width if m.pooling == "max+mean" else width, classes)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = self.embedding_dropout(self.embedding(tokens))
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, state = self.rnn(packed)
        h, _ = pad_packed_sequence(out, batch_first=True, total_length=tokens.shape[1])  # (B, T, D*H)
        real = (torch.arange(tokens.shape[1], device=tokens.device) < lengths.to(tokens.device)[:, None])[..., None]
        if self.pooling == "last":
            h_n = state[0] if isinstance(state, tuple) else state
            pooled = h_n[-self.directions:].transpose(0, 1).reshape(len(tokens), -1)
        else:
            mean = (h * real).sum(1) / real.sum(1)
            peak = h.masked_fill(~real, float("-inf")).amax(1)
            pooled = {"mean": mean, "max": peak, "max+mean": torch.cat([peak, mean], -1)}[self.pooling]
        return self.head(self.dropout(pooled))


class PlainSeq2Seq(nn.Module):
    """Bidirectional encoder, bridged to an LSTM/GRU decoder; Luong dot attention, tanh(W_c [a; s]),
    input feeding; the decoder steps in a Python loop."""

    def __init__(self, m: config.ModelConfig, src_vocab: int, tgt_vocab: int) -> None:
        super().__init__()
        self.cell, self.layers, self.feeding = m.encoder, m.num_layers, m.input_feeding
        enc = m.hidden_size // 2 if m.bidirectional else m.hidden_size
        between = m.dropout if m.num_layers > 1 else 0.0
        self.src_embedding = nn.Embedding(src_vocab, m.embedding_dim, padding_idx=0)
        self.tgt_embedding = nn.Embedding(tgt_vocab, m.embedding_dim, padding_idx=0)
        self.encoder = CELLS[m.encoder](m.embedding_dim, enc, m.num_layers, batch_first=True,
                                        bidirectional=m.bidirectional, dropout=between)
        self.decoder = CELLS[m.encoder](m.embedding_dim + (m.hidden_size if m.input_feeding else 0), m.hidden_size,
                                        m.num_layers, batch_first=True, dropout=between)
        states = 2 if m.encoder == "lstm" else 1  # (h, c) or h
        self.bridge = (nn.ModuleList([nn.Linear(2 * enc, m.hidden_size) for _ in range(states)])
                       if m.bidirectional else None)
        self.combine = nn.Linear(2 * m.hidden_size, m.hidden_size, bias=False)
        self.dropout = nn.Dropout(m.dropout)
        self.out = nn.Linear(m.hidden_size, tgt_vocab)

    def encode(self, src: torch.Tensor, lengths: torch.Tensor):
        x = self.dropout(self.src_embedding(src))
        out, state = self.encoder(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])  # (B, S, H)
        states = state if isinstance(state, tuple) else (state,)
        if self.bridge is not None:  # (L*2, B, H/2) -> (L, B, H)
            states = tuple(torch.tanh(bridge(s.view(self.layers, 2, s.shape[1], -1).permute(0, 2, 1, 3)
                                             .reshape(self.layers, s.shape[1], -1)))
                           for s, bridge in zip(states, self.bridge))
        mask = torch.arange(src.shape[1], device=src.device) < lengths.to(src.device)[:, None]
        hidden = states if self.cell == "lstm" else states[0]
        return memory, mask, hidden, memory.new_zeros(len(src), memory.shape[-1])

    def step(self, tokens, memory, mask, hidden, feed):
        """One decoder step: tokens (B,) -> logits (B, V) and the new (hidden, feed)."""
        y = self.dropout(self.tgt_embedding(tokens))[:, None]  # (B, 1, E)
        if self.feeding:
            y = torch.cat([y, feed[:, None]], -1)
        s, hidden = self.decoder(y, hidden)  # (B, 1, H)
        scores = (s @ memory.transpose(1, 2)).masked_fill(~mask[:, None], float("-inf"))  # (B, 1, S)
        context = scores.softmax(-1) @ memory  # (B, 1, H)
        attentional = torch.tanh(self.combine(torch.cat([context, s], -1)))[:, 0]  # (B, H)
        return self.out(self.dropout(attentional)), hidden, attentional

    def forward(self, src, lengths, tgt_in):
        memory, mask, hidden, feed = self.encode(src, lengths)
        logits = []
        for t in range(tgt_in.shape[1]):
            step_logits, hidden, feed = self.step(tgt_in[:, t], memory, mask, hidden, feed)
            logits.append(step_logits)
        return torch.stack(logits, 1)  # (B, T, V)

    @torch.no_grad()
    def greedy(self, src, lengths, max_len: int, sos: int, eos: int) -> list[list[int]]:
        memory, mask, hidden, feed = self.encode(src, lengths)
        tokens, done, out = torch.full((len(src),), sos, device=src.device), None, []
        for _ in range(max_len):
            logits, hidden, feed = self.step(tokens, memory, mask, hidden, feed)
            tokens = logits.argmax(-1)
            out.append(tokens)
            done = tokens == eos if done is None else done | (tokens == eos)
            if bool(done.all()):
                break
        rows = torch.stack(out, 1).tolist()
        return [row[:row.index(eos)] if eos in row else row for row in rows]


# -- batches, training and scoring -----------------------------------------------------------


def pad(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, longest) ids padded with 0, and the lengths, as a plain PyTorch collate does."""
    return pad_sequence([torch.tensor(r) for r in rows], batch_first=True), torch.tensor([len(r) for r in rows])


def classify_batch(examples):
    tokens, lengths = pad([e.tokens for e in examples])
    return tokens, lengths, torch.tensor([e.label for e in examples])


def seq2seq_batch(examples, sos: int, eos: int):
    src, lengths = pad([e.src for e in examples])
    tgt_in, _ = pad([[sos, *e.tgt] for e in examples])
    tgt_out, _ = pad([[*e.tgt, eos] for e in examples])
    return src, lengths, tgt_in, tgt_out, [e.ref for e in examples]


def run_plain(cfg: config.Config, data, device: torch.device) -> dict:
    """Train and score the plain model; returns its timings and scores."""
    t, start = cfg.train, time.perf_counter()
    torch.manual_seed(cfg.seed)
    dtype = autocast_dtype(t.precision, device)
    seq2seq = cfg.task == "seq2seq"
    if seq2seq:
        model = PlainSeq2Seq(cfg.model, len(data.src_vocab), len(data.tgt_vocab)).to(device)
        collate = lambda examples: seq2seq_batch(examples, SOS_ID, EOS_ID)
        text = data.target_text()
    else:
        model = PlainClassifier(cfg.model, data.vocab_size, len(data.labels)).to(device)
        collate = classify_batch
    loader = DataLoader(data.train, batch_size=t.batch_size, shuffle=True, collate_fn=collate,
                        generator=torch.Generator().manual_seed(cfg.seed))
    optimizer = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=t.weight_decay)
    scheduler = build_scheduler(optimizer, t, t.epochs * len(loader), "max")

    def score(examples) -> float:
        model.eval()
        right, hyps, refs = 0, [], []
        with torch.no_grad(), autocast(device.type, dtype):
            for first in range(0, len(examples), cfg.eval.batch_size):
                batch = collate(examples[first:first + cfg.eval.batch_size])
                if seq2seq:
                    src, lengths = batch[0].to(device), batch[1]
                    longest = int(cfg.eval.max_len_a * int(lengths.max()) + cfg.eval.max_len_b)
                    hyps += [text(ids) for ids in model.greedy(src, lengths, longest, SOS_ID, EOS_ID)]
                    refs += batch[4]
                else:
                    right += int((model(batch[0].to(device), batch[1]).argmax(-1).cpu() == batch[2]).sum())
        model.train()
        if not seq2seq:
            return right / len(examples)
        import sacrebleu

        return sacrebleu.corpus_bleu(hyps, [refs]).score

    epochs, best, best_state = [], -math.inf, None
    for epoch in range(1, t.epochs + 1):
        model.train()
        seconds, tokens = 0.0, 0
        began = time.perf_counter()
        for batch in loader:
            # lengths (item 1) stay on the CPU, where pack_padded_sequence wants them
            batch = [b.to(device) if torch.is_tensor(b) and i != 1 else b for i, b in enumerate(batch)]
            optimizer.zero_grad(set_to_none=True)
            with autocast(device.type, dtype):
                if seq2seq:
                    logits = model(batch[0], batch[1], batch[2])
                    loss = F.cross_entropy(logits.flatten(0, 1).float(), batch[3].flatten(), ignore_index=0,
                                           label_smoothing=t.label_smoothing)
                    tokens += int((batch[3] != 0).sum())
                else:
                    loss = F.cross_entropy(model(batch[0], batch[1]).float(), batch[2])
                    tokens += int(batch[1].sum())
            loss.backward()
            if t.clip_norm is not None:
                nn.utils.clip_grad_norm_(model.parameters(), t.clip_norm)
            optimizer.step()
            scheduler.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - began
        valid = score(data.valid)
        epochs.append({"epoch": epoch, "train_s": round(seconds, 2), "train_tokens_per_s": round(tokens / seconds),
                       "valid": round(valid, 4)})
        print(f"  plain epoch {epoch}: {seconds:.1f} s, {tokens / seconds:,.0f} tokens/s, valid {valid:.4f}")
        if valid > best:
            best, best_state = valid, {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return {"epochs": epochs, "test": score(data.test), "wall_s": round(time.perf_counter() - start, 1),
            "parameters": sum(p.numel() for p in model.parameters())}


def run_seqlab(recipe: str, overrides: dict, out: Path) -> dict:
    start = time.perf_counter()
    run = seqlab.train(recipe, overrides, out=out)
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    summary = json.loads((run / "summary.json").read_text())
    epochs = [{"epoch": r["epoch"], "train_s": r["train_s"], "train_tokens_per_s": round(r["train_tokens_per_s"])}
              for r in records if r["kind"] == "epoch"]
    return {"epochs": epochs, "test": summary["headline"]["value"], "metric": summary["headline"]["metric"],
            "wall_s": round(time.perf_counter() - start, 1), "parameters": summary["num_parameters"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    parser.add_argument("--epochs", type=int, help="instead of the recipe's")
    parser.add_argument("--limit-train", type=int, help="train on the first N training examples only")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="recipe overrides")
    parser.add_argument("--only", choices=["seqlab", "plain"], help="run one side")
    parser.add_argument("--out", type=Path, help="keep seqlab's run here (a new folder)")
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    if args.epochs:
        overrides["train.epochs"] = str(args.epochs)
    if args.limit_train:
        overrides["data.limit_train"] = str(args.limit_train)
    cfg = config.resolve(args.recipe, overrides)
    if cfg.task not in ("classify", "seq2seq") or cfg.model.encoder not in CELLS or cfg.model.arch != "rnn":
        raise SystemExit(f"{args.recipe}: this benchmark has plain versions of recurrent classify and seq2seq only")
    if cfg.task == "seq2seq" and cfg.model.attention != "dot":
        raise SystemExit(f"{args.recipe}: the plain seq2seq model has dot attention only")
    device = resolve_device(cfg.train.device)
    print(f"{args.recipe} on {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}), "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; epochs {cfg.train.epochs}")
    results = {}
    if args.only != "plain":
        with tempfile.TemporaryDirectory() as tmp:
            results["seqlab"] = run_seqlab(args.recipe, overrides, args.out or Path(tmp) / "run")
    if args.only != "seqlab":
        data = get_task(cfg.task).load_data(cfg)
        results["plain"] = run_plain(cfg, data, device)
    print("\n| side | params | train s / epoch (median) | train tokens/s (median) | wall s | test |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for side, r in results.items():
        seconds = sorted(e["train_s"] for e in r["epochs"])[len(r["epochs"]) // 2]
        speed = sorted(e["train_tokens_per_s"] for e in r["epochs"])[len(r["epochs"]) // 2]
        r.update(median_train_s=seconds, median_tokens_per_s=speed)
        print(f"| {side} | {r['parameters']:,} | {seconds:.1f} | {speed:,} | {r['wall_s']:.0f} | {r['test']:.4f} |")
    if len(results) == 2:
        ratio = results["seqlab"]["median_tokens_per_s"] / results["plain"]["median_tokens_per_s"]
        print(f"\nseqlab / plain training throughput: {ratio:.2f}x "
              f"(test: {results['seqlab']['test']:.4f} against {results['plain']['test']:.4f})")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
