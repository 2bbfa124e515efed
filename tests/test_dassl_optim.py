"""Bundled Dassl: optimizers and the warm-up schedulers (exact CoOp-family lr sequence)."""

import io
import warnings

import pytest
import torch

from dassl.config import get_cfg_default
from dassl.optim import build_lr_scheduler, build_optimizer
from tests.helpers import coop_optim_cfg


def _optim_cfg(**overrides):
    overrides = {"WARMUP_CONS_LR": 1e-5, "WARMUP_RECOUNT": True, **overrides}
    return coop_optim_cfg(**overrides).OPTIM


def _epoch_start_lrs(optim_cfg, n_epochs=5):
    model = torch.nn.Linear(3, 2)
    optim = build_optimizer(model, optim_cfg)
    sched = build_lr_scheduler(optim, optim_cfg)
    lrs = []
    for _ in range(n_epochs):
        lrs.append(optim.param_groups[0]["lr"])
        optim.step()
        sched.step()
    return lrs


def test_cosine_constant_warmup_recount_matches_coop():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. no deprecated verbose/epoch usage
        lrs = _epoch_start_lrs(_optim_cfg())
    expected = [1e-5, 0.002, 0.0018090, 0.0013090, 0.00069098]
    assert lrs == pytest.approx(expected, rel=1e-4)


def test_linear_warmup_and_no_recount():
    lrs = _epoch_start_lrs(_optim_cfg(WARMUP_TYPE="linear", WARMUP_EPOCH=2, WARMUP_MIN_LR=1e-4))
    assert lrs[:3] == pytest.approx([1e-4, 0.001, 0.002], rel=1e-6)
    # without recount the warm-up epochs count towards the cosine clock
    lrs = _epoch_start_lrs(_optim_cfg(WARMUP_RECOUNT=False))
    assert lrs == pytest.approx([1e-5, 0.0018090, 0.0013090, 0.00069098, 0.00019098], rel=1e-4)


def test_step_schedulers():
    lrs = _epoch_start_lrs(_optim_cfg(LR_SCHEDULER="single_step", STEPSIZE=(2,), GAMMA=0.1,
                                      WARMUP_EPOCH=-1, LR=1.0))
    assert lrs == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01])
    lrs = _epoch_start_lrs(_optim_cfg(LR_SCHEDULER="multi_step", STEPSIZE=(1, 3), GAMMA=0.5,
                                      WARMUP_EPOCH=-1, LR=1.0))
    assert lrs == pytest.approx([1.0, 0.5, 0.5, 0.25, 0.25])
    with pytest.raises(ValueError, match="not supported"):
        build_lr_scheduler(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1),
                           _optim_cfg(LR_SCHEDULER="poly"))


def test_scheduler_state_roundtrip_weights_only():
    optim_cfg = _optim_cfg()
    model = torch.nn.Linear(3, 2)
    optim = build_optimizer(model, optim_cfg)
    sched = build_lr_scheduler(optim, optim_cfg)
    for _ in range(2):
        optim.step()
        sched.step()
    buf = io.BytesIO()
    torch.save({"scheduler": sched.state_dict(), "optimizer": optim.state_dict()}, buf)
    buf.seek(0)
    state = torch.load(buf, map_location="cpu", weights_only=True)

    model2 = torch.nn.Linear(3, 2)
    optim2 = build_optimizer(model2, optim_cfg)
    sched2 = build_lr_scheduler(optim2, optim_cfg)
    optim2.load_state_dict(state["optimizer"])
    sched2.load_state_dict(state["scheduler"])
    assert sched2.successor.last_epoch == sched.successor.last_epoch
    rest = []
    for o, s in ((optim, sched), (optim2, sched2)):
        seq = []
        for _ in range(3):
            seq.append(o.param_groups[0]["lr"])
            o.step()
            s.step()
        rest.append(seq)
    assert rest[0] == pytest.approx(rest[1])
    assert rest[0] == pytest.approx([0.0018090, 0.0013090, 0.00069098], rel=1e-4)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "rmsprop", "amsgrad", "radam"])
def test_build_optimizer_inputs(name):
    cfg = get_cfg_default()
    cfg.OPTIM.NAME = name
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    assert len(build_optimizer(model, cfg.OPTIM).param_groups) == 1
    assert len(build_optimizer(list(model.parameters()), cfg.OPTIM).param_groups) == 1
    groups = [{"params": model[0].parameters()}, {"params": model[1].parameters(), "lr": 0.1}]
    assert len(build_optimizer(model, cfg.OPTIM, param_groups=groups).param_groups) == 2


def test_staged_lr_and_unknown_optimizer():
    cfg = get_cfg_default()
    cfg.OPTIM.NAME = "sgd"
    cfg.OPTIM.LR = 1.0
    cfg.OPTIM.STAGED_LR = True
    cfg.OPTIM.NEW_LAYERS = ("head",)
    model = torch.nn.Module()
    model.backbone = torch.nn.Linear(2, 2)
    model.head = torch.nn.Linear(2, 1)
    groups = build_optimizer(model, cfg.OPTIM).param_groups
    assert [g["lr"] for g in groups] == [pytest.approx(0.1), 1.0]
    cfg.OPTIM.NAME = "lion"
    with pytest.raises(ValueError, match="lion"):
        build_optimizer(model, cfg.OPTIM)
