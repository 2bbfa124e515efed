"""Trainer base classes with Dassl's loop, hooks, checkpoint layout and log lines."""

import datetime
import os.path as osp
import time
from collections import OrderedDict

import numpy as np
import torch

from dassl.data import DataManager
from dassl.evaluation import build_evaluator
from dassl.utils import (
    AverageMeter,
    MetricMeter,
    load_checkpoint,
    mkdir_if_missing,
    resume_from_checkpoint,
    save_checkpoint,
    tolist_if_not,
)
from dassl.utils.tools import remove_stale_temp_files
from dassl.utils.torchtools import has_checkpoint


class TrainerBase:
    """Holds named models with their optimizers/schedulers and runs the epoch loop."""

    def __init__(self):
        self._models = OrderedDict()
        self._optims = OrderedDict()
        self._scheds = OrderedDict()
        self._writer = None

    def register_model(self, name="model", model=None, optim=None, sched=None):
        if self.__dict__.get("_models") is None:
            raise AttributeError("Cannot assign model before super().__init__() call")
        if self.__dict__.get("_optims") is None:
            raise AttributeError("Cannot assign optim before super().__init__() call")
        if self.__dict__.get("_scheds") is None:
            raise AttributeError("Cannot assign sched before super().__init__() call")
        if name in self._models:
            raise KeyError(f'Found duplicate model name "{name}"')
        self._models[name] = model
        self._optims[name] = optim
        self._scheds[name] = sched

    def get_model_names(self, names=None):
        names_real = list(self._models.keys())
        if names is None:
            return names_real
        names = tolist_if_not(names)
        for name in names:
            if name not in names_real:
                raise KeyError(f'Model "{name}" is not registered; registered: {names_real}')
        return names

    def save_model(self, epoch, directory, is_best=False, val_result=None, model_name=""):
        if val_result is not None:
            val_result = float(val_result)  # numpy/tensor scalars would break weights_only loads
        for name in self.get_model_names():
            optim = self._optims[name]
            sched = self._scheds[name]
            save_checkpoint(
                {
                    "state_dict": self._models[name].state_dict(),
                    "epoch": epoch + 1,
                    "optimizer": optim.state_dict() if optim is not None else None,
                    "scheduler": sched.state_dict() if sched is not None else None,
                    "val_result": val_result,
                },
                osp.join(directory, name),
                is_best=is_best,
                model_name=model_name,
            )

    def resume_model_if_exist(self, directory):
        """Resume every registered model from ``directory/<name>``; returns the start epoch."""
        names = self.get_model_names()
        for name in names:  # what a SIGKILL during a checkpoint write left behind
            for stale in remove_stale_temp_files(osp.join(directory, name)):
                print(f"Removed the unfinished checkpoint write {osp.join(directory, name, stale)}")
        if not names or not all(has_checkpoint(osp.join(directory, n)) for n in names):
            print("No checkpoint found, train from scratch")
            return 0
        print(f'Found checkpoint at "{directory}" (will resume training)')
        start_epoch = 0
        for name in names:
            start_epoch = resume_from_checkpoint(
                osp.join(directory, name), self._models[name], self._optims[name],
                self._scheds[name],
            )
        return start_epoch

    def load_model(self, directory, epoch=None):
        """Load ``model.pth.tar-<epoch>`` (or ``model-best.pth.tar`` when epoch is None)."""
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given")
            return
        model_file = "model-best.pth.tar" if epoch is None else f"model.pth.tar-{epoch}"
        for name in self.get_model_names():
            model_path = osp.join(directory, name, model_file)
            if not osp.exists(model_path):
                raise FileNotFoundError(f'Model not found at "{model_path}"')
            checkpoint = load_checkpoint(model_path)
            ckpt_epoch = checkpoint.get("epoch")
            val_result = checkpoint.get("val_result")
            info = f"epoch = {ckpt_epoch}"
            if isinstance(val_result, (int, float)):
                info += f", val_result = {val_result:.1f}"
            print(f'Loading weights to {name} from "{model_path}" ({info})')
            self._models[name].load_state_dict(checkpoint["state_dict"])

    def set_model_mode(self, mode="train", names=None):
        for name in self.get_model_names(names):
            if mode == "train":
                self._models[name].train()
            elif mode in ("test", "eval"):
                self._models[name].eval()
            else:
                raise KeyError(f'Unknown model mode "{mode}"; use train, test or eval')

    def update_lr(self, names=None):
        for name in self.get_model_names(names):
            if self._scheds[name] is not None:
                self._scheds[name].step()

    def detect_anomaly(self, loss):
        if not torch.isfinite(loss).all():
            raise FloatingPointError("Loss is infinite or NaN!")

    def init_writer(self, log_dir):
        """TensorBoard is optional: without it, one line says so and no scalars are written
        (the log's progress lines hold the same values; tools/plot_curves.py draws them)."""
        if self._writer is not None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except Exception as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            print(f"TensorBoard unavailable ({reason}): no event files; "
                  "pip install tensorboard, or plot the log with tools/plot_curves.py")
            return
        mkdir_if_missing(log_dir)
        print(f"Initialize tensorboard (log_dir={log_dir})")
        self._writer = SummaryWriter(log_dir=log_dir)

    def close_writer(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write_scalar(self, tag, scalar_value, global_step=None):
        if self._writer is not None:
            self._writer.add_scalar(tag, scalar_value, global_step)

    def train(self, start_epoch, max_epoch):
        self.start_epoch = start_epoch
        self.max_epoch = max_epoch
        self.before_train()
        for epoch in range(self.start_epoch, self.max_epoch):
            self.epoch = epoch
            self.before_epoch()
            self.run_epoch()
            self.after_epoch()
        self.after_train()

    def before_train(self):
        pass

    def after_train(self):
        pass

    def before_epoch(self):
        pass

    def after_epoch(self):
        pass

    def run_epoch(self):
        raise NotImplementedError

    def test(self):
        raise NotImplementedError

    def parse_batch_train(self, batch):
        raise NotImplementedError

    def parse_batch_test(self, batch):
        raise NotImplementedError

    def forward_backward(self, batch):
        raise NotImplementedError

    def model_inference(self, input):
        raise NotImplementedError

    def model_zero_grad(self, names=None):
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].zero_grad()

    def model_backward(self, loss):
        self.detect_anomaly(loss)
        loss.backward()

    def model_update(self, names=None):
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].step()

    def model_backward_and_update(self, loss, names=None):
        self.model_zero_grad(names)
        self.model_backward(loss)
        self.model_update(names)


