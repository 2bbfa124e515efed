"""Epoch-level LR schedulers with Dassl's warm-up wrapper, rebuilt for current PyTorch.

Differences from upstream that matter:

* no ``verbose`` argument is passed to ``LRScheduler`` (removed in torch 2.7);
* the wrapper's ``state_dict()`` nests the successor's ``state_dict()`` instead of pickling
  the successor object, so checkpoints load with ``weights_only=True``;
* ``WARMUP_RECOUNT=False`` means the warm-up epochs count towards the main schedule: the lr of
  epoch ``e >= WARMUP_EPOCH`` is the main schedule's lr at ``e`` (with ``True`` its clock
  starts at 0 when warm-up ends).
"""

import warnings

from torch.optim.lr_scheduler import CosineAnnealingLR, LRScheduler, MultiStepLR, StepLR

AVAI_SCHEDS = ["single_step", "multi_step", "cosine"]


class _BaseWarmupScheduler(LRScheduler):
    def __init__(self, optimizer, successor, warmup_epoch, recount=True, last_epoch=-1):
        self.successor = successor
        self.warmup_epoch = int(warmup_epoch)
        self.recount = bool(recount)
        super().__init__(optimizer, last_epoch)

    def warmup_lrs(self):
        raise NotImplementedError

    def get_lr(self):
        if self.last_epoch < self.warmup_epoch:
            return self.warmup_lrs()
        return self.successor.get_last_lr()

    def step(self, epoch=None):
        if epoch is not None:
            warnings.warn(
                "Passing an epoch to the warm-up scheduler is not supported; it is ignored",
                UserWarning,
                stacklevel=2,
            )
        self._step_count += 1
        self.last_epoch += 1
        if self.last_epoch < self.warmup_epoch:
            values = self.warmup_lrs()
        else:
            # The successor's chainable formulas read the optimizer's lr: give it back its own.
            for group, lr in zip(self.optimizer.param_groups, self.successor.get_last_lr()):
                group["lr"] = lr
            if self.last_epoch == self.warmup_epoch:
                n_steps = 0 if self.recount else self.warmup_epoch
            else:
                n_steps = 1
            for _ in range(n_steps):
                self.successor.step()
            values = self.successor.get_last_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "successor")}
        state["successor"] = self.successor.state_dict()
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        successor = state.pop("successor", None)
        if isinstance(successor, dict):
            self.successor.load_state_dict(successor)
        else:
            # An upstream-Dassl checkpoint read by the restricted unpickler: the successor is an
            # inert placeholder that may still carry the pickled attribute dict.
            recovered = getattr(successor, "_pickled_state", None)
            if isinstance(recovered, dict):
                recovered = {k: v for k, v in recovered.items() if k != "optimizer"}
                self.successor.load_state_dict(recovered)
            else:
                warnings.warn(
                    "Scheduler state has no usable successor state; the main schedule restarts",
                    stacklevel=2,
                )
        state.pop("verbose", None)
        self.__dict__.update(state)


class ConstantWarmupScheduler(_BaseWarmupScheduler):
    def __init__(self, optimizer, successor, warmup_epoch, cons_lr, recount=True, last_epoch=-1):
        self.cons_lr = cons_lr
        super().__init__(optimizer, successor, warmup_epoch, recount, last_epoch)

    def warmup_lrs(self):
        return [self.cons_lr for _ in self.base_lrs]


class LinearWarmupScheduler(_BaseWarmupScheduler):
    def __init__(self, optimizer, successor, warmup_epoch, min_lr, recount=True, last_epoch=-1):
        self.min_lr = min_lr
        super().__init__(optimizer, successor, warmup_epoch, recount, last_epoch)

    def warmup_lrs(self):
        if self.last_epoch == 0:
            return [self.min_lr for _ in self.base_lrs]
        return [lr * self.last_epoch / self.warmup_epoch for lr in self.base_lrs]


def build_lr_scheduler(optimizer, optim_cfg):
    """Epoch-wise scheduler from ``cfg.OPTIM``; call ``step()`` once per epoch."""
    lr_scheduler = optim_cfg.LR_SCHEDULER
    stepsize = optim_cfg.STEPSIZE
    gamma = optim_cfg.GAMMA
    max_epoch = optim_cfg.MAX_EPOCH

    if lr_scheduler not in AVAI_SCHEDS:
        raise ValueError(f'Scheduler "{lr_scheduler}" is not supported; choose from {AVAI_SCHEDS}')

    if lr_scheduler == "single_step":
        if isinstance(stepsize, (list, tuple)):
            stepsize = stepsize[-1]
        if not isinstance(stepsize, int):
            raise TypeError(f"For single_step, STEPSIZE must be an int, got {type(stepsize)}")
        if stepsize <= 0:
            stepsize = max_epoch
        scheduler = StepLR(optimizer, step_size=stepsize, gamma=gamma)
    elif lr_scheduler == "multi_step":
        if not isinstance(stepsize, (list, tuple)):
            raise TypeError(f"For multi_step, STEPSIZE must be a list, got {type(stepsize)}")
        scheduler = MultiStepLR(optimizer, milestones=list(stepsize), gamma=gamma)
    else:
        scheduler = CosineAnnealingLR(optimizer, float(max_epoch))

    if optim_cfg.WARMUP_EPOCH > 0:
        recount = optim_cfg.WARMUP_RECOUNT
        if optim_cfg.WARMUP_TYPE == "constant":
            scheduler = ConstantWarmupScheduler(
                optimizer, scheduler, optim_cfg.WARMUP_EPOCH, optim_cfg.WARMUP_CONS_LR, recount
            )
        elif optim_cfg.WARMUP_TYPE == "linear":
            scheduler = LinearWarmupScheduler(
                optimizer, scheduler, optim_cfg.WARMUP_EPOCH, optim_cfg.WARMUP_MIN_LR, recount
            )
        else:
            raise ValueError(
                f'WARMUP_TYPE "{optim_cfg.WARMUP_TYPE}" is not supported; use constant or linear'
            )
    return scheduler
