"""MaPLe end to end through the real train.py, plus its coupled deep prompts per layer."""

import pytest
import torch

import train
import trainers.maple  # noqa: F401  (registers MaPLe whether or not train.py imports it)
from dassl.config import get_cfg_default
from tests.helpers import (
    assert_only_prompts_learn,
    eurosat_setup,
    eval_on_new,
    read_log,
    record_blocks,
    train_argv,
    trainer_for,
    write_upstream_checkpoint,
)
from trainers.backbone import apply_precision, load_clip
from trainers.config import extend_cfg
from trainers.prompts import ClassTokens

NAMES = ["annual crop land", "forest", "river"]
N_CTX = 2


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return eurosat_setup(tmp_path_factory, "maple")


def argv(setup, out, *extra):
    root, clip, _ = setup
    return train_argv(root, clip, out, "MaPLe", "MaPLe/vit_b16_c2_ep5_batch4_2ctx", *extra,
                      opts=["TRAINER.MAPLE.PROMPT_DEPTH", "2"])  # the tiny CLIP has 2 layers


def make_trainer(setup, out, *opts):
    return trainer_for(argv(setup, out, *opts))


def make_model(setup, depth, prec="fp32", seed=0):
    cfg = extend_cfg(get_cfg_default())
    cfg.TRAINER.MAPLE.PROMPT_DEPTH = depth
    torch.manual_seed(seed)
    clip_model = apply_precision(load_clip(setup[1]), prec)
    return trainers.maple.CustomCLIP(cfg, NAMES, clip_model)


def run_recorded(model, image):
    # block hooks see whole prompts on the per-class path; the shared-prefix path, which calls
    # the blocks' parts, is checked against it in tests/test_shared_prefix.py
    model.text_encoder.shared_prefix = False
    text, text_handles = record_blocks(model.text_encoder.transformer.resblocks)
    vision, vision_handles = record_blocks(model.image_encoder.transformer.resblocks)
    with torch.no_grad():
        model(image)
    for handle in text_handles + vision_handles:
        handle.remove()
    return text, vision


EXPECTED_KEYS = {
    "ctx", "proj.weight", "proj.bias", "compound_prompts_text.0",
    "compound_prompt_projections.0.weight", "compound_prompt_projections.0.bias",
    "token_prefix", "token_suffix",
}


def test_train_base_then_evaluate_new(setup):
    out = setup[2] / "train_base"
    assert train.main(argv(setup, out, "DATASET.SUBSAMPLE_CLASSES", "base")) == 0
    log = read_log(out)
    assert "Finish training" in log and "* accuracy:" in log
    path = out / "MultiModalPromptLearner" / "model.pth.tar-1"
    state = torch.load(path, weights_only=True)["state_dict"]
    assert set(state) == EXPECTED_KEYS
    assert state["ctx"].shape == (N_CTX, 64)
    assert state["proj.weight"].shape == (64, 64)  # ctx_dim -> vision width

    test_out = setup[2] / "test_new"
    assert train.main(argv(setup, test_out, *eval_on_new(out))) == 0
    log = read_log(test_out)
    assert "Loading weights to MultiModalPromptLearner" in log and "* accuracy:" in log


def test_context_is_the_first_words_and_the_rest_stay_in_the_prompt(setup):
    model = make_model(setup, depth=1)
    pl = model.prompt_learner
    assert pl.prompt_prefix == "a photo of a" and pl.n_ctx == N_CTX
    photo = ClassTokens.build(model.text_encoder, ["x"], "a photo of a", 0)
    # upstream: ctx = embeddings of "a photo"; "of a <name>." stays frozen in the suffix
    assert torch.equal(pl.ctx.detach(), photo.suffix[0, :N_CTX])
    assert torch.equal(pl.token_suffix[0, :2], photo.suffix[0, N_CTX : N_CTX + 2])


def test_depth_one_injects_nothing_beyond_the_first_layer(setup):
    model = make_model(setup, depth=1)
    assert len(model.prompt_learner.compound_prompts_text) == 0
    text, vision = run_recorded(model, torch.randn(2, 3, 32, 32))
    assert torch.equal(text[("in", 1)], text[("out", 0)])
    assert torch.equal(vision[("in", 1)], vision[("out", 0)])
    # the shallow prompts are there at the first layer: text ctx and proj(ctx) after ln_pre
    pl = model.prompt_learner
    assert torch.allclose(text[("in", 0)][:, 1 : 1 + N_CTX],
                          (pl.ctx + model.text_encoder.positional_embedding[1 : 1 + N_CTX])
                          .detach().expand(len(NAMES), -1, -1), atol=1e-6)
    shallow = model.image_encoder.ln_pre(pl.proj(pl.ctx)).detach()
    assert torch.allclose(vision[("in", 0)][:, -N_CTX:], shallow.expand(2, -1, -1), atol=1e-6)


