"""CoOp end to end through the real train.py, plus its mechanics on the tiny CLIP."""

import pytest
import torch

import train
from tests.helpers import eurosat_setup, eval_on_new, read_log, train_argv


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    return eurosat_setup(tmp_path_factory, "coop")


def run_coop(root, clip, out, *extra, config="vit_b16_ctxv1"):
    return train.main(train_argv(root, clip, out, "CoOp", f"CoOp/{config}", *extra))


def test_train_base_then_evaluate_new(setup, capfd):
    root, clip, base = setup
    out = base / "train_base"
    assert run_coop(root, clip, out, "DATASET.SUBSAMPLE_CLASSES", "base") == 0
    log = read_log(out)
    assert "Finish training" in log and "* accuracy:" in log
    checkpoint = out / "prompt_learner" / "model.pth.tar-1"
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert set(state["state_dict"]) == {"ctx", "token_prefix", "token_suffix"}
    assert state["state_dict"]["ctx"].shape == (4, 64)

    test_out = base / "test_new"
    assert run_coop(root, clip, test_out, *eval_on_new(out)) == 0
    log = read_log(test_out)
    assert "Loading weights to prompt_learner" in log and "* accuracy:" in log
    assert "Finish training" not in log


@pytest.mark.parametrize("position", ["middle", "front"])
def test_class_token_position_and_csc_train(setup, position):
    root, clip, base = setup
    out = base / f"csc_{position}"
    code = run_coop(root, clip, out, "TRAINER.COOP.CSC", "True", "TRAINER.COOP.N_CTX", "2",
                    "TRAINER.COOP.CLASS_TOKEN_POSITION", position, config="vit_b16")
    assert code == 0
    state = torch.load(out / "prompt_learner" / "model.pth.tar-1", weights_only=True)
    assert state["state_dict"]["ctx"].shape == (10, 2, 64)  # one context per EuroSAT class


def test_only_prompts_learn_and_clip_stays_frozen(setup):
    from dassl.config import get_cfg_default
    from trainers.backbone import load_clip
    from trainers.config import extend_cfg
    from trainers.coop import CustomCLIP

    _root, clip, _base = setup
    cfg = extend_cfg(get_cfg_default())
    cfg.TRAINER.COOP.N_CTX = 4
    clip_model = load_clip(clip)
    before = {k: v.clone() for k, v in clip_model.state_dict().items()}
    model = CustomCLIP(cfg, ["river", "forest", "sea or lake"], clip_model)
    for name, param in model.named_parameters():
        param.requires_grad_(name.startswith("prompt_learner."))
    optim = torch.optim.SGD([model.prompt_learner.ctx], lr=1.0)
    output = model(torch.randn(2, 3, 32, 32))
    torch.nn.functional.cross_entropy(output.logits, torch.tensor([0, 2])).backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None}
    assert grads == {"prompt_learner.ctx"}
    optim.step()
    after = clip_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_extra_classes_share_the_prompts(setup):
    from dassl.config import get_cfg_default
    from trainers.backbone import load_clip
    from trainers.config import extend_cfg
    from trainers.coop import CustomCLIP
    from trainers.prompts import ClassTokens

    cfg = extend_cfg(get_cfg_default())
    cfg.TRAINER.COOP.N_CTX = 4
    model = CustomCLIP(cfg, ["river", "forest"], load_clip(setup[1]))
    pl = model.prompt_learner
    extra = ClassTokens.build(model.text_encoder, ["glacier"], pl.prompt_prefix, pl.n_ctx)
    image = torch.randn(1, 3, 32, 32)
    plain = model(image)
    joint = model(image, extra_classes=extra)
    assert joint.text_features.shape == (3, 32)
    assert torch.allclose(plain.logits, joint.logits, atol=1e-5)
    alone = model.encode_text(extra)
    assert torch.allclose(joint.text_features[2:], alone, atol=1e-5)


# ---- on the pretrained toy CLIP -------------------------------------------------------------

def training_set_fit(trainer):
    """Accuracy and mean cross-entropy on the few-shot training images themselves, seen as at
    test time (no crops)."""
    from dassl.data.data_manager import build_data_loader

    loader = build_data_loader(trainer.cfg, data_source=trainer.dm.dataset.train_x,
                               batch_size=100, tfm=trainer.dm.tfm_test, is_train=False)
    trainer.set_model_mode("eval")
    correct = total = loss = 0
    for batch in loader:
        image, label = trainer.parse_batch_test(batch)
        logits = trainer.model_inference(image)
        correct += (logits.argmax(1) == label).sum().item()
        loss += torch.nn.functional.cross_entropy(logits, label, reduction="sum").item()
        total += len(label)
    return 100 * correct / total, loss / total


def test_coop_training_raises_training_accuracy_on_the_toy_clip(toy, tmp_path):
    """From a random context (no CTX_INIT), training fits the training images better."""
    from tests.helpers import toy_argv, trainer_for

    opts = ["DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", "base", "OPTIM.MAX_EPOCH",
            "5", "TRAINER.COOP.N_CTX", "4", "TRAINER.COOP.CTX_INIT", "", "TEST.NO_TEST", "True"]
    torch.manual_seed(1)
    trainer = trainer_for(toy_argv(toy, tmp_path, "CoOp", "CoOp/vit_b16_ctxv1", opts=opts))
    (acc_before, loss_before) = training_set_fit(trainer)
    trainer.train()
    (acc_after, loss_after) = training_set_fit(trainer)
    print(f"training images: accuracy {acc_before:.1f} -> {acc_after:.1f}, "
          f"loss {loss_before:.3f} -> {loss_after:.3f}")
    assert acc_after > acc_before and acc_after > 85, (acc_before, acc_after)
    assert loss_after < 0.75 * loss_before, (loss_before, loss_after)
