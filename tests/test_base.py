"""PromptTrainer's evaluation pass: the class text features once per test() call (never for
CoCoOp, whose prompts read the image), and never stale after training steps."""

import pytest
import torch

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
