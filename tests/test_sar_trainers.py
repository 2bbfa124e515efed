"""The SAR trainers on the tiny CLIP and the synthetic EuroSAT, through the real train.py."""

import json
import os
from types import SimpleNamespace

import pytest
import torch
import yaml

import train
import trainers.sar
import trainers.sar_trainers  # noqa: F401  (registers the SAR trainers)
from dassl.utils import load_checkpoint
from tests.helpers import (
    PROMPTSRC_TINY,
    ROOT,
    eurosat_with_bank,
    read_log,
    toy_argv,
    toy_world_setup,
    train_argv,
    trainer_for,
)
from trainers.backbone import load_clip
from trainers.config import SAR_DEFAULTS
from trainers.prompts import ClassTokens, assemble_prompts, hand_crafted_texts, init_context
from trainers.similarity_metrics import mean_abs_change
from trainers.text_encoder import TextEncoder, hand_crafted_features

# The training bank (a TXT file, as a user's NOVEL_SOURCE path) and names SAR never sees.
TRAIN_BANK = ["farmland", "desert", "glacier", "airport", "harbor", "parking lot", "vineyard",
              "orchard", "wetland", "stadium", "bridge", "tundra", "mine", "dam", "beach",
              "village", "Forest"]  # "Forest" is a EuroSAT class: the leak guard drops it
HELD_OUT = ["volcano", "canyon", "marsh", "quarry", "airfield", "lagoon", "savanna", "dune",
            "reef", "meadow", "suburb", "railway"]
N_BASE = 5  # EuroSAT's 10 classes: 5 base, 5 new

TRAINERS = {  # SAR trainer: (its config file, the checkpoint folder of its baseline)
    "CoOp_SAR": ("CoOp_SAR/vit_b16_ctxv1", "prompt_learner"),
    "CoCoOp_SAR": ("CoCoOp_SAR/vit_b16_c4_ep10_batch1_ctxv1", "prompt_learner"),
    "KgCoOp_SAR": ("KgCoOp_SAR/vit_b16_ep100_ctxv1", "prompt_learner"),
    "MaPLe_SAR": ("MaPLe_SAR/vit_b16_c2_ep5_batch4_2ctx", "MultiModalPromptLearner"),
    "PromptSRC_SAR": ("PromptSRC_SAR/vit_b16_c2_ep20_batch4_4+4ctx", "VLPromptLearner"),
}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return eurosat_with_bank(tmp_path_factory, "sar", TRAIN_BANK)


def argv(env, trainer, out, flags=(), opts=(), config=None):
    config = config or TRAINERS.get(trainer, TRAINERS["CoOp_SAR"])[0]
    return train_argv(env.root, env.clip, out, trainer, config, *flags, opts=[
        "DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.SAR.NOVEL_SOURCE", env.bank,
        "TRAINER.MAPLE.PROMPT_DEPTH", "2", *PROMPTSRC_TINY, *opts,
    ])


def make_trainer(env, out, *opts, trainer="CoOp_SAR"):
    return trainer_for(argv(env, trainer, out, opts=opts))


def first_batch(trainer):
    return trainer.parse_batch_train(next(iter(trainer.train_loader_x)))


@pytest.mark.parametrize("name", list(TRAINERS))
def test_trains_on_base_then_evaluates_new_without_the_bank(env, name):
    out = env.base / f"{name}_base"
    assert train.main(argv(env, name, out, opts=["TRAINER.SAR.NUM_NOVEL", "4"])) == 0
    log = read_log(out)
    assert "SAR: bank of 16 novel classes" in log  # 17 names, "Forest" dropped
    assert "dropped 1 entries" in log
    table = "kgcoop" if name == "KgCoOp_SAR" else "coop"  # each method's own table
    assert f"template dataset ({table} table)" in log
    assert " loss_sar " in log and "Finish training" in log
    folder = TRAINERS[name][1]
    state = load_checkpoint(str(out / folder / "model.pth.tar-1"))["state_dict"]
    assert not any("novel" in key for key in state)  # the bank never enters a checkpoint

    test_out = env.base / f"{name}_new"
    missing_bank = ["TRAINER.SAR.NOVEL_SOURCE", str(env.base / "no_such_bank.txt"),
                    "DATASET.SUBSAMPLE_CLASSES", "new"]
    flags = ["--eval-only", "--model-dir", str(out), "--load-epoch", "1"]
    assert train.main(argv(env, name, test_out, flags=flags, opts=missing_bank)) == 0
    log = read_log(test_out)
    assert f"Loading weights to {folder}" in log and "* accuracy:" in log
    assert "SAR: bank" not in log and "SAR novel bank" not in log


