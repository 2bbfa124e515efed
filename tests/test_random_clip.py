"""Random CLIP architectures: OpenAI's shapes offline, ResNets included (CoOp's RN50).

The prompt learners that only touch the text tower and the pooled image feature (CoOp, CoCoOp,
KgCoOp and their SAR variants) train and evaluate on a tiny random ResNet CLIP through the real
train.py; MaPLe and PromptSRC prompt the vision transformer's tokens and refuse a ResNet in one
line.
"""

import pytest
import torch

import train
from tests.helpers import EUROSAT, TINY_OPTS, eurosat_setup, eval_on_new
from trainers.backbone import clip_image_size, load_clip
from trainers.random_clip import RESNETS, architecture_state_dict


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root, _clip, _base = eurosat_setup(tmp_path_factory, "random_resnet")
    return root


def test_random_rn50_has_openais_shapes():
    model = load_clip("random:RN50")
    visual_params = sum(p.numel() for p in model.visual.parameters())
    assert visual_params == 38_316_896  # OpenAI's RN50 image tower
    assert model.visual.output_dim == 1024 and clip_image_size(model) == (224, 224)
    assert model.text_projection.shape == (512, 1024)
    features = load_clip("random:tiny-RN").encode_image(torch.zeros(2, 3, 32, 32))
    assert features.shape == (2, 32)


def test_every_openai_resnet_is_named_and_seeded():
    assert {"RN50", "RN101", "RN50x4", "RN50x16", "RN50x64"} <= set(RESNETS)
    one, same = architecture_state_dict("tiny-RN", seed=3), architecture_state_dict("tiny-RN", 3)
    other = architecture_state_dict("tiny-RN", seed=4)
    key = "visual.layer1.0.conv1.weight"
    assert torch.equal(one[key], same[key]) and not torch.equal(one[key], other[key])
    with pytest.raises(ValueError, match="RN50"):
        architecture_state_dict("RN51")


def resnet_argv(root, out, trainer, config, *flags):
    return ["--root", root, "--trainer", trainer, "--seed", "1", *EUROSAT,
            "--config-file", f"configs/trainers/{config}.yaml", "--output-dir", str(out), *flags,
            *TINY_OPTS, "MODEL.BACKBONE.NAME", "random:tiny-RN", "TRAINER.SAR.NUM_NOVEL", "4"]


RESNET_TRAINERS = [("CoOp", "CoOp/rn50"), ("CoCoOp", "CoCoOp/vit_b16_c4_ep10_batch1_ctxv1"),
                   ("KgCoOp", "KgCoOp/rn50_ep100")]


@pytest.mark.parametrize("sar", ["", "_SAR"])
@pytest.mark.parametrize("trainer,config", RESNET_TRAINERS, ids=[t for t, _ in RESNET_TRAINERS])
def test_prompt_learners_train_and_test_on_a_random_resnet(data, tmp_path, trainer, config, sar):
    name, config = trainer + sar, config.replace("/", sar + "/", 1)
    out = tmp_path / "base"
    assert train.main(resnet_argv(data, out, name, config, "DATASET.SUBSAMPLE_CLASSES",
                                  "base")) == 0
    assert "* accuracy:" in (out / "log.txt").read_text()
    new = tmp_path / "new"
    assert train.main(resnet_argv(data, new, name, config, *eval_on_new(out))) == 0
    assert "* accuracy:" in (new / "log.txt").read_text()


@pytest.mark.parametrize("trainer,config", [
    ("MaPLe", "MaPLe/vit_b16_c2_ep5_batch4_2ctx"),
    ("PromptSRC_SAR", "PromptSRC_SAR/vit_b16_c2_ep20_batch4_4+4ctx"),
])
def test_vision_prompt_learners_refuse_a_resnet_in_one_line(data, tmp_path, capsys, trainer,
                                                            config):
    assert train.main(resnet_argv(data, tmp_path / "run", trainer, config)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith(f"error: {trainer} needs a vision transformer backbone")
    assert "MODEL.BACKBONE.NAME random:tiny-RN" in err[-1]
    assert not (tmp_path / "run").exists()


def test_the_vit_draws_keep_their_order_so_the_shipped_toy_clips_rebuild():
    """The toy CLIP files hold only trained tensors; the rest is rebuilt from this function and
    the seed, so a reordered draw silently changes the shipped models. Values pinned from the
    order the toy models were pretrained with."""
    from trainers.random_clip import random_clip_state_dict

    state = random_clip_state_dict(seed=0)
    pinned = {
        "visual.class_embedding": -0.14072997868061066,
        "token_embedding.weight": -0.017595848068594933,
        "visual.transformer.resblocks.0.attn.in_proj_weight": 0.003642461495473981,
        "transformer.resblocks.1.mlp.c_proj.weight": 0.014986285008490086,
    }
    for key, first in pinned.items():
        assert abs(float(state[key].flatten()[0]) - first) < 1e-7, key
