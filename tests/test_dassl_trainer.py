"""Bundled Dassl: TrainerX end to end on a tiny generated image dataset (train, log, resume)."""

import glob
import os

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from dassl.config import get_cfg_default
from dassl.data.datasets import DATASET_REGISTRY, DatasetBase, Datum
from dassl.engine import TRAINER_REGISTRY, TrainerBase, TrainerX, build_trainer
from dassl.metrics import compute_accuracy
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.utils import setup_logger

CLASSNAMES = ["red", "blue"]


def _write_images(root):
    """Four tiny PNGs per class and split; colour decides the class."""
    items = {"train": [], "val": [], "test": []}
    for split, n in (("train", 4), ("val", 2), ("test", 2)):
        for label, name in enumerate(CLASSNAMES):
            for i in range(n):
                colour = (200 + i, 20, 30) if label == 0 else (20, 30, 200 + i)
                path = os.path.join(root, f"{split}_{name}_{i}.png")
                Image.new("RGB", (10, 12), colour).save(path)
                items[split].append(Datum(impath=path, label=label, classname=name))
    return items


@DATASET_REGISTRY.register(force=True)
class ToyDasslColours(DatasetBase):
    def __init__(self, cfg):
        items = _write_images(cfg.DATASET.ROOT)
        super().__init__(train_x=items["train"], val=items["val"], test=items["test"])


@TRAINER_REGISTRY.register(force=True)
class ToyDasslTrainer(TrainerX):
    def build_model(self):
        self.model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
        self.model.to(self.device)
        self.optim = build_optimizer(self.model, self.cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, self.cfg.OPTIM)
        self.register_model("model", self.model, self.optim, self.sched)

    def forward_backward(self, batch):
        image, label = self.parse_batch_train(batch)
        output = self.model(image)
        loss = F.cross_entropy(output, label)
        self.model_backward_and_update(loss)
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return {"loss": loss.item(), "acc": compute_accuracy(output, label)[0].item()}


def _cfg(tmp_path):
    cfg = get_cfg_default()
    cfg.TRAINER.NAME = "ToyDasslTrainer"
    cfg.DATASET.NAME = "ToyDasslColours"
    cfg.DATASET.ROOT = str(tmp_path / "data")
    os.makedirs(cfg.DATASET.ROOT, exist_ok=True)
    cfg.OUTPUT_DIR = str(tmp_path / "out")
    cfg.USE_CUDA = False
    cfg.INPUT.SIZE = (8, 8)
    cfg.INPUT.TRANSFORMS = ("random_resized_crop", "random_flip", "normalize")
    cfg.INPUT.RRCROP_SCALE = (0.5, 1.0)
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.DATALOADER.TRAIN_X.BATCH_SIZE = 4
    cfg.DATALOADER.TEST.BATCH_SIZE = 4
    cfg.OPTIM.NAME = "sgd"
    cfg.OPTIM.LR = 0.1
    cfg.OPTIM.MAX_EPOCH = 2
    cfg.OPTIM.LR_SCHEDULER = "cosine"
    cfg.OPTIM.WARMUP_EPOCH = 1
    cfg.OPTIM.WARMUP_TYPE = "constant"
    cfg.TEST.FINAL_MODEL = "best_val"
    cfg.freeze()
    return cfg


def _train(cfg):
    log = setup_logger(cfg.OUTPUT_DIR)
    try:
        trainer = build_trainer(cfg)
        trainer.train()
    finally:
        log.close()
    with open(log.path) as f:
        return trainer, f.read()


def test_train_log_checkpoint_and_resume(tmp_path):
    cfg = _cfg(tmp_path)
    trainer, log = _train(cfg)
    assert os.path.isfile(os.path.join(cfg.OUTPUT_DIR, "log.txt"))
    assert "Finish training" in log and "* accuracy:" in log
    assert "Deploy the model with the best val performance" in log
    assert 'Loading weights to model from "' in log
    assert "Elapsed: 0:00:" in log
    # 2 batches < PRINT_FREQ: one log line per epoch, at its last batch
    epoch_lines = [line for line in log.splitlines() if line.startswith("epoch [")]
    assert [line.split(" time ")[0] for line in epoch_lines] == [
        "epoch [1/2] batch [2/2]",
        "epoch [2/2] batch [2/2]",
    ]
    # as upstream, the lr is read after forward_backward() stepped the scheduler on the last batch
    assert " loss " in epoch_lines[0] and " lr 1.0000e-01 eta " in epoch_lines[0]
    assert " lr 5.0000e-02 eta " in epoch_lines[1]

    ckpt_path = os.path.join(cfg.OUTPUT_DIR, "model", "model.pth.tar-2")
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    assert ckpt["epoch"] == 2 and set(ckpt["state_dict"]) == {"1.weight", "1.bias"}
    assert os.path.isfile(os.path.join(cfg.OUTPUT_DIR, "model", "model-best.pth.tar"))
    assert not glob.glob(os.path.join(cfg.OUTPUT_DIR, "model", "*.tmp"))

    trainer2, log2 = _train(cfg)
    assert len(glob.glob(os.path.join(cfg.OUTPUT_DIR, "log.txt-*"))) == 1
    assert "Found checkpoint at" in log2 and "Previous epoch: 2" in log2
    assert trainer2.start_epoch == 2
    assert not [line for line in log2.splitlines() if line.startswith("epoch [")]
    assert "Finish training" in log2 and "* accuracy:" in log2
    assert torch.equal(trainer2.model[1].weight, trainer.model[1].weight)


def test_nan_loss_is_caught():
    base = TrainerBase()
    model = torch.nn.Linear(2, 1)
    base.register_model("m", model, torch.optim.SGD(model.parameters(), lr=0.1))
    loss = model(torch.tensor([[float("nan"), 1.0]])).sum()
    before = model.weight.detach().clone()
    with pytest.raises(FloatingPointError, match="Loss is infinite or NaN!"):
        base.model_backward_and_update(loss)
    assert torch.equal(model.weight, before)
    with pytest.raises(KeyError):
        base.register_model("m", model)


def test_unknown_trainer_lists_registered(tmp_path):
    cfg = get_cfg_default()
    cfg.TRAINER.NAME = "NoSuchTrainer"
    with pytest.raises(ValueError, match="ToyDasslTrainer"):
        build_trainer(cfg)