def test_sar_checkpoint_loads_into_the_baseline(env):
    out = env.base / "CoOp_SAR_base"
    if not out.exists():
        assert train.main(argv(env, "CoOp_SAR", out)) == 0
    flags = ["--eval-only", "--model-dir", str(out), "--load-epoch", "1"]
    test_out = env.base / "CoOp_from_SAR"
    assert train.main(argv(env, "CoOp", test_out, flags=flags,
                           opts=["DATASET.SUBSAMPLE_CLASSES", "new"])) == 0
    assert "* accuracy:" in read_log(test_out)


def test_loss_sar_gradient_reaches_only_the_prompt_parameters(env):
    trainer = make_trainer(env, env.base / "grad", "TRAINER.COOP.CTX_INIT", "")
    trainer.build_sar()
    terms, _ = trainer.compute_loss(*first_batch(trainer))
    assert terms["loss_sar"].item() > 0
    terms["loss_sar"].backward()
    for name, param in trainer.model.named_parameters():
        if name.startswith("prompt_learner."):
            assert param.grad is not None and param.grad.abs().sum() > 0, name
            assert torch.isfinite(param.grad).all(), name
        else:
            assert param.grad is None, name
    assert trainer.sar.features.grad is None and not trainer.sar.features.requires_grad


@pytest.mark.parametrize("num_novel,expected", [(3, 3), (-1, 16), (100, 16), (0, 0)])
def test_num_novel_sets_the_classes_of_one_text_pass(env, num_novel, expected):
    trainer = make_trainer(env, env.base / f"m{num_novel}", "TRAINER.SAR.NUM_NOVEL",
                           str(num_novel))
    trainer.build_sar()
    learner = trainer.model.prompt_learner
    assert not any("novel" in k for k in learner.state_dict())
    _, output = trainer.compute_loss(*first_batch(trainer))
    assert output.text_features.shape[0] == N_BASE + expected
    assert output.logits.shape[1] == N_BASE


def test_rows_knob_reaches_the_loss(env, monkeypatch):
    seen = []
    real = trainers.sar.sar_loss

    def spy(G, H, n_base, temperature, divergence, rows):
        seen.append((tuple(G.shape), tuple(H.shape), n_base, temperature, divergence, rows))
        return real(G, H, n_base, temperature, divergence, rows)

    monkeypatch.setattr(trainers.sar, "sar_loss", spy)
    trainer = make_trainer(env, env.base / "rows", "TRAINER.SAR.ROWS", "novel",
                           "TRAINER.SAR.DIVERGENCE", "mse", "TRAINER.SAR.TEMPERATURE", "0.5",
                           "TRAINER.SAR.NUM_NOVEL", "6")
    trainer.build_sar()
    trainer.compute_loss(*first_batch(trainer))
    assert seen == [((N_BASE + 6, 32), (N_BASE + 6, 32), N_BASE, 0.5, "mse", "novel")]