class SimpleTrainer(TrainerBase):
    """Builds data, model and evaluator from the config; implements Dassl's train/test flow."""

    def __init__(self, cfg):
        super().__init__()
        self.check_cfg(cfg)

        if torch.cuda.is_available() and cfg.USE_CUDA:
            self.device = torch.device("cuda")
        else:
            self.device = torch.device("cpu")

        self.start_epoch = self.epoch = 0
        self.max_epoch = cfg.OPTIM.MAX_EPOCH
        self.output_dir = cfg.OUTPUT_DIR
        self.batch_idx = 0
        self.num_batches = 0

        self.cfg = cfg
        self.build_data_loader()
        self.build_model()
        self.evaluator = build_evaluator(cfg, lab2cname=self.lab2cname)
        self.best_result = -np.inf

    def check_cfg(self, cfg):
        """Hook for subclasses to reject config combinations they do not support."""
        pass

    def build_data_loader(self):
        dm = DataManager(self.cfg)
        self.train_loader_x = dm.train_loader_x
        self.train_loader_u = dm.train_loader_u
        self.val_loader = dm.val_loader
        self.test_loader = dm.test_loader
        self.num_classes = dm.num_classes
        self.num_source_domains = dm.num_source_domains
        self.lab2cname = dm.lab2cname
        self.dm = dm

    def build_model(self):
        raise NotImplementedError(
            "The bundled Dassl engine has no dassl.modeling: trainers must override build_model()"
        )

    def train(self):
        super().train(self.start_epoch, self.max_epoch)

    def before_train(self):
        directory = self.cfg.RESUME or self.cfg.OUTPUT_DIR
        self.start_epoch = self.resume_model_if_exist(directory)
        self.init_writer(osp.join(self.output_dir, "tensorboard"))
        self.time_start = time.time()

    def after_train(self):
        print("Finish training")
        if not self.cfg.TEST.NO_TEST:
            if self.cfg.TEST.FINAL_MODEL == "best_val":
                print("Deploy the model with the best val performance")
                self.load_model(self.output_dir)
            else:
                print("Deploy the model of the last epoch")
            self.test()
        elapsed = str(datetime.timedelta(seconds=round(time.time() - self.time_start)))
        print(f"Elapsed: {elapsed}")
        self.close_writer()

    def after_epoch(self):
        last_epoch = (self.epoch + 1) == self.max_epoch
        do_test = not self.cfg.TEST.NO_TEST
        freq = self.cfg.TRAIN.CHECKPOINT_FREQ
        meet_checkpoint_freq = (self.epoch + 1) % freq == 0 if freq > 0 else False

        if do_test and self.cfg.TEST.FINAL_MODEL == "best_val":
            curr_result = self.test(split="val")
            if curr_result > self.best_result:
                self.best_result = curr_result
                self.save_model(
                    self.epoch, self.output_dir, val_result=curr_result,
                    model_name="model-best.pth.tar",
                )

        if meet_checkpoint_freq or last_epoch:
            self.save_model(self.epoch, self.output_dir)

    @torch.no_grad()
    def test(self, split=None):
        """Evaluate on TEST.SPLIT (or ``split``); returns the evaluator's first metric."""
        self.set_model_mode("eval")
        self.evaluator.reset()
        if split is None:
            split = self.cfg.TEST.SPLIT
        if split == "val" and self.val_loader is not None:
            data_loader = self.val_loader
        else:
            split = "test"
            data_loader = self.test_loader
        print(f"Evaluate on the *{split}* set")

        for batch_idx, batch in enumerate(data_loader):
            self.batch_idx = batch_idx
            input, label = self.parse_batch_test(batch)
            output = self.model_inference(input)
            self.evaluator.process(output, label)

        results = self.evaluator.evaluate()
        for k, v in results.items():
            self.write_scalar(f"{split}/{k}", v, self.epoch)
        return list(results.values())[0]

    def model_inference(self, input):
        return self.model(input)

    def parse_batch_test(self, batch):
        input = batch["img"].to(self.device)
        label = batch["label"].to(self.device)
        return input, label

    def get_current_lr(self, names=None):
        for name in self.get_model_names(names):
            optim = self._optims[name]
            if optim is not None:
                return optim.param_groups[0]["lr"]
        return 0.0

    def _log_iter(self, batch_time, data_time, losses):
        nb_remain = self.num_batches - self.batch_idx - 1
        nb_remain += (self.max_epoch - self.epoch - 1) * self.num_batches
        eta = str(datetime.timedelta(seconds=int(batch_time.avg * nb_remain)))
        info = [
            f"epoch [{self.epoch + 1}/{self.max_epoch}]",
            f"batch [{self.batch_idx + 1}/{self.num_batches}]",
            f"time {batch_time.val:.3f} ({batch_time.avg:.3f})",
            f"data {data_time.val:.3f} ({data_time.avg:.3f})",
            f"{losses}",
            f"lr {self.get_current_lr():.4e}",
            f"eta {eta}",
        ]
        print(" ".join(info))

    def _should_log(self):
        freq = self.cfg.TRAIN.PRINT_FREQ
        meet_freq = freq > 0 and (self.batch_idx + 1) % freq == 0
        last_of_few = self.num_batches < freq and (self.batch_idx + 1) == self.num_batches
        return meet_freq or last_of_few

    def _write_iter_scalars(self, losses):
        if self._writer is None:
            return
        n_iter = self.epoch * self.num_batches + self.batch_idx
        for name, meter in losses.meters.items():
            self.write_scalar("train/" + name, meter.avg, n_iter)
        self.write_scalar("train/lr", self.get_current_lr(), n_iter)


