"""CoCoOp end to end through the real train.py, plus its mechanics on the tiny CLIP."""

import pytest
import torch

import train
import trainers.cocoop  # noqa: F401  (registers CoCoOp whether or not train.py imports it)
from dassl.config import get_cfg_default
from tests.helpers import (
    assert_only_prompts_learn,
    eurosat_setup,
    eval_on_new,
    read_log,
    train_argv,
    trainer_for,
    write_upstream_checkpoint,
)
from trainers.backbone import apply_precision, load_clip
from trainers.config import extend_cfg
from trainers.prompts import ClassTokens

NAMES = ["annual crop land", "forest", "river"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return eurosat_setup(tmp_path_factory, "cocoop")


def argv(setup, out, *extra, config="vit_b16_c4_ep10_batch1_ctxv1"):
    root, clip, _ = setup
    return train_argv(root, clip, out, "CoCoOp", f"CoCoOp/{config}", *extra)


def make_trainer(setup, out, *opts):
    return trainer_for(argv(setup, out, *opts))


def make_model(setup, prec="fp32"):
    cfg = extend_cfg(get_cfg_default())
    cfg.TRAINER.COCOOP.N_CTX = 4
    cfg.TRAINER.COCOOP.CTX_INIT = "a photo of a"
    torch.manual_seed(0)
    clip_model = apply_precision(load_clip(setup[1]), prec)
    return trainers.cocoop.CustomCLIP(cfg, NAMES, clip_model)


def test_train_base_then_evaluate_new(setup):
    out = setup[2] / "train_base"
    assert train.main(argv(setup, out, "DATASET.SUBSAMPLE_CLASSES", "base")) == 0
    log = read_log(out)
    assert "Finish training" in log and "* accuracy:" in log
    state = torch.load(out / "prompt_learner" / "model.pth.tar-1", weights_only=True)["state_dict"]
    assert set(state) == {"ctx", "meta_net.linear1.weight", "meta_net.linear1.bias",
                          "meta_net.linear2.weight", "meta_net.linear2.bias",
                          "token_prefix", "token_suffix"}
    assert state["ctx"].shape == (4, 64)
    assert state["meta_net.linear1.weight"].shape == (32 // 16, 32)  # vis_dim -> vis_dim / 16
    assert state["meta_net.linear2.weight"].shape == (64, 32 // 16)  # -> ctx_dim

    test_out = setup[2] / "test_new"
    assert train.main(argv(setup, test_out, *eval_on_new(out))) == 0
    log = read_log(test_out)
    assert "Loading weights to prompt_learner" in log and "* accuracy:" in log


def test_prompts_differ_per_image(setup):
    model = make_model(setup)
    pl = model.prompt_learner
    features = model.encode_image(torch.randn(2, 3, 32, 32))
    prompts = pl(features)
    n = pl.n_ctx
    assert prompts.shape == (2, len(NAMES), pl.max_len, 64)
    assert torch.equal(prompts[0, :, : 1], prompts[1, :, : 1])
    assert torch.equal(prompts[0, :, 1 + n :], prompts[1, :, 1 + n :])
    assert not torch.allclose(prompts[0, :, 1 : 1 + n], prompts[1, :, 1 : 1 + n])
    for b in range(2):  # every context token of image b is shifted by meta_net(f_b)
        expected = pl.ctx + pl.meta_net(features[b])
        assert torch.allclose(prompts[b, 1, 1 : 1 + n], expected, atol=1e-6)
    text = model(torch.randn(2, 3, 32, 32)).text_features
    assert text.shape == (2, len(NAMES), 32)
    assert not torch.allclose(text[0], text[1], atol=1e-4)


@pytest.mark.parametrize("shared", [True, False])  # TRAINER.SHARED_PREFIX
def test_batched_equals_one_image_at_a_time_in_one_text_pass(setup, shared):
    model = make_model(setup)
    model.text_encoder.shared_prefix = shared
    images = torch.randn(4, 3, 32, 32)
    calls = []
    handle = model.text_encoder.register_forward_hook(lambda _m, args, _o: calls.append(args[0]))
    batched = model(images).logits
    handle.remove()
    assert len(calls) == 1  # no loop over images
    if shared:  # one prefix per image; the class suffixes are not repeated per image
        assert calls[0].prefix.shape[0] == 4 and len(calls[0].eos) == len(NAMES)
    else:
        assert calls[0].shape[0] == 4 * len(NAMES)
    single = torch.cat([model(images[i : i + 1]).logits for i in range(4)])
    assert batched.shape == (4, len(NAMES))
    assert torch.allclose(batched, single, atol=1e-4)
    model.prompts_per_pass = 2 * len(NAMES)  # memory bound: two images per text pass
    assert torch.allclose(model(images).logits, batched, atol=1e-5)


def test_extra_classes_go_through_the_same_per_image_prompts(setup):
    model = make_model(setup)
    pl = model.prompt_learner
    extra = ClassTokens.build(model.text_encoder, ["glacier", "desert"], pl.prompt_prefix, pl.n_ctx)
    images = torch.randn(2, 3, 32, 32)
    plain = model(images)
    joint = model(images, extra_classes=extra)
    assert joint.text_features.shape == (2, len(NAMES) + 2, 32)
    assert torch.allclose(joint.logits, plain.logits, atol=1e-4)
    alone = model.encode_text(extra, plain.image_features)
    assert torch.allclose(joint.text_features[:, len(NAMES) :], alone, atol=1e-5)


def test_half_clip_keeps_fp32_prompt_parameters(setup):
    model = make_model(setup, prec="bf16")
    output = model(torch.randn(2, 3, 32, 32))
    output.logits.sum().backward()
    assert torch.isfinite(output.logits).all()
    for param in model.prompt_learner.parameters():
        assert param.dtype == torch.float32 and param.grad.dtype == torch.float32


def test_only_prompts_learn_and_clip_stays_bit_identical(setup, tmp_path):
    trainer = make_trainer(setup, tmp_path / "out", "DATASET.SUBSAMPLE_CLASSES", "base")
    summary = assert_only_prompts_learn(trainer)
    assert set(summary) == {"loss", "acc"}


def test_upstream_checkpoint_gives_the_same_logits(setup, tmp_path):
    trainer = make_trainer(setup, tmp_path / "out", "DATASET.SUBSAMPLE_CLASSES", "new")
    pl = trainer.model.prompt_learner
    generator = torch.Generator().manual_seed(3)
    upstream = {  # upstream's keys, saved in fp16 as its default PREC does, for 5 base classes
        key: torch.randn(value.shape, generator=generator).half()
        for key, value in pl.state_dict().items()
    }
    upstream["token_prefix"] = torch.randn(5, 1, 64).half()
    upstream["token_suffix"] = torch.randn(5, 72, 64).half()
    directory = write_upstream_checkpoint(tmp_path / "upstream", "prompt_learner", upstream, 10)
    prefix = pl.token_prefix.clone()
    image = torch.randn(3, 3, 32, 32)

    trainer.load_model(directory, epoch=10)
    loaded = trainer.model_inference(image)
    assert torch.equal(pl.token_prefix, prefix)  # class-dependent buffers are not loaded
    with torch.no_grad():
        for name, param in pl.named_parameters():
            param.copy_(upstream[name])
    assert torch.equal(loaded, trainer.model_inference(image))
