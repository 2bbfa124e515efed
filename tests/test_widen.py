"""Widening a CLIP checkpoint keeps its features (tools/toy_world/widen.py)."""

import pytest
import torch
from open_clip.model import build_model_from_openai_state_dict

from tools.toy_world.widen import widen_state_dict
from trainers.random_clip import random_clip_state_dict


def build(state):
    model = build_model_from_openai_state_dict(state, quick_gelu=True).float().eval()
    model.load_state_dict(state, strict=False)  # the builder rounds to fp16; undo it
    return model


@torch.no_grad()
def test_widened_model_computes_the_same_features():
    state = random_clip_state_dict(seed=3)
    wide = widen_state_dict(state, text_width=128, vision_width=192)
    assert wide["ln_final.weight"].shape == (128,)
    assert wide["visual.conv1.weight"].shape[0] == 192
    narrow, widened = build(state), build(wide)
    assert widened.transformer.resblocks[0].attn.num_heads == 2
    assert widened.visual.transformer.resblocks[0].attn.num_heads == 3
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    tokens = torch.randint(1, 400, (4, 77), generator=torch.Generator().manual_seed(1))
    tokens[:, 9] = state["token_embedding.weight"].shape[0] - 1  # end of text: the argmax
    torch.testing.assert_close(widened.encode_image(images), narrow.encode_image(images),
                               atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(widened.encode_text(tokens), narrow.encode_text(tokens),
                               atol=1e-5, rtol=1e-5)
    assert not torch.equal(wide["visual.proj"][:64], state["visual.proj"])  # really tiled


def test_widths_that_do_not_tile_are_refused():
    state = random_clip_state_dict()
    with pytest.raises(ValueError, match="cannot widen the vision tower from 64 to 96"):
        widen_state_dict(state, text_width=128, vision_width=96)