def test_hand_crafted_features_are_computed_once_not_per_step(env, monkeypatch):
    calls = {"hand_crafted_features": 0, "encode_tokens": 0}
    real_features, real_encode = trainers.sar.hand_crafted_features, TextEncoder.encode_tokens

    def counted_features(*args, **kwargs):
        calls["hand_crafted_features"] += 1
        return real_features(*args, **kwargs)

    def counted_encode(*args, **kwargs):
        calls["encode_tokens"] += 1
        return real_encode(*args, **kwargs)

    monkeypatch.setattr(trainers.sar, "hand_crafted_features", counted_features)
    monkeypatch.setattr(TextEncoder, "encode_tokens", counted_encode)
    out = env.base / "once"
    opts = ["OPTIM.MAX_EPOCH", "2", "DATALOADER.TRAIN_X.BATCH_SIZE", "2", "TRAIN.PRINT_FREQ", "1"]
    assert train.main(argv(env, "CoOp_SAR", out, opts=opts)) == 0
    steps = read_log(out).count(" loss_sar ")
    assert steps == 10  # 2 epochs x 5 batches of 2 (2 shots x 5 base classes)
    assert calls == {"hand_crafted_features": 1, "encode_tokens": 1}


def test_a_large_bank_shows_progress_and_adds_nothing_to_the_model(env, monkeypatch, capsys):
    from functools import partial

    from trainers.progress import Progress

    small = make_trainer(env, env.base / "small_bank")
    small.build_sar()
    buffers = sum(b.numel() for b in small.model.buffers())
    bank = env.base / "large_bank.txt"
    bank.write_text("\n".join(f"place number {i}" for i in range(3000)) + "\n")
    monkeypatch.setattr(trainers.sar, "Progress", partial(Progress, every=0.0))
    large = make_trainer(env, env.base / "large_bank", "TRAINER.SAR.NOVEL_SOURCE", str(bank))
    capsys.readouterr()
    large.build_sar()
    out = capsys.readouterr().out
    for stage in ("tokenizing prompts", "tokenizing hand-crafted prompts",
                  "embedding hand-crafted prompts"):
        assert f"SAR bank: {stage}: " in out, out
    assert "embedding hand-crafted prompts: 3,005 of 3,005 (100%)" in out  # 5 base + 3000
    assert " left" in out
    # the bank is kept as token ids: the model holds as much as with a bank of 16
    assert sum(b.numel() for b in large.model.buffers()) == buffers
    assert tuple(large.sar_bank.tokenized.shape) == (3000, 77)
    terms, output = large.compute_loss(*first_batch(large))
    assert output.text_features.shape[0] == N_BASE + 100 and torch.isfinite(terms["loss_sar"])


@pytest.mark.parametrize("opts,key", [
    (["TRAINER.COOP.CSC", "True"], "TRAINER.COOP.CSC"),
    (["TRAINER.SAR.DIVERGENCE", "js"], "TRAINER.SAR.DIVERGENCE"),
    (["TRAINER.SAR.TEMPERATURE", "-0.1"], "TRAINER.SAR.TEMPERATURE"),
])
def test_bad_settings_stop_with_one_line_naming_the_key(env, capfd, opts, key):
    assert train.main(argv(env, "CoOp_SAR", env.base / "bad", opts=opts)) == 1
    err = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and key in err[0]


def test_sar_configs_are_the_baseline_configs_plus_the_default_sar_block():
    for name in TRAINERS:
        sar_dir = os.path.join(ROOT, "configs", "trainers", name)
        base_dir = os.path.join(ROOT, "configs", "trainers", name[: -len("_SAR")])
        assert sorted(os.listdir(sar_dir)) == sorted(os.listdir(base_dir))
        for file_name in os.listdir(base_dir):
            with open(os.path.join(sar_dir, file_name)) as f:
                sar_cfg = yaml.safe_load(f)
            with open(os.path.join(base_dir, file_name)) as f:
                base_cfg = yaml.safe_load(f)
            assert sar_cfg["TRAINER"].pop("SAR") == SAR_DEFAULTS
            if not sar_cfg["TRAINER"]:
                del sar_cfg["TRAINER"]
            assert sar_cfg == base_cfg, file_name


# ---- behaviour: SAR keeps the similarity structure of names it never trained on --------------

CTX_INIT = "a photo of a"  # = Caltech101's template, the toy world's: the prompts start at H


