"""Shared test building blocks: the tiny CLIP, a synthetic EuroSAT root, train.py's command line."""

import os

from dassl.config import get_cfg_default
from datasets.synthetic import write_synthetic_root
from tools.make_tiny_clip import write_tiny_clip
from tools.toy_world.bench import TOY_CPU_OPTS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_clip_path(directory):
    path = os.path.join(str(directory), "tiny_clip.pt")
    if not os.path.exists(path):
        write_tiny_clip(path)
    return path


TINY_OPTS = [
    "INPUT.SIZE", "(32, 32)",
    "OPTIM.MAX_EPOCH", "1",
    "DATASET.NUM_SHOTS", "2",
    "USE_CUDA", "False",
    "DATALOADER.NUM_WORKERS", "0",
]

# PromptSRC's deep prompts within the tiny CLIP's 2 layers (the configs say 9)
PROMPTSRC_TINY = ["TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "2",
                  "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "2"]

EUROSAT = ["--dataset-config-file", "configs/datasets/eurosat.yaml"]
COOP = ["--trainer", "CoOp", "--config-file", "configs/trainers/CoOp/vit_b16_ctxv1.yaml"]


def eurosat_setup(tmp_path_factory, name):
    """A fresh folder ``name`` with a synthetic EuroSAT root and the tiny CLIP.

    Returns ``(root, clip, folder)``: the data root (str), the CLIP checkpoint (str), the folder.
    """
    base = tmp_path_factory.mktemp(name)
    root = str(base / "data")
    write_synthetic_root(root, datasets=["EuroSAT"])
    return root, tiny_clip_path(base), base


def train_argv(root, clip, out, trainer, config, *flags, opts=()):
    """train.py's arguments: ``trainer`` with configs/trainers/``config``.yaml on EuroSAT.

    ``flags`` (and any KEY VALUE opts among them) go right after --output-dir; ``opts`` go last,
    after the tiny CLIP and TINY_OPTS, so they win over both.
    """
    return [
        "--root", root, "--trainer", trainer, "--seed", "1",
        *EUROSAT, "--config-file", f"configs/trainers/{config}.yaml",
        "--output-dir", str(out), *flags,
        "MODEL.BACKBONE.NAME", clip, *TINY_OPTS, *opts,
    ]


def eval_on_new(model_dir, epoch=1):
    """Flags and opts for train.py: evaluate ``model_dir``'s epoch ``epoch`` on the new classes."""
    return ["--eval-only", "--model-dir", str(model_dir), "--load-epoch", str(epoch),
            "DATASET.SUBSAMPLE_CLASSES", "new"]


def trainer_for(argv):
    """The trainer train.py would build for ``argv``, without training or evaluating it."""
    import train
    from dassl.engine import build_trainer

    return build_trainer(train.setup_cfg(train.build_parser().parse_args(argv)))


def read_log(directory):
    with open(os.path.join(directory, "log.txt")) as f:
        return f.read()


def train_steps(trainer, steps=2):
    """A few real training steps through the trainer's own forward_backward."""
    trainer.set_model_mode("train")
    trainer.epoch, trainer.num_batches = 0, 100
    summary = None
    for index, batch in zip(range(steps), trainer.train_loader_x):
        trainer.batch_idx = index
        summary = trainer.forward_backward(batch)
    return summary


def record_blocks(blocks):
    """Inputs and outputs of every block, keyed ("in"|"out", layer)."""
    record, handles = {}, []
    for i, block in enumerate(blocks):
        handles.append(block.register_forward_pre_hook(
            lambda _m, args, i=i: record.__setitem__(("in", i), args[0].detach().clone())))
        handles.append(block.register_forward_hook(
            lambda _m, _args, out, i=i: record.__setitem__(("out", i), out.detach().clone())))
    return record, handles


def coop_optim_cfg(**overrides):
    """Dassl's default config with the CoOp-family optimiser: SGD 0.002, cosine, 1 constant
    warm-up epoch, 5 epochs; ``overrides`` set further OPTIM keys."""
    cfg = get_cfg_default()
    cfg.OPTIM.NAME = "sgd"
    cfg.OPTIM.LR = 0.002
    cfg.OPTIM.LR_SCHEDULER = "cosine"
    cfg.OPTIM.MAX_EPOCH = 5
    cfg.OPTIM.WARMUP_EPOCH = 1
    cfg.OPTIM.WARMUP_TYPE = "constant"
    for key, value in overrides.items():
        setattr(cfg.OPTIM, key, value)
    return cfg


def write_upstream_checkpoint(directory, model_name, state_dict, epoch):
    """A checkpoint laid out as upstream Dassl saves it; returns ``directory`` for load_model."""
    import torch

    folder = directory / model_name
    folder.mkdir(parents=True)
    torch.save({"state_dict": state_dict, "epoch": epoch, "optimizer": {}, "scheduler": {}},
               folder / f"model.pth.tar-{epoch}")
    return str(directory)


def assert_only_prompts_learn(trainer):
    """A few training steps: only the prompt learner gets gradients and every one of its
    parameters moves, while CLIP's weights stay bit-identical. Returns the last step's summary."""
    import torch

    model = trainer.model
    frozen = {k: v.clone() for k, v in model.state_dict().items()
              if not k.startswith("prompt_learner.")}
    learned = {k: v.detach().clone() for k, v in model.prompt_learner.named_parameters()}
    summary = train_steps(trainer)
    grads = {n for n, p in model.named_parameters() if p.grad is not None}
    assert grads == {f"prompt_learner.{k}" for k in learned}
    after = model.state_dict()
    assert all(torch.equal(frozen[k], after[k]) for k in frozen)
    now = dict(model.prompt_learner.named_parameters())
    assert all(not torch.equal(value, now[key]) for key, value in learned.items())
    return summary


def toy_world_setup(tmp_path_factory, seed=0, images=(16, 4, 20), model=None, style="dataset",
                    logit_scale=None):
    """The shipped pretrained toy CLIP (or the compact ``model``) and world ``seed``'s data root,
    in a fresh folder; ``logit_scale`` is written into the checkpoint in place of the learned one
    (stress100: the stress model with CLIP's 100, docs/toy_world.md).

    Returns a namespace with ``root`` (data root), ``clip`` (checkpoint), ``bank`` (the world's
    novel-class bank file) and ``world``. Accuracy on it means something: see docs/toy_world.md.
    """
    import math
    from types import SimpleNamespace

    import torch

    from tools.toy_world.checkpoint import SHIPPED
    from tools.toy_world.cli import make
    from tools.toy_world.layout import bank_path
    from tools.toy_world.world import make_world

    out = tmp_path_factory.mktemp(f"toy_world{seed}")
    clip, root = make(out, seed, str(model or SHIPPED), None, 0, images, (3, 3), 6, style=style)
    if logit_scale is not None:
        state = torch.load(clip, weights_only=True)
        state["logit_scale"] = torch.tensor(math.log(logit_scale))
        torch.save(state, clip)
    return SimpleNamespace(root=str(root), clip=str(clip), bank=bank_path(root),
                           world=make_world(seed), base=out)


TOY_OPTS = TOY_CPU_OPTS  # the toy model's input size and the CPU settings
CALTECH = ["--dataset-config-file", "configs/datasets/caltech101.yaml"]


def toy_argv(toy, out, trainer, config, *flags, opts=()):
    """train.py's arguments for ``trainer`` on the toy world (its Caltech101-layout root)."""
    return [
        "--root", toy.root, "--trainer", trainer, "--seed", "1", *CALTECH,
        "--config-file", f"configs/trainers/{config}.yaml", "--output-dir", str(out), *flags,
        "MODEL.BACKBONE.NAME", toy.clip, *TOY_OPTS, "TRAINER.SAR.NOVEL_SOURCE", toy.bank, *opts,
    ]


def reference_drift(G, H, tau):
    """The three drift measures (mean |dS|, row KL at ``tau``, neighbour Spearman) of unit
    features G, H (n, D), loop by loop with numpy and scipy: the reference for the module's."""
    import numpy as np
    from scipy.stats import spearmanr

    G, H = G.double().numpy(), H.double().numpy()
    S_g, S_h = G @ G.T, H @ H.T
    changes, kls, rhos = [], [], []
    for i in range(len(H)):
        others = [j for j in range(len(H)) if j != i]
        g, h = S_g[i, others], S_h[i, others]
        changes.extend(np.abs(g - h))
        p_h = np.exp(h / tau) / np.exp(h / tau).sum()
        p_g = np.exp(g / tau) / np.exp(g / tau).sum()
        kls.append(float((p_h * np.log(p_h / p_g)).sum()))
        rhos.append(spearmanr(g, h).statistic)
    return np.mean(changes), np.mean(kls), np.mean(rhos)


def png_size(path):
    """(width, height) of a PNG that decodes completely; fails on anything else."""
    from PIL import Image

    with Image.open(path) as image:
        assert image.format == "PNG", f"{path} is {image.format}, not a PNG"
        image.load()  # decodes every pixel: a truncated or corrupt file fails here
        return image.size


class _FullDisk:
    """A file whose writes fail with ENOSPC once ``room`` bytes are written."""

    def __init__(self, file, room=100):
        self.file, self.room = file, room

    def write(self, data):
        import errno

        self.room -= len(data)
        if self.room < 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


def fill_the_disk(monkeypatch):
    """Every binary file opened through ``os.fdopen`` (checkpoints; not the text caches) runs
    into a full disk."""
    real_fdopen = os.fdopen

    def fdopen(fd, mode="r", *args, **kwargs):
        file = real_fdopen(fd, mode, *args, **kwargs)
        return _FullDisk(file) if "b" in mode else file

    monkeypatch.setattr(os, "fdopen", fdopen)