class TrainerX(SimpleTrainer):
    """Trainer on labelled data only (``train_loader_x``)."""

    def run_epoch(self):
        self.set_model_mode("train")
        losses = MetricMeter()
        batch_time = AverageMeter()
        data_time = AverageMeter()
        self.num_batches = len(self.train_loader_x)

        end = time.time()
        for batch_idx, batch in enumerate(self.train_loader_x):
            self.batch_idx = batch_idx
            data_time.update(time.time() - end)
            loss_summary = self.forward_backward(batch)
            batch_time.update(time.time() - end)
            losses.update(loss_summary)
            if self._should_log():
                self._log_iter(batch_time, data_time, losses)
            self._write_iter_scalars(losses)
            end = time.time()

    def parse_batch_train(self, batch):
        input = batch["img"].to(self.device)
        label = batch["label"].to(self.device)
        return input, label


class TrainerXU(SimpleTrainer):
    """Trainer on labelled (x) plus unlabelled (u) batches; epoch length from COUNT_ITER."""

    def run_epoch(self):
        self.set_model_mode("train")
        losses = MetricMeter()
        batch_time = AverageMeter()
        data_time = AverageMeter()

        len_x = len(self.train_loader_x)
        len_u = len(self.train_loader_u) if self.train_loader_u is not None else 0
        count_iter = self.cfg.TRAIN.COUNT_ITER
        if count_iter == "train_x":
            self.num_batches = len_x
        elif count_iter == "train_u":
            self.num_batches = len_u
        elif count_iter == "smaller_one":
            self.num_batches = min(len_x, len_u)
        else:
            raise ValueError(f'Unknown TRAIN.COUNT_ITER "{count_iter}"')
        if self.train_loader_u is None:
            raise ValueError("TrainerXU needs unlabelled data (dataset.train_u is empty)")

        iter_x = iter(self.train_loader_x)
        iter_u = iter(self.train_loader_u)
        end = time.time()
        for batch_idx in range(self.num_batches):
            self.batch_idx = batch_idx
            try:
                batch_x = next(iter_x)
            except StopIteration:
                iter_x = iter(self.train_loader_x)
                batch_x = next(iter_x)
            try:
                batch_u = next(iter_u)
            except StopIteration:
                iter_u = iter(self.train_loader_u)
                batch_u = next(iter_u)
            data_time.update(time.time() - end)
            loss_summary = self.forward_backward(batch_x, batch_u)
            batch_time.update(time.time() - end)
            losses.update(loss_summary)
            if self._should_log():
                self._log_iter(batch_time, data_time, losses)
            self._write_iter_scalars(losses)
            end = time.time()

    def parse_batch_train(self, batch_x, batch_u):
        input_x = batch_x["img"].to(self.device)
        label_x = batch_x["label"].to(self.device)
        input_u = batch_u["img"].to(self.device)
        return input_x, label_x, input_u


__all__ = ["TrainerBase", "SimpleTrainer", "TrainerX", "TrainerXU"]