def test_deeper_prompts_replace_the_prompt_tokens_in_both_branches(setup):
    model = make_model(setup, depth=2)
    pl = model.prompt_learner
    text, vision = run_recorded(model, torch.randn(2, 3, 32, 32))
    text_in, text_out = text[("in", 1)], text[("out", 0)]
    assert torch.equal(text_in[:, 1 : 1 + N_CTX],
                       pl.compound_prompts_text[0].detach().expand(len(NAMES), -1, -1))
    assert torch.equal(text_in[:, :1], text_out[:, :1])
    assert torch.equal(text_in[:, 1 + N_CTX :], text_out[:, 1 + N_CTX :])
    coupled = pl.compound_prompt_projections[0](pl.compound_prompts_text[0]).detach()
    vision_in, vision_out = vision[("in", 1)], vision[("out", 0)]
    assert torch.equal(vision_in[:, -N_CTX:], coupled.expand(2, -1, -1))
    assert torch.equal(vision_in[:, :-N_CTX], vision_out[:, :-N_CTX])


def test_deeper_settings_change_both_encoders(setup):
    deep = make_model(setup, depth=2)
    shallow = make_model(setup, depth=1)
    shared = {k: v for k, v in deep.prompt_learner.state_dict().items()
              if not k.startswith("compound_")}
    shallow.prompt_learner.load_state_dict(shared)
    image = torch.randn(2, 3, 32, 32)
    tokens = deep.prompt_learner.class_tokens()
    with torch.no_grad():
        assert not torch.allclose(deep.encode_image(image), shallow.encode_image(image), atol=1e-4)
        assert not torch.allclose(deep.encode_text(tokens), shallow.encode_text(tokens), atol=1e-4)


def test_extra_classes_go_through_the_same_deep_prompts(setup):
    model = make_model(setup, depth=2)
    pl = model.prompt_learner
    extra = ClassTokens.build(model.text_encoder, ["glacier"], pl.prompt_prefix, pl.n_ctx)
    image = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        plain = model(image)
        joint = model(image, extra_classes=extra)
        alone = model.encode_text(extra)
    assert joint.text_features.shape == (len(NAMES) + 1, 32)
    assert torch.allclose(joint.logits, plain.logits, atol=1e-4)
    assert torch.allclose(joint.text_features[len(NAMES) :], alone, atol=1e-5)


def test_half_clip_keeps_fp32_prompt_parameters(setup):
    model = make_model(setup, depth=2, prec="bf16")
    output = model(torch.randn(2, 3, 32, 32))
    output.logits.float().sum().backward()
    assert torch.isfinite(output.logits).all()
    for name, param in model.prompt_learner.named_parameters():
        assert param.dtype == torch.float32, name
        assert param.grad is not None and param.grad.dtype == torch.float32, name


def test_bad_settings_are_refused(setup):
    with pytest.raises(ValueError, match="PROMPT_DEPTH"):
        make_model(setup, depth=0)
    cfg = extend_cfg(get_cfg_default())
    cfg.TRAINER.MAPLE.N_CTX, cfg.TRAINER.MAPLE.CTX_INIT = 3, "a photo"
    with pytest.raises(ValueError, match="N_CTX 3"):
        trainers.maple.CustomCLIP(cfg, NAMES, load_clip(setup[1]))
    with pytest.warns(UserWarning, match="PROMPT_DEPTH 9 exceeds the 2 layers .*; using 2"):
        model = make_model(setup, depth=9)
    assert model.prompt_learner.compound_prompts_depth == 2  # clamped: every prompt is read
    assert len(model.prompt_learner.compound_prompts_text) == 1


def test_only_prompts_learn_and_clip_stays_bit_identical(setup, tmp_path):
    assert_only_prompts_learn(
        make_trainer(setup, tmp_path / "out", "DATASET.SUBSAMPLE_CLASSES", "base"))


def test_upstream_checkpoint_gives_the_same_logits(setup, tmp_path):
    trainer = make_trainer(setup, tmp_path / "out", "DATASET.SUBSAMPLE_CLASSES", "new")
    model = trainer.model
    pl = model.prompt_learner
    generator = torch.Generator().manual_seed(7)
    learned = {key: torch.randn(value.shape, generator=generator).half()
               for key, value in pl.named_parameters()}
    # upstream registers its whole CustomCLIP: prompt_learner.* next to CLIP's own weights
    upstream = {f"prompt_learner.{key}": value for key, value in learned.items()}
    upstream["prompt_learner.token_prefix"] = torch.randn(5, 1, 64).half()
    upstream["prompt_learner.token_suffix"] = torch.randn(5, 74, 64).half()
    upstream["image_encoder.conv1.weight"] = torch.zeros(64, 3, 8, 8).half()
    upstream["text_encoder.positional_embedding"] = torch.zeros(77, 64).half()
    upstream["logit_scale"] = torch.tensor(0.0).half()
    directory = write_upstream_checkpoint(
        tmp_path / "upstream", "MultiModalPromptLearner", upstream, 5)
    clip_before = {k: v.clone() for k, v in model.state_dict().items()
                   if not k.startswith("prompt_learner.")}
    image = torch.randn(3, 3, 32, 32)

    trainer.load_model(directory, epoch=5)
    loaded = trainer.model_inference(image)
    after = model.state_dict()
    assert all(torch.equal(clip_before[k], after[k]) for k in clip_before)  # CLIP untouched
    with torch.no_grad():
        for name, param in pl.named_parameters():
            param.copy_(learned[name])
    assert torch.equal(loaded, trainer.model_inference(image))
