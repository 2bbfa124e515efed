"""Classification evaluator; its printed lines are what parse_test_res.py reads."""

import os.path as osp
from collections import OrderedDict, defaultdict

import torch

from dassl.evaluation.build import EVALUATOR_REGISTRY
from dassl.utils.tools import mkdir_if_missing


class EvaluatorBase:
    def __init__(self, cfg):
        self.cfg = cfg

    def reset(self):
        raise NotImplementedError

    def process(self, mo, gt):
        raise NotImplementedError

    def evaluate(self):
        raise NotImplementedError


def macro_f1_score(y_true, y_pred):
    """Mean F1 over the labels present in ``y_true`` (sklearn's macro F1 with those labels).

    Predictions of labels absent from ``y_true`` only count as misses of the true label.
    """
    labels = sorted(set(y_true))
    if not labels:
        return 0.0
    tp = defaultdict(int)
    n_true = defaultdict(int)
    n_pred = defaultdict(int)
    for t, p in zip(y_true, y_pred):
        n_true[t] += 1
        n_pred[p] += 1
        if t == p:
            tp[t] += 1
    f1s = []
    for label in labels:
        denom = n_true[label] + n_pred[label]  # = 2TP + FP + FN
        f1s.append(2.0 * tp[label] / denom if denom > 0 else 0.0)
    return sum(f1s) / len(f1s)


def confusion_matrix(y_true, y_pred, normalize=True):
    """Rows: true label, columns: predicted label, over the sorted union of labels."""
    labels = sorted(set(y_true) | set(y_pred))
    index = {label: i for i, label in enumerate(labels)}
    cmat = torch.zeros(len(labels), len(labels), dtype=torch.float64)
    for t, p in zip(y_true, y_pred):
        cmat[index[t], index[p]] += 1
    if normalize:
        row_sum = cmat.sum(dim=1, keepdim=True)
        cmat = torch.where(row_sum > 0, cmat / row_sum.clamp(min=1), torch.zeros_like(cmat))
    return cmat


@EVALUATOR_REGISTRY.register()
class Classification(EvaluatorBase):
    """Accuracy, error and macro F1 over all processed batches."""

    def __init__(self, cfg, lab2cname=None, **kwargs):
        super().__init__(cfg)
        self._lab2cname = lab2cname
        if cfg.TEST.PER_CLASS_RESULT and lab2cname is None:
            raise ValueError("TEST.PER_CLASS_RESULT needs lab2cname")
        self.reset()

    def reset(self):
        self._correct = 0
        self._total = 0
        self._y_true = []
        self._y_pred = []
        self._per_class_res = defaultdict(list) if self.cfg.TEST.PER_CLASS_RESULT else None

    def process(self, mo, gt):
        # mo: (batch, num_classes) scores; gt: (batch,) labels
        pred = mo.max(1)[1]
        matches = pred.eq(gt).float()
        self._correct += int(matches.sum().item())
        self._total += gt.shape[0]
        self._y_true.extend(gt.detach().cpu().tolist())
        self._y_pred.extend(pred.detach().cpu().tolist())
        if self._per_class_res is not None:
            for label, match in zip(gt.detach().cpu().tolist(), matches.cpu().tolist()):
                self._per_class_res[label].append(int(match))

    def evaluate(self):
        if self._total == 0:
            raise RuntimeError("Classification.evaluate() called before any sample was processed")
        results = OrderedDict()
        acc = 100.0 * self._correct / self._total
        err = 100.0 - acc
        macro_f1 = 100.0 * macro_f1_score(self._y_true, self._y_pred)
        results["accuracy"] = acc
        results["error"] = err
        results["macro_f1"] = macro_f1
        print(
            "=> result\n"
            f"* total: {self._total:,}\n"
            f"* correct: {self._correct:,}\n"
            f"* accuracy: {acc:.1f}%\n"
            f"* error: {err:.1f}%\n"
            f"* macro_f1: {macro_f1:.1f}%"
        )

        if self._per_class_res is not None:
            print("=> per-class result")
            accs = []
            for label in sorted(self._per_class_res.keys()):
                res = self._per_class_res[label]
                correct, total = sum(res), len(res)
                class_acc = 100.0 * correct / total
                accs.append(class_acc)
                print(
                    f"* class: {label} ({self._lab2cname[label]})\t"
                    f"total: {total:,}\t"
                    f"correct: {correct:,}\t"
                    f"acc: {class_acc:.1f}%"
                )
            mean_acc = sum(accs) / len(accs)
            print(f"* average: {mean_acc:.1f}%")
            results["perclass_accuracy"] = mean_acc

        if self.cfg.TEST.COMPUTE_CMAT:
            cmat = confusion_matrix(self._y_true, self._y_pred, normalize=True)
            mkdir_if_missing(self.cfg.OUTPUT_DIR)
            save_path = osp.join(self.cfg.OUTPUT_DIR, "cmat.pt")
            torch.save(cmat, save_path)
            print(f"Confusion matrix is saved to {save_path}")

        return results
