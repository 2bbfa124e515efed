"""PromptSRC end to end through the real train.py, plus its prompts, losses, GPA and loading."""

import pytest
import torch
import torch.nn.functional as F

import train
import trainers.promptsrc
from dassl.config import get_cfg_default
from tests.helpers import (
    PROMPTSRC_TINY,
    assert_only_prompts_learn,
    eurosat_setup,
    eval_on_new,
    read_log,
    record_blocks,
    train_argv,
    trainer_for,
    write_upstream_checkpoint,
)
from trainers.backbone import load_clip
from trainers.config import extend_cfg
from trainers.gpa import gaussian_epoch_weights
from trainers.prompts import PROMPTSRC_TEMPLATES, tokenize

NAMES = ["annual crop land", "forest", "river"]
CONFIG = "PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return eurosat_setup(tmp_path_factory, "promptsrc")


def argv(setup, out, *extra, opts=()):
    root, clip, _ = setup
    return train_argv(root, clip, out, "PromptSRC", CONFIG, *extra,
                      opts=[*PROMPTSRC_TINY, *opts])


def make_model(setup, depth_text=2, depth_vision=2, seed=0):
    cfg = extend_cfg(get_cfg_default())
    cfg.DATASET.NAME = "EuroSAT"
    cfg.TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT = depth_text
    cfg.TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION = depth_vision
    torch.manual_seed(seed)
    return trainers.promptsrc.CustomCLIP(cfg, NAMES, load_clip(setup[1]))


def test_train_base_then_evaluate_new(setup):
    out = setup[2] / "train_base"
    assert train.main(argv(setup, out, "DATASET.SUBSAMPLE_CLASSES", "base")) == 0
    log = read_log(out)
    for term in ("loss_ce", "loss_scl_text", "loss_scl_image", "loss_scl_logits"):
        assert f" {term} " in log, term
    assert "Using GPA model for final inference..." in log and "* accuracy:" in log
    state = torch.load(out / "VLPromptLearner" / "model.pth.tar-1",
                       weights_only=True)["state_dict"]
    prompts = {"ctx", "deep_text_prompts.0", "visual_prompt", "deep_visual_prompts.0"}
    assert set(state) == prompts | {"token_prefix", "token_suffix"} | {
        "gpa.ctx", "gpa.deep_text_prompts_0", "gpa.visual_prompt", "gpa.deep_visual_prompts_0"}
    assert state["ctx"].shape == (4, 64) and state["visual_prompt"].shape == (4, 64)

    test_out = setup[2] / "test_new"
    assert train.main(argv(setup, test_out, *eval_on_new(out))) == 0
    log = read_log(test_out)
    assert "Loading weights to VLPromptLearner" in log and "* accuracy:" in log


def test_deployed_prompts_are_the_gaussian_average_of_the_epoch_ends(setup, tmp_path):
    opts = ["OPTIM.MAX_EPOCH", "3", "TRAINER.PROMPTSRC.GPA_MEAN", "2",
            "TRAINER.PROMPTSRC.GPA_STD", "1", "DATASET.SUBSAMPLE_CLASSES", "base"]
    trainer = trainer_for(argv(setup, tmp_path / "gpa", opts=opts))
    learner = trainer.model.prompt_learner
    ends, real = [], learner.gpa.accumulate

    def record(epoch, module):
        ends.append({n: p.detach().clone() for n, p in module.named_parameters()})
        real(epoch, module)

    learner.gpa.accumulate = record
    trainer.train()
    weights = gaussian_epoch_weights(3, 2, 1)
    assert len(ends) == 3 and weights[1] > weights[0] == pytest.approx(weights[2])
    for name, param in learner.named_parameters():
        expected = sum(w * end[name] for w, end in zip(weights, ends))
        assert torch.allclose(param, expected, atol=1e-6), name
        assert not torch.allclose(param, ends[-1][name]), name  # not just the last epoch


def test_text_teacher_is_the_normalised_mean_of_60_raw_template_features(setup):
    assert len(PROMPTSRC_TEMPLATES) == 60 and "a photo of a {}." in PROMPTSRC_TEMPLATES
    assert "itap of the {}." in PROMPTSRC_TEMPLATES and "itap of a {}." not in PROMPTSRC_TEMPLATES
    model = make_model(setup)
    model.cache_teacher_text_features()
    clip_model = load_clip(setup[1])
    for index, name in enumerate(NAMES):
        with torch.no_grad():
            raw = clip_model.encode_text(tokenize([t.format(name) for t in PROMPTSRC_TEMPLATES]))
        expected = F.normalize(raw.mean(0), dim=0)
        assert torch.allclose(model.teacher_text_features[index], expected, atol=1e-5)


def test_prompts_enter_both_towers_independently_per_layer(setup):
    model = make_model(setup)
    pl = model.prompt_learner
    assert pl.prompt_prefix == "a photo of a" and pl.n_ctx == 4
    model.text_encoder.shared_prefix = False  # block hooks see whole prompts on this path
    text, handles = record_blocks(model.text_encoder.transformer.resblocks)
    vision, more = record_blocks(model.image_encoder.transformer.resblocks)
    with torch.no_grad():
        model(torch.randn(2, 3, 32, 32))
    for handle in handles + more:
        handle.remove()
    assert torch.equal(text[("in", 1)][:, 1:5], pl.deep_text_prompts[0].detach().expand(3, -1, -1))
    assert torch.equal(text[("in", 1)][:, 5:], text[("out", 0)][:, 5:])
    visual_in = vision[("in", 1)]
    assert torch.equal(visual_in[:, -4:], pl.deep_visual_prompts[0].detach().expand(2, -1, -1))
    assert torch.equal(visual_in[:, :-4], vision[("out", 0)][:, :-4])
    shallow = model.image_encoder.ln_pre(pl.visual_prompt).detach()
    assert torch.allclose(vision[("in", 0)][:, -4:], shallow.expand(2, -1, -1), atol=1e-6)


