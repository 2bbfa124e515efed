"""The ATPrompt trainers and their SAR stacks on the tiny CLIP and the synthetic EuroSAT, through
the real train.py; upstream's YAML and command line; the tokens SAR's novel classes take."""

import inspect
import os

import pytest
import torch

import train
import trainers.atprompt_trainers as atp_trainers
from dassl.engine import TRAINER_REGISTRY
from dassl.utils import load_checkpoint
from tests.helpers import PROMPTSRC_TINY, eurosat_with_bank, read_log, train_argv, trainer_for
from trainers.atprompt import ATPromptMixin
from trainers.prompts import tokenize
from trainers.sar import SARMixin

BANK = ["farmland", "desert", "glacier", "airport", "harbor", "parking lot", "vineyard"]
BASELINES = {  # ATPrompt trainer: (its config, the checkpoint folder of its baseline)
    "CoOp_ATP": ("vit_b16_ep100", "prompt_learner"),
    "CoCoOp_ATP": ("vit_b16_c4_ep10_batch1_ctxv1", "prompt_learner"),
    "KgCoOp_ATP": ("vit_b16_ep100_ctxv1", "prompt_learner"),
    "MaPLe_ATP": ("vit_b16_c2_ep5_batch4_2ctx", "MultiModalPromptLearner"),
    "PromptSRC_ATP": ("vit_b16_c2_ep20_batch4_4+4ctx", "VLPromptLearner"),
}
TRAINERS = {**BASELINES, **{f"{name}_SAR": spec for name, spec in BASELINES.items()}}
PETS_WORDS = ["TRAINER.ATPROMPT.ATT_NUM", "2", "TRAINER.ATPROMPT.ATT1_TEXT", "playfulness",
              "TRAINER.ATPROMPT.ATT2_TEXT", "energy", "TRAINER.ATPROMPT.N_ATT1", "2",
              "TRAINER.ATPROMPT.N_ATT2", "2"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    return eurosat_with_bank(tmp_path_factory, "atprompt", BANK)


def argv(env, trainer, out, flags=(), opts=()):
    config = f"{trainer}/{TRAINERS[trainer][0]}"
    return train_argv(env.root, env.clip, out, trainer, config, *flags, opts=[
        "DATASET.SUBSAMPLE_CLASSES", "base", "TRAINER.SAR.NOVEL_SOURCE", env.bank,
        "TRAINER.SAR.NUM_NOVEL", "4", "TRAINER.MAPLE.PROMPT_DEPTH", "2", *PROMPTSRC_TINY, *opts,
    ])


def test_ten_trainers_are_one_line_each():
    for name, (_, _) in TRAINERS.items():
        trainer = TRAINER_REGISTRY.get(name)
        assert issubclass(trainer, ATPromptMixin)
        assert issubclass(trainer, SARMixin) == name.endswith("_SAR")
        assert len(inspect.getsource(trainer).splitlines()) == 3  # decorator, class, pass
        assert getattr(atp_trainers, name) is trainer


@pytest.mark.parametrize("name", list(TRAINERS))
def test_trains_on_base_then_evaluates_new(env, name):
    out = env.base / f"{name}_base"
    assert train.main(argv(env, name, out)) == 0
    log = read_log(out)
    assert "ATPrompt: attribute words habitat (EuroSAT's defaults" in log
    assert "Finish training" in log
    assert (" loss_sar " in log) == name.endswith("_SAR")
    folder = TRAINERS[name][1]
    state = load_checkpoint(str(out / folder / "model.pth.tar-1"))["state_dict"]
    assert "lead_blocks.ctx_att1" in state and "lead_blocks.ctx_att2" not in state
    assert not any(key.startswith(("novel", "lead_blocks.word")) for key in state)

    test_out = env.base / f"{name}_new"
    flags = ["--eval-only", "--model-dir", str(out), "--load-epoch", "1"]
    assert train.main(argv(env, name, test_out, flags=flags,
                           opts=["DATASET.SUBSAMPLE_CLASSES", "new"])) == 0
    log = read_log(test_out)
    assert f"Loading weights to {folder}" in log and "* accuracy:" in log


def test_sar_novel_classes_take_the_same_anchored_prompt(env):
    """Base and novel classes: the same text around the name, with a two-token word; one text
    pass over both, and loss_sar reaches the attribute blocks."""
    trainer = trainer_for(argv(env, "CoOp_ATP_SAR", env.base / "stack",
                               opts=[*PETS_WORDS, "TRAINER.COOP.N_CTX", "2"]))
    trainer.build_sar()
    learner = trainer.model.prompt_learner
    lead = "X X playfulness X X energy X X"
    base = learner.class_tokens()
    novel = learner.with_lead(trainer.sar_bank.embedded(trainer.model.text_encoder,
                                                        range(len(BANK))))
    base_names = [n.replace("_", " ") for n in trainer.dm.dataset.classnames]
    assert torch.equal(base.tokenized, tokenize([f"{lead} {n}." for n in base_names]))
    assert torch.equal(novel.tokenized.cpu(), tokenize([f"{lead} {n}." for n in BANK]))
    assert novel.prefix.shape[1] == base.prefix.shape[1] == 1 + 7
    assert torch.equal(novel.prefix, base.prefix[:1].expand(len(BANK), -1, -1))
    batch = next(iter(trainer.train_loader_x))
    terms, _ = trainer.compute_loss(*trainer.parse_batch_train(batch))
    assert torch.isfinite(terms["loss_sar"]) and terms["loss_sar"].item() > 0
    terms["loss_sar"].backward()
    assert learner.lead_blocks.ctx_att1.grad.abs().sum() > 0


def test_upstream_yaml_and_command_line_merge(env, tmp_path):
    """Upstream's CoOp config with a TRAINER.ATPROMPT node and its scripts' opts."""
    yaml_path = tmp_path / "upstream_coop_atp.yaml"
    with open(os.path.join("configs", "trainers", "CoOp", "vit_b16.yaml")) as f:
        yaml_path.write_text(f.read() + "\nTRAINER:\n  ATPROMPT:\n    USE_ATPROMPT: False\n"
                             "    ATT_NUM: 0\n    ATT1_TEXT: 'none'\n    N_ATT1: 4\n")
    upstream_opts = ["TRAINER.COOP.N_CTX", "2", "TRAINER.COOP.CSC", "False",
                     "TRAINER.COOP.CLASS_TOKEN_POSITION", "end",
                     "TRAINER.ATPROMPT.USE_ATPROMPT", "True", "TRAINER.ATPROMPT.N_ATT1", "2",
                     "TRAINER.ATPROMPT.N_ATT2", "2", "TRAINER.ATPROMPT.N_ATT3", "2"]
    args = train_argv(env.root, env.clip, tmp_path / "o", "CoOp_ATP", "CoOp_ATP/vit_b16_ep100",
                      opts=upstream_opts)
    args[args.index("--config-file") + 1] = str(yaml_path)
    trainer = trainer_for(args)
    blocks = trainer.model.prompt_learner.lead_blocks
    assert blocks.words == ["habitat"] and blocks.n_soft == [2]
    assert trainer.model.prompt_learner.n_ctx == 2


def test_use_atprompt_false_is_the_baseline(env):
    trainer = trainer_for(argv(env, "CoOp_ATP", env.base / "off",
                               opts=["TRAINER.ATPROMPT.USE_ATPROMPT", "False"]))
    learner = trainer.model.prompt_learner
    assert not hasattr(learner, "lead_blocks") and learner.class_tokens().prefix.shape[1] == 1


def test_keep_ctx_init_keeps_the_words(env):
    trainer = trainer_for(argv(env, "MaPLe_ATP", env.base / "kept",
                               opts=["TRAINER.ATPROMPT.KEEP_CTX_INIT", "True"]))
    learner = trainer.model.prompt_learner
    assert learner.prompt_prefix == "a photo of a"  # N_CTX 2: "of a" stays frozen text
    default = trainer_for(argv(env, "MaPLe_ATP", env.base / "random"))
    assert default.model.prompt_learner.prompt_prefix == "X X"
