"""Bundled Dassl: Classification evaluator output lines, macro F1, accuracy metric."""

import pytest
import torch

from dassl.config import get_cfg_default
from dassl.evaluation import build_evaluator
from dassl.evaluation.evaluator import macro_f1_score
from dassl.metrics import compute_accuracy

Y_TRUE = [0, 0, 0, 1, 1, 2, 2]
Y_PRED = [0, 0, 1, 1, 2, 2, 3]  # label 3 never occurs in y_true


def _scores(pred, n_classes=4):
    return torch.nn.functional.one_hot(torch.tensor(pred), n_classes).float()


def test_macro_f1_hand_checked():
    # F1 = 2tp / (2tp + fp + fn)
    # class 0: tp 2, fp 0, fn 1 -> 4/5; class 1: tp 1, fp 1, fn 1 -> 1/2;
    # class 2: tp 1, fp 1, fn 1 -> 1/2; label 3 is not in y_true so it is not averaged.
    assert macro_f1_score(Y_TRUE, Y_PRED) == pytest.approx((0.8 + 0.5 + 0.5) / 3)


def test_classification_output_lines(tmp_path, capsys):
    cfg = get_cfg_default()
    cfg.TEST.PER_CLASS_RESULT = True
    cfg.TEST.COMPUTE_CMAT = True
    cfg.OUTPUT_DIR = str(tmp_path)
    lab2cname = {0: "cat", 1: "dog", 2: "cow", 3: "owl"}
    evaluator = build_evaluator(cfg, lab2cname=lab2cname)
    evaluator.process(_scores(Y_PRED[:4]), torch.tensor(Y_TRUE[:4]))
    evaluator.process(_scores(Y_PRED[4:]), torch.tensor(Y_TRUE[4:]))
    results = evaluator.evaluate()
    out = capsys.readouterr().out.splitlines()
    start = out.index("=> result")
    assert out[start:start + 6] == [
        "=> result",
        "* total: 7",
        "* correct: 4",
        "* accuracy: 57.1%",
        "* error: 42.9%",
        "* macro_f1: 60.0%",
    ]
    assert list(results)[:3] == ["accuracy", "error", "macro_f1"]
    assert results["accuracy"] == pytest.approx(400 / 7)
    assert "=> per-class result" in out
    assert "* class: 0 (cat)\ttotal: 3\tcorrect: 2\tacc: 66.7%" in out
    assert "* class: 2 (cow)\ttotal: 2\tcorrect: 1\tacc: 50.0%" in out
    assert "* average: 55.6%" in out  # (66.7 + 50 + 50) / 3
    cmat = torch.load(tmp_path / "cmat.pt", weights_only=True)
    assert cmat.shape == (4, 4)
    assert cmat[0].tolist() == pytest.approx([2 / 3, 1 / 3, 0, 0])

    evaluator.reset()
    evaluator.process(_scores([1, 1]), torch.tensor([1, 1]))
    assert evaluator.evaluate()["accuracy"] == 100.0


def test_thousands_separator(capsys):
    evaluator = build_evaluator(get_cfg_default())
    evaluator.process(_scores([0] * 1234, 2), torch.zeros(1234, dtype=torch.long))
    evaluator.evaluate()
    out = capsys.readouterr().out
    assert "* total: 1,234" in out and "* correct: 1,234" in out


def test_unknown_evaluator():
    cfg = get_cfg_default()
    cfg.TEST.EVALUATOR = "Nope"
    with pytest.raises(ValueError, match="Classification"):
        build_evaluator(cfg)


def test_compute_accuracy():
    output = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.15, 0.05], [0.2, 0.3, 0.5], [0.5, 0.4, 0.1]])
    target = torch.tensor([1, 1, 2, 1])
    top1, top2 = compute_accuracy(output, target, topk=(1, 2))
    assert top1.item() == pytest.approx(50.0) and top2.item() == pytest.approx(100.0)
    assert compute_accuracy(output, target)[0].shape == (1,)
