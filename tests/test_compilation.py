"""TRAINER.COMPILE: off by default, refuses unknown modes, and changes no result when on."""

import pytest
import torch

from dassl.config import get_cfg_default
from tests.helpers import eurosat_setup, train_argv, train_steps, trainer_for
from trainers.backbone import load_clip
from trainers.compilation import compile_settings
from trainers.config import extend_cfg
from trainers.prompts import ClassTokens, assemble_prompts
from trainers.text_encoder import TextEncoder

CONFIGS = {"CoOp": "CoOp/vit_b16_ctxv1", "MaPLe": "MaPLe/vit_b16_c2_ep5_batch4_2ctx",
           "CoCoOp": "CoCoOp/vit_b16_c4_ep10_batch1_ctxv1"}
EXTRA_OPTS = {"MaPLe": ["TRAINER.MAPLE.PROMPT_DEPTH", "2"]}  # deep prompts in the tiny CLIP


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return eurosat_setup(tmp_path_factory, "compile")


def test_off_by_default_and_absent_node_means_off():
    assert compile_settings(extend_cfg(get_cfg_default())) is None
    assert compile_settings(get_cfg_default()) is None  # an upstream fork's config: no node


def test_unknown_mode_is_refused_with_the_key():
    cfg = extend_cfg(get_cfg_default())
    cfg.TRAINER.COMPILE.MODE = "fastest"
    with pytest.raises(ValueError, match="TRAINER.COMPILE.MODE .*'fastest'"):
        compile_settings(cfg)


def test_rounded_context_length_is_exact(setup):
    clip_model = load_clip(setup[1])
    encoder = TextEncoder(clip_model)
    tokens = ClassTokens.build(clip_model, ["river", "sea or lake"], "X X X X", 4)
    prompts = assemble_prompts(torch.randn(4, 64), tokens)
    exact = encoder(prompts, tokens.tokenized, max_len=tokens.max_len)
    encoder.length_multiple = 8
    assert encoder.context_length(tokens.max_len) % 8 == 0
    assert encoder.context_length(75) == 77  # never past CLIP's context
    rounded = encoder(prompts, tokens.tokenized, max_len=tokens.max_len)
    assert torch.allclose(exact, rounded, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("trainer", sorted(CONFIGS))
def test_compiled_training_matches_eager(setup, tmp_path, trainer):
    root, clip, _ = setup
    results = {}
    for mode in ("", "default"):
        torch.manual_seed(0)
        argv = train_argv(root, clip, tmp_path / (mode or "eager"), trainer, CONFIGS[trainer],
                          opts=["TRAINER.COMPILE.MODE", mode, "TRAINER.COMPILE.BACKEND",
                                "aot_eager", "DATALOADER.TRAIN_X.BATCH_SIZE", "2",
                                *EXTRA_OPTS.get(trainer, [])])
        instance = trainer_for(argv)
        assert instance.compiled == bool(mode)
        assert (instance.model.text_encoder._compiled_call_impl is not None) == bool(mode)
        summary = train_steps(instance, steps=2)
        learner = instance.model.prompt_learner
        grads = {name: p.grad.clone() for name, p in learner.named_parameters()}
        results[mode] = (summary["loss"], grads)
    (eager_loss, eager_grads), (compiled_loss, compiled_grads) = results[""], results["default"]
    assert compiled_loss == pytest.approx(eager_loss, rel=1e-4)
    assert eager_grads.keys() == compiled_grads.keys()
    for name, grad in eager_grads.items():
        assert grad.abs().sum() > 0, name
        diff = (compiled_grads[name] - grad).abs().max().item()
        assert diff <= 1e-4 * grad.abs().max().item(), (name, diff)