def test_without_visual_prompts_the_image_tower_is_frozen_clip(setup):
    model = make_model(setup, depth_text=1, depth_vision=0)
    pl = model.prompt_learner
    assert pl.visual_prompt is None and len(pl.deep_visual_prompts) == 0
    assert len(pl.deep_text_prompts) == 0
    image = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model.encode_image(image), model.encode_frozen_image(image))


def test_logit_distillation_by_hand():
    student = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    teacher = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    # row 1 is identical; row 2: KL((.5, .5) || softmax(1, 0)), divided by 2 x 2 entries
    p = torch.softmax(student[1], 0)
    expected = 0.5 * (torch.log(0.5 / p[0]) + torch.log(0.5 / p[1])) / 4
    assert trainers.promptsrc.logit_distillation(student, teacher) == pytest.approx(expected)
    assert trainers.promptsrc.logit_distillation(teacher, teacher) == 0


def test_loss_terms_and_weights(setup, tmp_path):
    opts = ["TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "0", "TRAINER.PROMPTSRC.TEXT_LOSS_WEIGHT",
            "2", "DATASET.SUBSAMPLE_CLASSES", "base"]
    trainer = trainer_for(argv(setup, tmp_path / "terms", opts=opts))
    model = trainer.model
    image, label = trainer.parse_batch_train(next(iter(trainer.train_loader_x)))
    terms, output = trainer.compute_loss(image, label)
    assert terms["loss_scl_image"] == 0  # no visual prompts: the image tower is frozen CLIP
    teacher = model.teacher_text_features
    expected = 2 * (output.text_features - teacher).abs().mean()
    assert terms["loss_scl_text"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert terms["loss_scl_logits"] > 0


def test_bad_depths_are_refused_and_unused_depth_warns(setup):
    with pytest.raises(ValueError, match="TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT"):
        make_model(setup, depth_text=0)
    with pytest.raises(ValueError, match="TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION"):
        make_model(setup, depth_vision=-1)
    with pytest.warns(UserWarning, match="PROMPT_DEPTH_VISION 9 exceeds the 2 layers"):
        model = make_model(setup, depth_vision=9)
    assert len(model.prompt_learner.deep_visual_prompts) == 1  # clamped to the tiny CLIP's 2


def test_only_prompts_learn_and_clip_stays_bit_identical(setup, tmp_path):
    assert_only_prompts_learn(
        trainer_for(argv(setup, tmp_path / "out", "DATASET.SUBSAMPLE_CLASSES", "base")))


def test_upstream_checkpoint_gives_the_same_logits(setup, tmp_path):
    trainer = trainer_for(argv(setup, tmp_path / "out", "DATASET.SUBSAMPLE_CLASSES", "new"))
    pl = trainer.model.prompt_learner
    generator = torch.Generator().manual_seed(7)
    learned = {key: torch.randn(value.shape, generator=generator)
               for key, value in pl.named_parameters()}
    # upstream registers its whole CustomCLIP: the deep prompts live inside CLIP's blocks
    upstream = {
        "prompt_learner.ctx": learned["ctx"].half(),
        "prompt_learner.token_prefix": torch.randn(5, 1, 64).half(),
        "prompt_learner.token_suffix": torch.randn(5, 72, 64).half(),
        "prompt_learner.ZS_image_encoder.conv1.weight": torch.zeros(64, 3, 8, 8).half(),
        "image_encoder.VPT": learned["visual_prompt"],
        "image_encoder.transformer.resblocks.1.VPT_shallow": learned["deep_visual_prompts.0"],
        "text_encoder.transformer.resblocks.1.VPT_shallow": learned["deep_text_prompts.0"],
        "image_encoder.conv1.weight": torch.zeros(64, 3, 8, 8).half(),
        "logit_scale": torch.tensor(0.0),
    }
    directory = write_upstream_checkpoint(tmp_path / "upstream", "VLPromptLearner", upstream, 20)
    image = torch.randn(3, 3, 32, 32)
    trainer.load_model(directory, epoch=20)
    loaded = trainer.model_inference(image)
    with torch.no_grad():
        for name, param in pl.named_parameters():
            param.copy_(learned[name].half().float() if name == "ctx" else learned[name])
    assert torch.equal(loaded, trainer.model_inference(image))


def test_resumed_run_ends_with_the_same_gpa_prompts(setup, tmp_path):
    import shutil

    opts = ["OPTIM.MAX_EPOCH", "3", "TRAIN.CHECKPOINT_FREQ", "1", "TRAINER.PROMPTSRC.GPA_MEAN",
            "2", "DATASET.SUBSAMPLE_CLASSES", "base"]
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    assert train.main(argv(setup, full, opts=opts)) == 0
    shutil.copytree(full, resumed)  # then roll the copy back to the end of epoch 2
    folder = resumed / "VLPromptLearner"
    (folder / "model.pth.tar-3").unlink()
    (folder / "checkpoint").write_text("model.pth.tar-2\n")
    for log in resumed.glob("log.txt*"):
        log.unlink()
    assert train.main(argv(setup, resumed, opts=opts)) == 0
    assert "Loading checkpoint from" in read_log(resumed)

    def final(out):
        path = out / "VLPromptLearner" / "model.pth.tar-3"
        return torch.load(path, weights_only=True)["state_dict"]

    expected, got = final(full), final(resumed)
    for key in ("ctx", "visual_prompt", "gpa.ctx"):
        assert torch.equal(got[key], expected[key]), key
