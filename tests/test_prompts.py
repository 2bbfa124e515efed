import pytest
import torch

from tests.helpers import tiny_clip_path
from trainers.backbone import load_clip
from trainers.prompts import (
    ENSEMBLE_TEMPLATES,
    ClassTokens,
    PromptIds,
    assemble_prompts,
    hand_crafted_texts,
    init_context,
    normalize_ctx_init,
    tokenize,
)


@pytest.fixture(scope="module")
def clip_model(tmp_path_factory):
    return load_clip(tiny_clip_path(tmp_path_factory.mktemp("clip")))


def test_ctx_init_true_means_a_photo_of_a():
    assert normalize_ctx_init(True) == "a photo of a"
    assert normalize_ctx_init("") == "" and normalize_ctx_init("a_photo") == "a photo"


def test_init_context_from_words_uses_their_embeddings(clip_model):
    ctx, prefix, n_ctx = init_context(clip_model, 16, "a photo of a")
    assert (prefix, n_ctx, tuple(ctx.shape)) == ("a photo of a", 4, (4, 64))
    ids = tokenize(["a photo of a"])[0, 1:5]
    assert torch.equal(ctx, clip_model.token_embedding.weight[ids])


def test_random_and_class_specific_context(clip_model):
    ctx, prefix, n_ctx = init_context(clip_model, 3, "", n_cls=5)
    assert prefix == "X X X" and n_ctx == 3 and ctx.shape == (5, 3, 64)


def test_class_tokens_reassemble_the_tokenized_prompt(clip_model):
    names = ["forest", "sea_or_lake", "highway or road"]
    tokens = ClassTokens.build(clip_model, names, "X X", 2)
    ctx = torch.randn(2, 64)
    prompts = assemble_prompts(ctx, tokens, "end")
    full = clip_model.token_embedding(tokens.tokenized)
    assert torch.equal(prompts[:, 0], full[:, 0])
    assert torch.equal(prompts[:, 3:], full[:, 3:])
    assert torch.equal(prompts[:, 1:3], ctx.expand(3, -1, -1))
    assert tokens.name_lens == [1, 3, 3]
    assert tokens.max_len == int(tokens.tokenized.argmax(-1).max()) + 1


def test_a_banks_token_ids_embed_the_rows_drawn_as_class_tokens_would(clip_model):
    names = ["glacier", "sea_or_lake", "parking lot", "a much longer name of a place"]
    ids = PromptIds.build(names, "X X", 2)
    assert ids.tokenized.dtype == torch.long and len(ids) == 4  # ids only, no (N, 77, D)
    drawn = ids.embedded(clip_model, torch.tensor([1, 3]))
    alone = ClassTokens.build(clip_model, [names[1], names[3]], "X X", 2)
    for field in ("tokenized", "prefix", "suffix"):
        assert torch.equal(getattr(drawn, field), getattr(alone, field)), field
    assert drawn.name_lens == alone.name_lens == [3, 7]
    assert drawn.max_len == ClassTokens.build(clip_model, names, "X X", 2).max_len


@pytest.mark.parametrize("position", ["middle", "front"])
def test_class_token_positions_keep_every_token(clip_model, position):
    tokens = ClassTokens.build(clip_model, ["sea or lake", "forest"], "X X X X", 4)
    ctx = torch.full((4, 64), 7.0)
    prompts = assemble_prompts(ctx, tokens, position)
    assert prompts.shape == (2, 77, 64)
    name_len = tokens.name_lens[0]
    name = tokens.suffix[0, :name_len]
    start = 1 if position == "front" else 3
    assert torch.equal(prompts[0, start : start + name_len], name)
    assert int((prompts[0] == 7.0).all(-1).sum()) == 4


def test_select_and_cat(clip_model):
    tokens = ClassTokens.build(clip_model, ["a", "bb", "ccc"], "X", 1)
    picked = tokens.select(torch.tensor([2, 0]))
    assert torch.equal(picked.tokenized, tokens.tokenized[[2, 0]]) and picked.name_lens == [
        tokens.name_lens[2], tokens.name_lens[0]]
    joined = tokens.cat(picked)
    assert len(joined) == 5 and joined.max_len == tokens.max_len


def test_hand_crafted_texts():
    assert hand_crafted_texts(["Forest"], "EuroSAT") == [["a centered satellite photo of Forest."]]
    assert hand_crafted_texts(["x_y"], "Unknown") == [["a photo of a x y."]]
    ensemble = hand_crafted_texts(["cat"], "ImageNet", template="ensemble")[0]
    assert len(ensemble) == len(ENSEMBLE_TEMPLATES) == 80 and "a bad photo of a cat." in ensemble
    with pytest.raises(ValueError, match="template"):
        hand_crafted_texts(["cat"], "ImageNet", template="nope")


def test_prompts_at_clips_context_pass_and_one_token_more_is_refused(clip_model):
    # SOS + n_ctx "X" + "a" + "." + EOS: 73 context tokens fill the 77 exactly
    tokens = ClassTokens.build(clip_model, ["a"], " ".join(["X"] * 73), 73)
    assert tokens.max_len == 77
    with pytest.raises(ValueError, match=r"class 'a' \(N_CTX 74\) is 78 tokens.*holds 77"):
        ClassTokens.build(clip_model, ["a"], " ".join(["X"] * 74), 74)


def test_class_tokens_know_their_lengths_and_shared_positions(clip_model):
    from trainers.prompts import leading_positions

    names = ["x", "sea or lake", "a much longer class name of many words"]
    tokens = ClassTokens.build(clip_model, names, "a photo of a", 4)
    assert tokens.lengths == (tokens.tokenized.argmax(-1) + 1).tolist()
    assert tokens.shared_len == 5  # SOS + "a photo of a"
    # MaPLe with N_CTX 2 keeps "of a" in the prompt text: shared words after the context
    maple = ClassTokens.build(clip_model, names, "a photo of a", 2)
    assert maple.shared_len == 5 and maple.suffix_start == 3
    picked = tokens.select([2, 0]).cat(tokens.select([1]))
    assert picked.lengths == [tokens.lengths[i] for i in (2, 0, 1)]
    assert picked.shared_len == 5 and ClassTokens.build(clip_model, names, "", 0).shared_len == 1
    with pytest.raises(ValueError, match='do not all start with the tokens of "a photo"'):
        leading_positions("a photo", tokenize(["a photo of x.", "a dog."]))


@pytest.mark.parametrize("n_ctx", [4, 2])
def test_the_shared_prefix_is_how_every_class_prompt_starts(clip_model, n_ctx):
    """The prefix run once must be exactly the first positions of every class's prompt: the
    same SOS, the same context, the same words; a context per class has no such prefix."""
    from trainers.prompts import shared_prefix

    tokens = ClassTokens.build(clip_model, ["x", "sea or lake", "river"], "a photo of a", n_ctx)
    ctx = torch.randn(n_ctx, 64)
    prefix = shared_prefix(ctx, tokens)
    whole = assemble_prompts(ctx, tokens)
    assert prefix.shape == (1, 5, 64)
    assert all(torch.equal(row[:5], prefix[0]) for row in whole)
    per_image = shared_prefix(torch.randn(3, n_ctx, 64), tokens)
    assert per_image.shape == (3, 5, 64) and not torch.equal(per_image[0], per_image[1])
    with pytest.raises(ValueError, match="does not fit"):
        shared_prefix(torch.randn(n_ctx + 1, 64), tokens)
