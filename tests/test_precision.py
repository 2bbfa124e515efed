"""The half-precision code paths (fp16, bf16), forced on the CPU so CI exercises them.

On a real CPU run these PRECs fall back to fp32; here the fallback is switched off to check the
dtype handling itself: frozen CLIP in half, fp32 master prompts, finite losses, a real update.
"""

import pytest
import torch

import trainers.base
from benchmarking.steps import build_cfg, offline_trainer
from trainers.backbone import weight_dtype

TRAINERS = ["CoOp", "CoCoOp", "KgCoOp", "MaPLe", "PromptSRC", "CoOp_SAR", "CoCoOp_SAR",
            "KgCoOp_SAR", "MaPLe_SAR", "PromptSRC_SAR"]


@pytest.mark.parametrize("prec", ["fp16", "bf16"])
@pytest.mark.parametrize("trainer", TRAINERS)
def test_half_precision_step(trainer, prec, tmp_path, monkeypatch):
    monkeypatch.setattr(trainers.base, "resolve_precision", lambda prec, device: prec)
    bank = tmp_path / "bank.txt"
    bank.write_text("glacier\nvolcano\ncanyon\n")
    cfg = build_cfg(trainer, "tiny", prec, 2, -1, str(bank), "cpu")
    if trainer.startswith("MaPLe"):
        cfg.TRAINER.MAPLE.PROMPT_DEPTH = 2
    cfg.TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT = cfg.TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION = 2
    torch.manual_seed(0)
    instance = offline_trainer(trainer, cfg, ["forest", "river", "sea or lake"])
    model = instance.model
    assert model.text_encoder.positional_embedding.dtype == weight_dtype(prec)
    learnable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert learnable and all(p.dtype == torch.float32 for p in learnable.values())
    before = {n: p.detach().clone() for n, p in learnable.items()}
    batch = {"img": torch.randn(2, 3, 32, 32), "label": torch.tensor([0, 2])}
    summary = instance.forward_backward(batch)
    assert all(torch.isfinite(torch.tensor(v)) for v in summary.values())
    assert any(not torch.equal(before[n], p) for n, p in learnable.items())