def held_out_drift(clip, ctx, names):
    """Mean |S^g - S^h| over the off-diagonal of ``names``, for context ``ctx`` (the
    similarity report's measure, trainers/similarity_metrics.py)."""
    encoder = TextEncoder(load_clip(clip))
    n_ctx = ctx.shape[0]
    tokens = ClassTokens.build(encoder, names, " ".join(["X"] * n_ctx), n_ctx)
    with torch.no_grad():
        G = encoder(assemble_prompts(ctx, tokens), tokens.tokenized).float()
    G = G / G.norm(dim=-1, keepdim=True)
    H = hand_crafted_features(encoder, hand_crafted_texts(names, "Caltech101"))
    return mean_abs_change(G, H)


def test_sar_keeps_held_out_similarities_closer_to_clip_than_coop(toy):
    """On the pretrained toy CLIP, at SAR's defaults: the new classes, which neither CoOp nor
    SAR ever sees (SAR's bank is the world's other names), keep their structure better."""
    from tests.helpers import toy_argv

    held_out = toy.world.new_classes
    assert not set(held_out) & set(toy.world.bank)
    ctx_init, _, _ = init_context(load_clip(toy.clip), 4, CTX_INIT)
    assert held_out_drift(toy.clip, ctx_init, held_out) < 1e-5  # both start with no drift
    common = ["TRAINER.COOP.CTX_INIT", CTX_INIT, "TRAINER.COOP.N_CTX", "4",
              "DATASET.NUM_SHOTS", "8", "DATASET.SUBSAMPLE_CLASSES", "base",
              "OPTIM.MAX_EPOCH", "10", "TEST.NO_TEST", "True",
              # Adam moves the context far within a few epochs (SGD at 0.002 barely does here)
              "OPTIM.NAME", "adam", "OPTIM.LR", "0.005", "OPTIM.WARMUP_EPOCH", "-1"]
    drift = {}
    for name in ("CoOp", "CoOp_SAR"):
        out = toy.base / f"drift_{name}"
        assert train.main(toy_argv(toy, out, name, f"{name}/vit_b16_ctxv1", opts=common)) == 0
        checkpoint = out / "prompt_learner" / "model.pth.tar-10"
        ctx = load_checkpoint(str(checkpoint))["state_dict"]["ctx"]
        drift[name] = held_out_drift(toy.clip, ctx, held_out)
    assert drift["CoOp"] > 1e-3, drift  # CoOp alone bends the structure (float noise: 1e-6)
    assert drift["CoOp_SAR"] < 0.7 * drift["CoOp"], drift


# ---- regression: the traced collapse (docs/toy_world.md, "SAR stability") ----------------------

COLLAPSE_STATE = os.path.join(ROOT, "tests", "data", "sar_collapse_stress100_seed5_epoch20.json")
STRESS_MODEL = os.path.join(ROOT, "tools", "toy_world", "toy_clip_seed0_nocrop.pt")
BENCH_COOP_OPTS = ["TRAINER.COOP.N_CTX", "4", "TRAINER.COOP.CSC", "False",  # the scripts' facts
                   "TRAINER.COOP.CLASS_TOKEN_POSITION", "end", "DATASET.NUM_SHOTS", "16",
                   "DATASET.SUBSAMPLE_CLASSES", "base", "OPTIM.MAX_EPOCH", "50"]


@pytest.fixture(scope="module")
def stress100(tmp_path_factory):
    # the 32 training images per class are the run's; validation and test are not needed
    return toy_world_setup(tmp_path_factory, 0, images=(32, 1, 1), model=STRESS_MODEL,
                           style="pretrain", logit_scale=100.0)


