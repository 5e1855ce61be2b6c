"""chainrule train --model gpt/rnn on the bundled names and chainrule generate: validation
loss in nats/char and perplexity, model file with its vocabulary, resume, plots, errors."""
import json

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main

TINY_GPT = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16"]


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def gpt_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpt")
    assert main(["train", "--dataset", "names", "--model", "gpt", *TINY_GPT, "--epochs", "1",
                 "--quiet", "--out", str(out)]) == 0
    return out


def test_gpt_run_reports_nats_per_char_and_perplexity(gpt_run):
    m = json.loads((gpt_run / "metrics.json").read_text())
    loss = m["val_loss_nats_per_char"]
    assert 1.0 < loss < np.log(27)            # better than uniform over 27 characters
    assert m["val_perplexity"] == pytest.approx(np.exp(loss))
    assert m["model"] == "gpt" and m["dataset"] == "names" and len(m["samples"]) == 10


def test_gpt_model_file_rebuilds_with_its_vocabulary(gpt_run):
    model = cr.load(gpt_run / "model.safetensors")
    assert type(model).__name__ == "GPT" and model.block_size == 16
    meta = cr.io.read_metadata(str(gpt_run / "model.safetensors"))
    assert meta["text"]["vocab"] == "\n" + "abcdefghijklmnopqrstuvwxyz"


def test_generate_prints_n_reproducible_lowercase_words(gpt_run, capsys):
    args = ["generate", str(gpt_run / "model.safetensors"), "--n", "20", "--temperature", "0.8",
            "--seed", "0"]
    code, out, _ = run_cli(capsys, *args)
    assert code == 0
    words = out.splitlines()
    assert len(words) == 20 and all(w == "" or w.isalpha() and w.islower() for w in words)
    assert run_cli(capsys, *args)[1] == out
    code, out, _ = run_cli(capsys, "generate", str(gpt_run / "model.safetensors"), "--n", "3",
                           "--start", "ma")
    assert code == 0 and all(w.startswith("ma") for w in out.splitlines())


def test_generate_refuses_a_classifier_and_foreign_start_characters(gpt_run, tmp_path, capsys):
    code, _, err = run_cli(capsys, "generate", str(gpt_run / "model.safetensors"), "--start", "M")
    assert code == 2 and "not in the model's vocabulary" in err
    cr.save(cr.nn.Sequential(cr.nn.Linear(2, 2)), tmp_path / "mlp.safetensors")
    code, _, err = run_cli(capsys, "generate", str(tmp_path / "mlp.safetensors"))
    assert code == 2 and "not a language model" in err and len(err.strip().splitlines()) == 1


def test_rnn_trains_resumes_and_plots(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "rnn"
    base = ["train", "--dataset", "names", "--model", "rnn", "--cell", "gru", "--hidden", "16",
            "--block-size", "8", "--schedule", "none", "--quiet", "--out", str(out)]
    assert run_cli(capsys, *base, "--epochs", "1", "--plot")[0] == 0
    assert (out / "loss.png").is_file() and (out / "checkpoint.safetensors").is_file()
    code, text, _ = run_cli(capsys, *base, "--epochs", "2", "--resume")
    assert code == 0 and "after 2 epochs" in text
    rows = (out / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 3                    # header + two epochs, the first kept from run one
    assert type(cr.load(out / "model.safetensors")).__name__ == "CharRNN"


@pytest.mark.parametrize("argv,words", [
    (["--dataset", "iris", "--model", "gpt"], "needs a text corpus"),
    (["--dataset", "names", "--model", "mlp"], "must be one of gpt, rnn"),
    (["--dataset", "names", "--model", "gpt", "--cv", "3"], "--cv does not apply"),
    (["--dataset", "names", "--model", "gpt", "--n-head", "3", "--epochs", "1"], "divisible"),
])
def test_language_model_misuse_is_one_line_error(capsys, argv, words):
    code, _, err = run_cli(capsys, "train", *argv, "--quiet")
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1


def test_evaluate_and_predict_point_a_language_model_to_generate(gpt_run, tmp_path, capsys):
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n1,2\n")
    for argv in (["evaluate", str(gpt_run / "model.safetensors")],
                 ["predict", str(gpt_run / "model.safetensors"), str(rows)]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and "chainrule generate" in err and len(err.strip().splitlines()) == 1
