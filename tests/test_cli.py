"""The chainrule command line: train/evaluate/predict end to end, resume, and one-line errors."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err, *words):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("chainrule: error: ") and "Traceback" not in err
    for w in words:
        assert w in lines[0], lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small digits model trained for 2 epochs (shared by the evaluate/predict tests)."""
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--epochs", "2", "--quiet", "--out", str(out)]) == 0
    return out


def test_train_writes_the_three_files(trained):
    for name in ("model.safetensors", "history.csv", "metrics.json", "checkpoint.safetensors"):
        assert (trained / name).is_file(), name
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["train_seconds"] >= 0 and 0 <= metrics["test_accuracy"] <= 1
    assert np.array(metrics["confusion_matrix"]).shape == (10, 10)
    rows = list(csv.DictReader(open(trained / "history.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"] and "val_accuracy" in rows[0]
    model = cr.load(str(trained / "model.safetensors"))
    assert model(np.zeros((1, 64), np.float32)).shape == (1, 10)


def test_default_train_reaches_95_percent_on_digits(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "train", "--out", str(tmp_path))
    assert code == 0
    assert "epoch 1/" in out  # progress is shown
    last = out.strip().splitlines()[-1]
    assert last.startswith("test accuracy")
    assert json.loads((tmp_path / "metrics.json").read_text())["test_accuracy"] >= 0.95


def test_iris_is_judged_by_5_fold_cross_validation_and_reaches_95_percent(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "train", "--dataset", "iris", "--quiet", "--out", str(tmp_path))
    assert code == 0
    assert out.startswith("5-fold cross-validated test accuracy ") and "/150)" in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.95
    assert np.sum(metrics["confusion_matrix"]) == 150  # every flower tested, once
    ev = metrics["evaluation"]
    assert ev["folds"] == 5 and len(ev["fold_test_accuracy"]) == 5 and ev["examples"] == 150
    assert abs(np.mean(ev["fold_test_accuracy"]) - metrics["test_accuracy"]) < 1e-9  # equal folds
    assert "all 150 examples" in metrics["final_model"]["trained_on"]
    assert cr.load(str(tmp_path / "model.safetensors")) is not None


def test_cv_0_trains_on_the_split_and_cv_k_works_for_any_data(capsys):
    code, out, _ = run_cli(capsys, "train", "--dataset", "iris", "--cv", "0", "--epochs", "5", "--quiet")
    assert code == 0 and out.startswith("test accuracy ") and "/30)" in out
    code, out, _ = run_cli(capsys, "train", "--dataset", "xor", "--cv", "3", "--epochs", "2", "--quiet")
    assert code == 0 and out.startswith("3-fold cross-validated test accuracy ")


def test_cross_validated_regression_pools_r2_over_every_row(capsys, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "lin.csv"
    x = rng.standard_normal((60, 2))
    with open(path, "w") as f:
        f.write("a,b,y\n" + "".join(f"{p},{q},{3 * p - 2 * q + 5}\n" for p, q in x))
    code, out, _ = run_cli(capsys, "train", "--csv", str(path), "--target", "y", "--cv", "4", "--epochs", "60",
                           "--quiet", "--out", str(tmp_path / "run"))
    assert code == 0 and out.startswith("4-fold cross-validated test R² ")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test_r2"] > 0.9 and len(metrics["evaluation"]["fold_test_r2"]) == 4


def test_evaluate_says_when_a_cross_validated_model_has_seen_the_test_split(capsys, tmp_path):
    assert main(["train", "--dataset", "iris", "--epochs", "5", "--quiet", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    code, out, err = run_cli(capsys, "evaluate", str(tmp_path / "model.safetensors"), "--json")
    assert code == 0 and json.loads(out)["held_out"] is False
    assert "trained on every iris example, its test split included" in err


def test_evaluate_reports_accuracy_and_confusion_matrix(capsys, trained):
    code, out, _ = run_cli(capsys, "evaluate", str(trained / "model.safetensors"), "--json")
    assert code == 0
    res = json.loads(out)
    metrics = json.loads((trained / "metrics.json").read_text())
    assert res["examples"] == 359 and res["accuracy"] == pytest.approx(metrics["test_accuracy"])
    code, out, _ = run_cli(capsys, "evaluate", str(trained / "model.safetensors"), "--dataset", "digits")
    assert code == 0 and "accuracy" in out and "confusion matrix" in out


def test_predict_digits_rows(capsys, trained, tmp_path):
    x, _ = cr.data.digits().test.arrays
    path = tmp_path / "rows.csv"
    np.savetxt(path, x[:5] * 16, delimiter=",", fmt="%g")  # raw values, no header
    code, out, _ = run_cli(capsys, "predict", str(trained / "model.safetensors"), str(path))
    assert code == 0
    rows = list(csv.reader(out.splitlines()))
    assert rows[0][:2] == ["prediction", "p_0"] and len(rows) == 6 and len(rows[1]) == 11
    probs = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)


def test_csv_regression_train_evaluate_predict(capsys, tmp_path):
    rng = np.random.default_rng(0)
    n = 300
    area = rng.uniform(30, 200, n)
    rooms = rng.integers(1, 6, n)
    city = rng.choice(["north", "south"], n)
    price = 1000 * area + 20000 * rooms + np.where(city == "north", 50000, 0) + rng.normal(0, 5000, n)
    path = tmp_path / "houses.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["area", "rooms", "city", "price"])
        w.writerows(zip(np.round(area, 1), rooms, city, np.round(price)))
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", "--csv", str(path), "--target", "price", "--epochs", "60",
                                "--quiet", "--out", str(out))
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "regression" and metrics["test_r2"] > 0.9 and "test_mae" in metrics
    code, stdout, _ = run_cli(capsys, "evaluate", str(out / "model.safetensors"), "--csv", str(path), "--json")
    assert code == 0 and json.loads(stdout)["r2"] > 0.9
    code, stdout, _ = run_cli(capsys, "predict", str(out / "model.safetensors"), str(path))
    pred = np.array([float(r[0]) for r in list(csv.reader(stdout.splitlines()))[1:]])
    assert code == 0 and pred.shape == (n,)
    assert np.corrcoef(pred, price)[0, 1] > 0.95  # in dollars, not standardised units


def test_resume_after_ctrl_c_equals_uninterrupted_run(capsys, tmp_path, monkeypatch):
    from chainrule.training import callbacks

    args = ["train", "--dataset", "iris", "--cv", "0", "--epochs", "4", "--dropout", "0.2", "--quiet"]
    assert main(args + ["--out", str(tmp_path / "full")]) == 0

    calls = {"n": 0}
    original = callbacks.CSVLogger.on_epoch_end

    def ctrl_c_in_epoch_3(self, run, epoch, logs):
        original(self, run, epoch, logs)
        calls["n"] += 1
        if calls["n"] == 3:  # after epoch 3 is logged, before its checkpoint: the file keeps epoch 2
            raise KeyboardInterrupt

    monkeypatch.setattr(callbacks.CSVLogger, "on_epoch_end", ctrl_c_in_epoch_3)
    part = str(tmp_path / "part")
    code, _, err = run_cli(capsys, *args, "--out", part)
    assert code == 130
    assert "interrupted after 2 complete epoch(s); resume with: chainrule train" in err and "--resume" in err
    monkeypatch.setattr(callbacks.CSVLogger, "on_epoch_end", original)
    assert main(args + ["--out", part, "--resume"]) == 0
    a = cr.load(str(tmp_path / "full" / "model.safetensors")).state_dict()
    b = cr.load(os.path.join(part, "model.safetensors")).state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    full = json.loads((tmp_path / "full" / "metrics.json").read_text())
    resumed = json.loads(open(os.path.join(part, "metrics.json")).read())
    assert resumed["epochs"] == 4 and resumed["test_accuracy"] == full["test_accuracy"]
    assert len(list(csv.DictReader(open(os.path.join(part, "history.csv"))))) == 4


def test_nan_loss_stops_with_one_line_and_keeps_no_bad_model(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "--optimizer", "sgd", "--lr", "1e9", "--epochs", "3", "--quiet",
                           "--out", str(tmp_path))
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and ("became NaN" in lines[0] or "became Inf" in lines[0])
    assert "learning rate 1e+09 is probably too high" in lines[0]
    assert not (tmp_path / "model.safetensors").exists()


@pytest.mark.parametrize("argv, words", [
    (["train", "--lr", "-0.1"], ["--lr", "positive"]),
    (["train", "--epochs", "0"], ["--epochs", "positive integer"]),
    (["train", "--dataset", "imagenet"], ["unknown dataset", "iris"]),
    (["train", "--hidden", "12,x"], ["--hidden"]),
    (["train", "--dropout", "1.5"], ["--dropout"]),
    (["train", "--optimizer", "lbfgs"], ["--optimizer"]),
    (["train", "--resume"], ["--resume needs --out"]),
    (["train", "--cv", "1"], ["--cv", "folds >= 2"]),
    (["train", "--dataset", "xor", "--cv", "5000"], ["--cv 5000", "at most"]),
    (["train", "--dataset", "mnist", "--data-dir", "/nonexistent/mnist"], ["/nonexistent/mnist"]),
    (["train", "--csv", "/nonexistent.csv"], ["no such file"]),
    (["train", "--target", "x"], ["--csv"]),
    (["evaluate", "/nonexistent.safetensors"], ["no such file"]),
    (["frobnicate"], ["invalid choice"]),
    ([], ["choose a command"]),
])
def test_bad_arguments_give_one_line_and_exit_2(capsys, argv, words):
    code, _, err = run_cli(capsys, *argv)
    one_line_error(code, err, *words)


def test_resume_refuses_a_different_learning_rate_instead_of_ignoring_it(capsys, tmp_path):
    args = ["train", "--dataset", "iris", "--cv", "0", "--epochs", "3", "--quiet", "--out", str(tmp_path)]
    assert main(args) == 0
    capsys.readouterr()
    code, _, err = run_cli(capsys, *args, "--resume", "--lr", "0.5")
    one_line_error(code, err, "--resume", "--lr 0.01 then, 0.5 now")
    code, _, err = run_cli(capsys, *args, "--resume", "--optimizer", "sgd")
    one_line_error(code, err, "--resume", "--optimizer adam then, sgd now")
    assert main(args + ["--resume"]) == 0  # the same arguments still resume


def test_resume_does_not_combine_with_cross_validation(capsys, tmp_path):
    assert main(["train", "--dataset", "iris", "--cv", "0", "--epochs", "1", "--quiet", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    code, _, err = run_cli(capsys, "train", "--dataset", "iris", "--out", str(tmp_path), "--resume")
    one_line_error(code, err, "--resume", "--cv 0")


def test_malformed_files_give_one_line_and_exit_2(capsys, tmp_path, trained):
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("a,b,c\n1,2\n3,4,5\n")
    code, _, err = run_cli(capsys, "train", "--csv", str(bad_csv), "--quiet")
    one_line_error(code, err, "bad.csv", "line 2")
    bad_model = tmp_path / "model.safetensors"
    bad_model.write_bytes(b"\x00\x01garbage")
    code, _, err = run_cli(capsys, "evaluate", str(bad_model))
    one_line_error(code, err, "model.safetensors")
    code, _, err = run_cli(capsys, "predict", str(trained / "model.safetensors"), str(bad_csv))
    one_line_error(code, err, "bad.csv")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)))
    code, _, err = run_cli(capsys, "train", "--csv", str(binary), "--quiet")
    one_line_error(code, err, "binary.csv")


def test_real_process_exit_status_and_help():
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    p = subprocess.run([sys.executable, "-m", "chainrule", "train", "--lr", "0"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr
    p = subprocess.run([sys.executable, "-m", "chainrule", "-h"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert p.returncode == 0
    for name in ("train", "evaluate", "predict"):
        assert name in p.stdout


def test_toy_dataset_with_early_stopping_and_stop_at(capsys, tmp_path):
    code, out, err = run_cli(capsys, "train", "--dataset", "gauss", "--stop-at", "0.9", "--early-stopping", "5",
                             "--quiet", "--out", str(tmp_path))
    assert code == 0, err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["stop_reason"] in ("target reached", "early stopping") and metrics["epochs"] < 100
    assert metrics["test_accuracy"] > 0.8


@pytest.mark.parametrize("prep", [
    {"num_features": "64"},
    {"num_features": 64, "task": "classification", "mean": [0.0] * 3, "std": [1.0] * 64},
    {"num_features": 2, "task": "classification", "mean": [0, 0], "std": [1, 0]},
    {"num_features": 2, "task": "classification", "mean": [0, 0], "std": [1, 1], "feature_names": [1, 2]},
    {"num_features": 2, "task": "regression", "mean": [0, 0], "std": [1, 1], "columns": [{"name": "a"}]},
])
def test_malformed_model_metadata_is_a_file_error(capsys, tmp_path, prep):
    model = cr.nn.Sequential(cr.nn.Linear(2, 2))
    path = tmp_path / "m.safetensors"
    cr.save(model, str(path), metadata={"preprocessing": prep})
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n1,2\n")
    code, _, err = run_cli(capsys, "predict", str(path), str(rows))
    one_line_error(code, err, "m.safetensors")


def _linear_table(path, n=80, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    with open(path, "w") as f:
        f.write("a,b,y\n" + "".join(f"{p},{q},{3 * p - 2 * q + 5 + 0.1 * r}\n"
                                    for (p, q), r in zip(x, rng.standard_normal(n))))
    return path


def test_csv_regression_saves_the_average_of_ten_networks_as_one_network(capsys, tmp_path):
    path = _linear_table(tmp_path / "lin.csv")
    code, out, err = run_cli(capsys, "train", "--csv", str(path), "--target", "y", "--epochs", "30", "--quiet",
                             "--out", str(tmp_path / "run"))
    assert code == 0, err
    assert "10 networks averaged" in out
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["networks"] == 10 and len(metrics["network_epochs"]) == 10
    model = cr.load(str(tmp_path / "run" / "model.safetensors"))
    assert [m.out_features for m in model if isinstance(m, cr.nn.Linear)] == [1000, 1]
    code, out, _ = run_cli(capsys, "evaluate", str(tmp_path / "run" / "model.safetensors"), "--csv", str(path),
                           "--json")
    assert code == 0 and json.loads(out)["r2"] == pytest.approx(metrics["test_r2"], abs=1e-4)


def test_csv_regression_fixed_length_networks_train_every_epoch_up_to_the_epochs_flag(capsys, tmp_path):
    path = _linear_table(tmp_path / "lin.csv")
    code, _, err = run_cli(capsys, "train", "--csv", str(path), "--target", "y", "--epochs", "12", "--quiet",
                           "--out", str(tmp_path / "run"))
    assert code == 0, err
    epochs = json.loads((tmp_path / "run" / "metrics.json").read_text())["network_epochs"]
    assert epochs[5:] == [12] * 5  # the early-stopped five come first


def test_ensemble_one_trains_a_single_network(capsys, tmp_path):
    path = _linear_table(tmp_path / "lin.csv")
    code, out, _ = run_cli(capsys, "train", "--csv", str(path), "--target", "y", "--epochs", "5", "--ensemble", "1",
                           "--quiet", "--out", str(tmp_path / "run"))
    assert code == 0 and "averaged" not in out
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["networks"] == 1


def test_resume_refuses_an_averaged_ensemble(capsys, tmp_path):
    path = _linear_table(tmp_path / "lin.csv")
    assert main(["train", "--csv", str(path), "--target", "y", "--epochs", "3", "--ensemble", "1", "--quiet",
                 "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    code, _, err = run_cli(capsys, "train", "--csv", str(path), "--target", "y", "--epochs", "3", "--out",
                           str(tmp_path / "run"), "--resume")
    one_line_error(code, err, "--resume", "--ensemble 1")


def test_cv_seed_draws_another_assignment_of_rows_to_folds(capsys, tmp_path):
    path = _linear_table(tmp_path / "lin.csv", n=40)

    def fold_scores(*extra):
        out = tmp_path / f"run{len(extra)}{'-'.join(extra)}"
        assert main(["train", "--csv", str(path), "--target", "y", "--cv", "4", "--epochs", "3", "--ensemble", "1",
                     "--quiet", "--overwrite", "--out", str(out), *extra]) == 0
        return json.loads((out / "metrics.json").read_text())["evaluation"]["fold_test_r2"]

    assert fold_scores() == fold_scores("--cv-seed", "0")
    assert fold_scores() != fold_scores("--cv-seed", "1")
