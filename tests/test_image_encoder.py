"""ImageEncoder: open_clip's ViT driven from our code, plus MaPLe's visual prompt hook."""

import copy

import pytest
import torch

from tests.helpers import record_blocks, tiny_clip_path
from trainers.backbone import load_clip
from trainers.image_encoder import ImageEncoder

N_CTX = 2


@pytest.fixture(scope="module")
def visual(tmp_path_factory):
    return load_clip(tiny_clip_path(tmp_path_factory.mktemp("image_encoder"))).visual


def sequence_first_copy(visual):
    """The same weights with the transformer run sequence-first (open_clip's batch_first=False)."""
    other = copy.deepcopy(visual)
    other.transformer.batch_first = False
    for block in other.transformer.resblocks:
        block.attn.batch_first = False
    return other


def prompts(width, depth, seed=0):
    generator = torch.Generator().manual_seed(seed)
    shallow = torch.randn(N_CTX, width, generator=generator)
    deep = [torch.randn(N_CTX, width, generator=generator) for _ in range(depth - 1)]
    return shallow, deep


def test_without_prompts_it_is_clips_own_forward(visual):
    image = torch.randn(3, 3, 32, 32)
    encoder = ImageEncoder(visual)
    assert torch.equal(encoder(image), visual(image))
    assert encoder.width == 64 and encoder.num_layers == 2 and encoder.output_dim == 32


def test_sequence_first_transformer_gives_the_same_features(visual):
    image = torch.randn(2, 3, 32, 32)
    other = sequence_first_copy(visual)
    assert torch.allclose(other(image), visual(image), atol=1e-5)  # the copy is a valid model
    shallow, deep = prompts(64, depth=2)
    ours = ImageEncoder(visual)(image, shallow, deep)
    theirs = ImageEncoder(other)
    assert not theirs.batch_first
    assert torch.allclose(theirs(image), visual(image), atol=1e-5)
    assert torch.allclose(theirs(image, shallow, deep), ours, atol=1e-5)


def test_shallow_prompt_is_appended_before_ln_pre(visual):
    encoder = ImageEncoder(visual)
    image = torch.randn(2, 3, 32, 32)
    shallow, _ = prompts(64, depth=1)
    record, handles = record_blocks(encoder.transformer.resblocks)
    features = encoder(image, shallow)
    for handle in handles:
        handle.remove()
    first = record[("in", 0)]
    assert first.shape == (2, 1 + 16 + N_CTX, 64)  # class token, 4x4 patches, prompt
    expected = encoder.ln_pre(shallow).expand(2, -1, -1)
    assert torch.allclose(first[:, -N_CTX:], expected, atol=1e-6)
    assert torch.equal(record[("in", 1)], record[("out", 0)])  # depth 1: nothing injected later
    assert not torch.allclose(features, encoder(image), atol=1e-4)


def test_deep_prompts_replace_the_last_tokens_at_each_layer(visual):
    encoder = ImageEncoder(visual)
    image = torch.randn(2, 3, 32, 32)
    shallow, deep = prompts(64, depth=2)
    record, handles = record_blocks(encoder.transformer.resblocks)
    deep_features = encoder(image, shallow, deep)
    for handle in handles:
        handle.remove()
    into_second, out_of_first = record[("in", 1)], record[("out", 0)]
    assert torch.equal(into_second[:, :-N_CTX], out_of_first[:, :-N_CTX])
    assert torch.equal(into_second[:, -N_CTX:], deep[0].expand(2, -1, -1))
    assert not torch.allclose(deep_features, encoder(image, shallow), atol=1e-4)


def test_misuse_is_refused(visual):
    encoder = ImageEncoder(visual)
    _, deep = prompts(64, depth=2)
    with pytest.raises(ValueError, match="shallow"):
        encoder(torch.randn(1, 3, 32, 32), None, deep)
    with pytest.raises(ValueError, match="vision transformer"):
        ImageEncoder(torch.nn.Identity())


def test_gradients_reach_the_prompts_only(visual):
    encoder = ImageEncoder(visual)
    shallow, deep = prompts(64, depth=2)
    shallow.requires_grad_(True)
    deep[0].requires_grad_(True)
    encoder(torch.randn(2, 3, 32, 32), shallow, deep).sum().backward()
    assert shallow.grad is not None and deep[0].grad is not None
    assert all(p.grad is None for p in encoder.parameters())
