"""Exact context truncation: every trainer's text path gives the full 77-token result (fp32)."""

import pytest
import torch

from benchmarking.steps import build_cfg, offline_trainer
from trainers.prompts import ClassTokens
from trainers.text_encoder import TextEncoder

NAMES = ["annual crop land", "forest", "sea or lake", "highway or road"]
EXTRA = ["glacier", "vineyard terraces on a hill"]
CASES = [
    ("CoOp", {"TRAINER.COOP.CLASS_TOKEN_POSITION": "end"}),
    ("CoOp", {"TRAINER.COOP.CLASS_TOKEN_POSITION": "middle", "TRAINER.COOP.CTX_INIT": ""}),
    ("CoOp", {"TRAINER.COOP.CLASS_TOKEN_POSITION": "front", "TRAINER.COOP.CTX_INIT": ""}),
    ("CoCoOp", {}),
    ("KgCoOp", {}),
    ("MaPLe", {"TRAINER.MAPLE.PROMPT_DEPTH": 2}),
    ("PromptSRC", {"TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT": 2,
                   "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION": 2}),
]


@pytest.fixture
def full_context():
    TextEncoder.exact_truncation = False
    yield
    TextEncoder.exact_truncation = True


def build(trainer, overrides, tmp_path):
    bank = tmp_path / "bank.txt"
    bank.write_text("\n".join(EXTRA))
    cfg = build_cfg(trainer, "tiny", "fp32", 2, -1, str(bank), "cpu")
    for key, value in overrides.items():
        cfg.merge_from_list([key, value])
    cfg.USE_CUDA = False
    torch.manual_seed(0)
    return offline_trainer(trainer, cfg, NAMES)


@pytest.mark.parametrize("trainer,overrides", CASES, ids=[
    "coop-end", "coop-middle", "coop-front", "cocoop", "kgcoop", "maple-deep", "promptsrc-deep"])
def test_truncated_equals_full_context(trainer, overrides, tmp_path, request):
    instance = build(trainer, overrides, tmp_path)
    model = instance.model.eval()
    learner = model.prompt_learner
    extra = ClassTokens.build(model.text_encoder, EXTRA, learner.prompt_prefix, learner.n_ctx)
    with torch.no_grad():
        for param in learner.parameters():  # move off the initialisation: a generic point
            param.add_(0.05 * torch.randn_like(param))
        image = torch.randn(2, 3, 32, 32)
        exact = model(image, extra_classes=extra)
        assert extra.max_len < 77 and learner.max_len < 77  # truncation really applies
        request.getfixturevalue("full_context")
        full = model(image, extra_classes=extra)
    assert torch.allclose(exact.text_features, full.text_features, atol=1e-5, rtol=1e-4)
    assert torch.allclose(exact.logits, full.logits, atol=1e-4, rtol=1e-4)
