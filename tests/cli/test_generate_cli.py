"""seqlab generate and the lm bundle: text continues a prompt, seeded samples repeat,
and what the model does is what the command prints."""

import pytest
import torch

import seqlab
from seqlab import bundle
from seqlab.cli.main import main
from seqlab.data.vocab import UnknownTokenWarning


def test_greedy_generation_is_the_models_own_argmax_continuation(shakespeare_run):
    gen = seqlab.load(shakespeare_run)
    assert isinstance(gen, bundle.Generator) and gen.conditions == ()
    ids = gen.prompt_ids("ROMEO:")
    expected = list(gen.model.generate(ids, 40, temperature=0))
    text = gen.generate("ROMEO:", 40, temperature=0)
    assert text == gen.saved.tokenizer.detokenize(gen.saved.vocab.decode(expected))
    # and by hand: the argmax of a full forward over the growing sequence, step by step
    seq = list(ids)
    with torch.no_grad():
        for _ in range(5):
            logits, _ = gen.model(torch.tensor([seq]))
            logits = logits[0, -1].clone()
            logits[[0, 2]] = float("-inf")  # <pad>, <sos>: never generated
            seq.append(int(logits.argmax()))
    assert seq[len(ids):] == expected[:5]


def test_the_command_streams_the_prompt_and_its_seeded_sample(shakespeare_run, capsys):
    argv = ["generate", str(shakespeare_run), "--prompt", "KING:", "--length", "30", "--temperature", "0.8",
            "--top-k", "10", "--seed", "3"]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert main(argv) == 0
    assert capsys.readouterr().out == first  # the same seed, the same text
    expected = seqlab.load(shakespeare_run).generate("KING:", 30, temperature=0.8, top_k=10, seed=3)
    assert first == "KING:" + expected + "\n"


def test_names_are_written_for_the_asked_condition(names_lm_run, capsys):
    gen = seqlab.load(names_lm_run)
    assert "Russian" in gen.conditions
    assert main(["generate", str(names_lm_run), "--condition", "Russian", "-n", "4", "--seed", "0",
                 "--length", "20"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(0 < len(line) <= 20 and "\n" not in line for line in lines)


@pytest.mark.parametrize("extra, message", [
    (["--condition", "Klingon"], "Klingon"),
    ([], "--condition: this model writes for a class; expected one of:"),
    (["--condition", "Russian", "--temperature", "-1"], "temperature must be a number >= 0"),
    (["--condition", "Russian", "--top-p", "1.5"], "top_p must be a number in (0, 1]"),
    (["--condition", "Russian", "--length", "0"], "--length: expected an integer >= 1"),
])
def test_bad_generate_arguments_are_one_line_errors(names_lm_run, capsys, extra, message):
    assert main(["generate", str(names_lm_run), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_bundle_of_another_task_names_its_command(tag_run, capsys):
    assert main(["generate", str(tag_run)]) == 2
    assert "is a tag run, not lm; use seqlab predict" in capsys.readouterr().err


def test_a_prompt_with_unknown_characters_is_read_as_unk_or_refused(names_lm_run, capsys):
    argv = ["generate", str(names_lm_run), "--condition", "Russian", "--prompt", "Ro\u263a", "--length", "5"]
    with pytest.warns(UnknownTokenWarning, match="never saw, read as <unk>: \\['\u263a'\\]"):
        assert main(argv) == 0  # the default: <unk>, with a warning naming the character
    assert capsys.readouterr().out.startswith("Ro\u263a")
    assert main([*argv, "--on-unknown", "refuse"]) == 2
    err = capsys.readouterr().err
    assert "the prompt has tokens this model never saw: ['\u263a']" in err and len(err.splitlines()) == 1


def test_on_unknown_takes_unk_or_refuse(names_lm_run):
    with pytest.raises(ValueError, match="on_unknown must be one of unk, refuse, got 'drop'"):
        seqlab.load(names_lm_run).prompt_ids("Ro", "drop")
