"""PromptTrainer's evaluation pass: the class text features once per test() call (never for
CoCoOp, whose prompts read the image), and never stale after training steps."""

import pytest
import torch

from dassl.utils import set_random_seed
from tests.helpers import eurosat_setup, train_steps
from tests.test_feature_cache import build, evaluated_logits, per_batch_logits


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return eurosat_setup(tmp_path_factory, "base")


def count_text_passes(trainer, monkeypatch):
    calls = []
    encode = trainer.model.encode_text
    monkeypatch.setattr(trainer.model, "encode_text",
                        lambda *args, **kwargs: (calls.append(1), encode(*args, **kwargs))[1])
    return calls


@pytest.mark.parametrize("name", ["CoOp", "KgCoOp_SAR", "MaPLe", "PromptSRC_SAR"])
def test_one_text_pass_per_evaluation(setup, tmp_path, monkeypatch, name):
    trainer = build(setup, tmp_path, name)
    calls = count_text_passes(trainer, monkeypatch)
    assert len(trainer.test_loader) > 1
    trainer.test()
    trainer.test(split="val")
    assert len(calls) == 2  # one per pass, whatever the number of batches


def test_cocoop_encodes_text_per_batch(setup, tmp_path, monkeypatch):
    trainer = build(setup, tmp_path, "CoCoOp")
    calls = count_text_passes(trainer, monkeypatch)
    trainer.test()
    assert len(calls) == len(trainer.test_loader)


@pytest.mark.parametrize("name", ["CoOp", "MaPLe"])
def test_features_are_never_stale_after_training(setup, tmp_path, name):
    trainer = build(setup, tmp_path, name)
    before = evaluated_logits(trainer)
    train_steps(trainer)
    after = evaluated_logits(trainer)
    assert not torch.equal(before, after)
    assert torch.equal(after, per_batch_logits(trainer))
    assert trainer._eval_text is None and not trainer._eval_pass


def test_outside_a_pass_inference_encodes_the_text_each_call(setup, tmp_path, monkeypatch):
    trainer = build(setup, tmp_path, "CoOp")
    calls = count_text_passes(trainer, monkeypatch)
    image = next(iter(trainer.test_loader))["img"]
    trainer.model_inference(image)
    trainer.model_inference(image)
    assert len(calls) == 2


@pytest.mark.parametrize("name", ["KgCoOp_SAR", "MaPLe_SAR"])
def test_text_checkpoint_knob_gives_the_same_loss_and_gradients(setup, tmp_path, name):
    """TRAINER.TEXT_CHECKPOINT through the trainer's own loss (SAR's extra classes included)."""
    results = []
    for recompute in ("False", "True"):
        set_random_seed(1)  # MaPLe's deep prompts start random
        trainer = build(setup, tmp_path / recompute, name,
                        extra=["TRAINER.TEXT_CHECKPOINT", recompute])
        assert trainer.model.text_encoder.recompute_blocks is (recompute == "True")
        trainer.build_sar()
        trainer.set_model_mode("train")
        set_random_seed(1)  # the same batch and augmentation for both runs
        batch = next(iter(trainer.train_loader_x))
        image, label = trainer.parse_batch_train(batch)
        terms, _ = trainer.compute_loss(image, label)
        sum(terms.values()).backward()
        grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters()
                 if p.grad is not None}
        results.append(({k: v.detach() for k, v in terms.items()}, grads))
    (terms, grads), (terms_r, grads_r) = results
    assert terms.keys() == terms_r.keys() and grads.keys() == grads_r.keys() and grads
    assert all(torch.equal(terms[k], terms_r[k]) for k in terms)
    assert all(torch.equal(grads[k], grads_r[k]) for k in grads)


@pytest.mark.parametrize("reseed", [True, False])
def test_each_epoch_reseeds_unless_told_to_seed_once(setup, tmp_path, monkeypatch, reseed):
    import trainers.base

    trainer = build(setup, tmp_path, "CoOp", extra=("TRAIN.RESEED_EACH_EPOCH", str(reseed)))
    seeds = []
    monkeypatch.setattr(trainers.base, "set_random_seed", seeds.append)
    trainer.epoch = 3
    trainer.before_epoch()
    assert seeds == ([trainer.cfg.SEED * 1000 + 3] if reseed else [])
