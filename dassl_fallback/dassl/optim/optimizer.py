"""Optimizer factory driven by ``cfg.OPTIM``."""

import warnings

import torch
import torch.nn as nn

AVAI_OPTIMS = ["adam", "amsgrad", "sgd", "rmsprop", "radam", "adamw"]


def build_optimizer(model, optim_cfg, param_groups=None):
    """Build an optimizer for an ``nn.Module``, an iterable of parameters, or param groups.

    With ``STAGED_LR`` (and a Module), children named in ``NEW_LAYERS`` train at ``LR`` and the
    rest at ``LR * BASE_LR_MULT``.
    """
    optim = optim_cfg.NAME
    lr = optim_cfg.LR
    weight_decay = optim_cfg.WEIGHT_DECAY

    if optim not in AVAI_OPTIMS:
        raise ValueError(f'Optimizer "{optim}" is not supported; choose from {AVAI_OPTIMS}')

    if param_groups is not None and optim_cfg.STAGED_LR:
        warnings.warn(
            "STAGED_LR is ignored when param_groups are given; set per-group lrs yourself",
            stacklevel=2,
        )

    if param_groups is None:
        if optim_cfg.STAGED_LR:
            if not isinstance(model, nn.Module):
                raise TypeError("When STAGED_LR is True, model given to build_optimizer() must be "
                                "an instance of nn.Module")
            if isinstance(model, nn.DataParallel):
                model = model.module
            new_layers = optim_cfg.NEW_LAYERS
            if isinstance(new_layers, str):
                new_layers = [new_layers]
            if not new_layers:
                warnings.warn("STAGED_LR is on but NEW_LAYERS is empty", stacklevel=2)
            base_params, new_params = [], []
            for name, module in model.named_children():
                target = new_params if name in new_layers else base_params
                target.extend(module.parameters())
            param_groups = [
                {"params": base_params, "lr": lr * optim_cfg.BASE_LR_MULT},
                {"params": new_params},
            ]
        elif isinstance(model, nn.Module):
            param_groups = model.parameters()
        else:
            param_groups = model

    betas = (optim_cfg.ADAM_BETA1, optim_cfg.ADAM_BETA2)
    if optim == "adam":
        return torch.optim.Adam(param_groups, lr=lr, weight_decay=weight_decay, betas=betas)
    if optim == "amsgrad":
        return torch.optim.Adam(
            param_groups, lr=lr, weight_decay=weight_decay, betas=betas, amsgrad=True
        )
    if optim == "sgd":
        return torch.optim.SGD(
            param_groups,
            lr=lr,
            momentum=optim_cfg.MOMENTUM,
            weight_decay=weight_decay,
            dampening=optim_cfg.SGD_DAMPNING,
            nesterov=optim_cfg.SGD_NESTEROV,
        )
    if optim == "rmsprop":
        return torch.optim.RMSprop(
            param_groups,
            lr=lr,
            momentum=optim_cfg.MOMENTUM,
            weight_decay=weight_decay,
            alpha=optim_cfg.RMSPROP_ALPHA,
        )
    if optim == "radam":
        return torch.optim.RAdam(param_groups, lr=lr, weight_decay=weight_decay, betas=betas)
    return torch.optim.AdamW(param_groups, lr=lr, weight_decay=weight_decay, betas=betas)
