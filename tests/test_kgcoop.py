"""KgCoOp end to end through the real train.py, plus its knowledge-guided term."""

import pytest
import torch

import train
import trainers.base
import trainers.kgcoop  # noqa: F401  (registers KgCoOp whether or not train.py imports it)
from dassl.config import get_cfg_default
from tests.helpers import (
    assert_only_prompts_learn,
    eurosat_setup,
    eval_on_new,
    read_log,
    train_argv,
    train_steps,
    trainer_for,
    write_upstream_checkpoint,
)
from trainers.backbone import apply_precision, load_clip
from trainers.config import extend_cfg
from trainers.prompts import dataset_template
from trainers.sar_trainers import CoOp_SAR, KgCoOp_SAR
from trainers.text_encoder import hand_crafted_features

NAMES = ["annual crop land", "forest", "river"]
# KgCoOp's own table, as its trainers/kgcoop.py (CUSTOM_TEMPLATES) has it
KGCOOP_TEMPLATES = {
    "OxfordPets": "a photo of a {}, a type of pet.",
    "OxfordFlowers": "a photo of a {}, a type of flower.",
    "FGVCAircraft": "a photo of a {}, a type of aircraft.",
    "DescribableTextures": "a photo of a {}, a type of texture.",
    "EuroSAT": "a centered satellite photo of {}.",
    "StanfordCars": "a photo of a {}.",
    "Food101": "a photo of {}, a type of food.",
    "SUN397": "a photo of a {}.",
    "Caltech101": "a photo of a {}.",
    "UCF101": "a photo of a person doing {}.",
    "ImageNet": "a photo of a {}.",
    "ImageNetSketch": "a photo of a {}.",
    "ImageNetV2": "a photo of a {}.",
    "ImageNetA": "a photo of a {}.",
    "ImageNetR": "a photo of a {}.",
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return eurosat_setup(tmp_path_factory, "kgcoop")


def argv(setup, out, *extra):
    root, clip, _ = setup
    return train_argv(root, clip, out, "KgCoOp", "KgCoOp/vit_b16_ep100_ctxv1", *extra)


def make_trainer(setup, out, *opts):
    return trainer_for(argv(setup, out, *opts))


def make_model(setup, dataset, prec="fp32"):
    cfg = extend_cfg(get_cfg_default())
    cfg.TRAINER.COOP.CTX_INIT = True  # "a photo of a", as KgCoOp's YAML says
    cfg.DATASET.NAME = dataset
    return trainers.kgcoop.CustomCLIP(cfg, NAMES, apply_precision(load_clip(setup[1]), prec))


def test_train_base_then_evaluate_new(setup):
    out = setup[2] / "train_base"
    assert train.main(argv(setup, out, "DATASET.SUBSAMPLE_CLASSES", "base")) == 0
    log = read_log(out)
    assert "Finish training" in log and "* accuracy:" in log and "loss_kg" in log
    assert "a centered satellite photo of Forest." in log  # EuroSAT's hand-crafted template
    state = torch.load(out / "prompt_learner" / "model.pth.tar-1", weights_only=True)["state_dict"]
    assert set(state) == {"ctx", "token_prefix", "token_suffix"}
    assert state["ctx"].shape == (4, 64)  # CTX_INIT True: the 4 tokens of "a photo of a"

    test_out = setup[2] / "test_new"
    assert train.main(argv(setup, test_out, *eval_on_new(out))) == 0
    log = read_log(test_out)
    assert "Loading weights to prompt_learner" in log and "* accuracy:" in log


def test_kgcoop_and_kgcoop_sar_use_kgcoops_template_per_dataset():
    cfg = extend_cfg(get_cfg_default())
    for trainer in (trainers.kgcoop.KgCoOp, KgCoOp_SAR):
        table = trainer.hand_crafted_table(cfg)
        assert {name: dataset_template(name, table) for name in KGCOOP_TEMPLATES} \
            == KGCOOP_TEMPLATES
    assert dataset_template("DescribableTextures", CoOp_SAR.hand_crafted_table(cfg)) \
        == "{} texture."  # CoOp's table stays CoOp's
    cfg.TRAINER.COOP.TEMPLATES = "coop"  # the knob: KgCoOp on CoOp's table
    assert trainers.kgcoop.KgCoOp.hand_crafted_table(cfg) == "coop"
    cfg.TRAINER.COOP.TEMPLATES = "mine"
    with pytest.raises(ValueError, match="TRAINER.COOP.TEMPLATES must be one of coop, kgcoop"):
        KgCoOp_SAR.hand_crafted_table(cfg)


@pytest.mark.parametrize("table, template", [
    ("", "a photo of a {}, a type of texture."), ("coop", "{} texture."),
])
def test_hand_crafted_features_are_built_from_the_tables_strings(setup, tmp_path, table,
                                                                 template):
    trainer = make_trainer(setup, tmp_path / "out", "TRAINER.COOP.TEMPLATES", table)
    cfg = trainer.cfg.clone()
    cfg.defrost()
    cfg.DATASET.NAME = "DescribableTextures"
    model = trainer.build_custom_clip(cfg, NAMES, load_clip(setup[1]))
    expected = [[template.format(name)] for name in NAMES]
    assert model.hand_crafted_texts == expected
    model.cache_hand_crafted_features()
    assert torch.equal(model.hand_crafted_features,
                       hand_crafted_features(model.text_encoder, expected))


def test_extra_term_is_zero_when_learned_equals_hand_crafted(setup):
    # Caltech101's template is "a photo of a {}.", exactly the prompt "a photo of a" starts from
    model = make_model(setup, "Caltech101")
    image = torch.randn(2, 3, 32, 32)
    gap = model.knowledge_gap(model(image).text_features)
    assert abs(gap.item()) < 1e-6
    # EuroSAT's template differs from the learned prompt: the term is positive ...
    model = make_model(setup, "EuroSAT")
    output = model(image)
    assert model.knowledge_gap(output.text_features).item() > 1e-4
    # ... and vanishes once the learned features are the hand-crafted ones
    model.hand_crafted_features = output.text_features.detach().clone()
    assert abs(model.knowledge_gap(output.text_features).item()) < 1e-6


def test_loss_is_ce_plus_w_times_the_gap(setup, tmp_path):
    trainer = make_trainer(setup, tmp_path / "out", "DATASET.SUBSAMPLE_CLASSES", "base")
    assert trainer.cfg.TRAINER.COOP.W == 8.0  # from the YAML
    batch = next(iter(trainer.train_loader_x))
    image, label = trainer.parse_batch_train(batch)
    terms, output = trainer.compute_loss(image, label)
    assert set(terms) == {"loss_ce", "loss_kg"}
    gap = trainer.model.knowledge_gap(output.text_features)
    assert torch.allclose(terms["loss_kg"], 8.0 * gap)
    assert torch.allclose(terms["loss_ce"], torch.nn.functional.cross_entropy(output.logits, label))


def test_hand_crafted_features_come_from_the_one_clip_once(setup, tmp_path, monkeypatch):
    loads = []
    real_load = trainers.base.load_backbone
    monkeypatch.setattr(trainers.base, "load_backbone",
                        lambda name, *key: loads.append(name) or real_load(name, *key))
    trainer = make_trainer(setup, tmp_path / "out", "DATASET.SUBSAMPLE_CLASSES", "base")
    assert len(loads) == 1  # no second CLIP for the hand-crafted features
    model = trainer.model
    cached = model.hand_crafted_features
    assert cached.shape == (5, 32) and "hand_crafted_features" not in model.state_dict()

    def encode_again(*_args, **_kwargs):
        raise AssertionError("hand-crafted features encoded again")

    monkeypatch.setattr(trainers.kgcoop, "hand_crafted_features", encode_again)
    train_steps(trainer)
    assert model.hand_crafted_features is cached


def test_only_prompts_learn_and_clip_stays_bit_identical(setup, tmp_path):
    trainer = make_trainer(setup, tmp_path / "out", "DATASET.SUBSAMPLE_CLASSES", "base")
    assert [n for n, _ in trainer.model.prompt_learner.named_parameters()] == ["ctx"]
    summary = assert_only_prompts_learn(trainer)
    assert {"loss", "loss_ce", "loss_kg", "acc"} <= set(summary)


def test_half_clip_keeps_fp32_prompt_parameters(setup):
    model = make_model(setup, "EuroSAT", prec="bf16")
    output = model(torch.randn(2, 3, 32, 32))
    (output.logits.sum() + model.knowledge_gap(output.text_features)).backward()
    assert model.prompt_learner.ctx.dtype == torch.float32
    assert model.prompt_learner.ctx.grad.dtype == torch.float32
    assert torch.isfinite(model.prompt_learner.ctx.grad).all()


def test_upstream_checkpoint_gives_the_same_logits(setup, tmp_path):
    trainer = make_trainer(setup, tmp_path / "out", "DATASET.SUBSAMPLE_CLASSES", "new")
    pl = trainer.model.prompt_learner
    generator = torch.Generator().manual_seed(5)
    upstream = {  # upstream's prompt learner also saves a meta-net and bias it never uses
        "ctx": torch.randn(4, 64, generator=generator).half(),
        "bias_vectors": torch.randn(1, 512, generator=generator).half(),
        "meta_net.linear1.weight": torch.randn(512, 512, generator=generator).half(),
        "meta_net.linear1.bias": torch.randn(512, generator=generator).half(),
        "token_prefix": torch.randn(5, 1, 64).half(),
        "token_suffix": torch.randn(5, 72, 64).half(),
    }
    directory = write_upstream_checkpoint(tmp_path / "upstream", "prompt_learner", upstream, 100)
    image = torch.randn(3, 3, 32, 32)

    trainer.load_model(directory, epoch=100)
    loaded = trainer.model_inference(image)
    with torch.no_grad():
        pl.ctx.copy_(upstream["ctx"])
    assert torch.equal(loaded, trainer.model_inference(image))