def sar_losses_from_epoch_20(toy, out, *opts):
    """Resume the traced run at the end of its epoch 20 (context, momentum, learning rate) and
    train epochs 21 and 22 as it did, with the config's SAR knobs and ``opts``; returns
    loss_sar of every step."""
    with open(COLLAPSE_STATE) as f:
        state = json.load(f)
    trainer = trainer_for(toy_argv(toy, out, "CoOp_SAR", "CoOp_SAR/vit_b16_ctxv1", "--seed", "5",
                                   opts=[*BENCH_COOP_OPTS, *opts]))
    trainer.before_train()
    learner = trainer.model.prompt_learner
    with torch.no_grad():
        learner.ctx.copy_(torch.tensor(state["ctx"]))
    trainer.optim.state[learner.ctx]["momentum_buffer"] = torch.tensor(state["momentum"])
    for _ in range(state["epoch"]):
        trainer.sched.step()
    assert trainer.optim.param_groups[0]["lr"] == pytest.approx(state["lr"])
    losses, step = [], trainer.forward_backward
    trainer.forward_backward = lambda batch: losses.append(step(batch)["loss_sar"]) or {}
    for trainer.epoch in range(state["epoch"], state["epoch"] + 2):
        trainer.before_epoch()
        trainer.run_epoch()
    return losses


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step()`")  # the replayed epochs
def test_the_traced_collapse_no_longer_happens(stress100, tmp_path):
    unguarded = sar_losses_from_epoch_20(stress100, tmp_path / "off", "TRAINER.SAR.GRAD_CLIP", "0",
                                         "TRAINER.SAR.ROLLBACK", "0")  # the plain step
    # the recorded state still collapses without the guard: 0.04 -> 19 in one batch, and stays
    assert max(unguarded[:7]) < 0.05 and min(unguarded[8:]) > 10
    guarded = sar_losses_from_epoch_20(stress100, tmp_path / "on")  # the YAML's defaults
    # bounded steps still let loss_sar rise, but L_SAR pulls the context back within the epoch
    assert guarded[-1] < 0.05, guarded


def test_trace_logs_every_term_and_its_gradient_each_step(env):
    out = env.base / "trace"
    assert train.main(argv(env, "CoOp_SAR", out, opts=[
        "TRAINER.SAR.NUM_NOVEL", "4", "TRAINER.SAR.TRACE", "True"])) == 0
    lines = [line for line in read_log(out).splitlines() if line.startswith("SAR trace:")]
    assert lines and all(" loss_sar " in line and "prompt norm" in line for line in lines)


def test_rollback_undoes_the_update_before_a_jump_in_a_real_step(env, capsys):
    """ROLLBACK, through the trainer's own step: the step after L_SAR jumped puts the prompts
    back where the last update found them, with the optimizer's velocity zeroed."""
    trainer = make_trainer(env, env.base / "rollback", "TRAINER.SAR.ROLLBACK", "10.0",
                           "TRAINER.SAR.BOUND", "update")
    trainer.build_sar()
    batch = next(iter(trainer.train_loader_x))
    params = list(trainer.model.prompt_learner.parameters())
    start = [p.detach().clone() for p in params]
    trainer.forward_backward(batch)  # an ordinary step: it moves
    assert any(not torch.equal(p, s) for p, s in zip(params, start))
    trainer.sar.rollback.mean, trainer.sar.rollback.FLOOR = 1e-12, 0.0  # the next L_SAR jumps
    trainer.forward_backward(batch)
    assert "SAR rollback: epoch 1 batch 1" in capsys.readouterr().out
    for param, before in zip(params, start):
        torch.testing.assert_close(param.detach(), before, rtol=1e-4, atol=1e-6)  # weight decay
    state = trainer.optim.state  # the velocity left is this one step's weight decay alone
    wd = trainer.cfg.OPTIM.WEIGHT_DECAY
    for param in params:
        velocity = state[param]["momentum_buffer"]
        torch.testing.assert_close(velocity, wd * param.detach(), rtol=1e-3, atol=1e-9)


# ---- regression: MaPLe_SAR's collapse after the warm-up (docs/toy_world.md, "SAR stability") ---

MAPLE_FAITHFUL_OPTS = ["DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", "base",
                       "TRAINER.MAPLE.PROMPT_DEPTH", "2"]  # the toy bench's MaPLe facts


def bench_world(tmp_path_factory, kind):
    """The world ``make --kind`` writes: the very one the bench's tables ran on."""
    from tools.toy_world.cli import main as toy_main
    from tools.toy_world.layout import DATA_FOLDER, MODEL_FILE, bank_path

    world = tmp_path_factory.mktemp(f"{kind}_full") / "world"
    assert toy_main(["make", "--out", str(world), "--kind", kind]) == 0
    root = world / DATA_FOLDER
    return SimpleNamespace(root=str(root), clip=str(world / MODEL_FILE), bank=bank_path(root))


@pytest.fixture(scope="module")
def faithful_world(tmp_path_factory):
    return bench_world(tmp_path_factory, "faithful")


@pytest.fixture(scope="module")
def stress100_world(tmp_path_factory):
    return bench_world(tmp_path_factory, "stress100")


def maple_sar_losses_first_two_epochs(toy, out, *opts, lr_blind=False, seed=2):
    """loss_sar of every step of MaPLe_SAR's warm-up epoch and first full-rate epoch on the
    world ``toy`` (the faithful one, seed 2, unless told), as train.py seeds it. ``lr_blind``:
    the guard sees a learning rate of 1, i.e. it bounds the gradient alone (the guard before
    this fix)."""
    from dassl.utils import set_random_seed

    argv = toy_argv(toy, out, "MaPLe_SAR", "MaPLe_SAR/vit_b16_c2_ep5_batch4_2ctx",
                    opts=[*MAPLE_FAITHFUL_OPTS, *opts])
    argv[argv.index("--seed") + 1] = str(seed)
    set_random_seed(seed)
    trainer = trainer_for(argv)
    if lr_blind:
        trainer.get_current_lr = lambda names=None: 1.0
    trainer.before_train()
    losses, step = [], trainer.forward_backward
    trainer.forward_backward = lambda batch: losses.append(step(batch)["loss_sar"]) or {}
    for trainer.epoch in range(2):
        trainer.before_epoch()
        trainer.run_epoch()
    return losses


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step()`")
def test_maple_sar_does_not_collapse_after_the_warm_up(faithful_world, tmp_path):
    # the first full-rate step (lr 1e-5 -> 3.5e-3) throws the prompts into a corner that
    # L_SAR does not pull them back from, unguarded or with the gradient-only bound
    no_rollback = ("TRAINER.SAR.ROLLBACK", "0")  # the step as it was before either fix
    for opts, lr_blind in (((("TRAINER.SAR.GRAD_CLIP", "0"),), False), ((), True)):
        losses = maple_sar_losses_first_two_epochs(
            faithful_world, tmp_path / f"old{len(opts)}", *[x for o in opts for x in o],
            *no_rollback, lr_blind=lr_blind)
        assert max(losses[:72]) < 1.5 and min(losses[-20:]) > 1.0, losses
    guarded = maple_sar_losses_first_two_epochs(faithful_world, tmp_path / "on")  # defaults
    # the bounded step still lets loss_sar rise, but L_SAR pulls the prompts back in the epoch
    assert max(guarded[-20:]) < 0.05, guarded
    # the update bound holds the momentum the warm-up filled too: loss_sar hardly rises
    updates = maple_sar_losses_first_two_epochs(faithful_world, tmp_path / "update",
                                                "TRAINER.SAR.BOUND", "update")
    assert max(updates[72:]) < 1.0 and max(updates[-20:]) < 0.05, updates


# ---- regression: MaPLe_SAR's cliff on stress100 (docs/toy_world.md, "A rollback") ----------


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step()`")
def test_maple_sar_stress100_cliff_is_rolled_back(stress100_world, tmp_path):
    # seed 7 at the step bound alone: at epoch 2, batch 2, L_SAR leaps 0.98 -> 28 on a move the
    # bound admitted, then sits at 3.6 with no gradient out (the bench's 19.2 / 30.8)
    bounded = maple_sar_losses_first_two_epochs(stress100_world, tmp_path / "off",
                                                "TRAINER.SAR.ROLLBACK", "0.0", seed=7)
    assert max(bounded[:72]) < 1.5 and min(bounded[-20:]) > 1.0, bounded
    rolled = maple_sar_losses_first_two_epochs(stress100_world, tmp_path / "on", seed=7)  # YAML
    assert max(rolled[:72]) < 1.5 and max(rolled[72:]) > 10.0, rolled  # the leap is seen ...
    assert max(rolled[-20:]) < 0.05, rolled  # ... and undone: L_SAR ends near 0
