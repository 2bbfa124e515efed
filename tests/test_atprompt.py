"""ATPrompt's attribute blocks (trainers/atprompt.py): the words a run takes, the token layout
with words of any BPE length, the deep prompts' slot, CoCoOp's shift, GPA and upstream keys."""

import pytest
import torch

import trainers.cocoop
import trainers.coop
import trainers.maple
import trainers.promptsrc
from dassl.config import get_cfg_default
from tests.helpers import record_blocks, tiny_clip_path
from trainers.atprompt import (
    ATTRIBUTE_WORDS,
    AttributeBlocks,
    attach_attribute_blocks,
    random_context_cfg,
    resolve_attributes,
    upstream_attribute_keys,
)
from trainers.backbone import load_clip
from trainers.config import extend_cfg
from trainers.prompts import embed_tokens, tokenize

NAMES = ["annual crop land", "forest", "river"]
PETS = [(2, "playfulness"), (2, "energy")]  # upstream's OxfordPets words, N_ATT 2


@pytest.fixture(scope="module")
def clip_model(tmp_path_factory):
    return load_clip(tiny_clip_path(tmp_path_factory.mktemp("clip")))


def make_cfg(dataset="EuroSAT", **atprompt):
    cfg = extend_cfg(get_cfg_default())
    cfg.DATASET.NAME = dataset
    cfg.TRAINER.MAPLE.PROMPT_DEPTH = 2
    for key, value in atprompt.items():
        cfg.TRAINER.ATPROMPT[key] = value
    return cfg


def n_tokens(text):
    return int(tokenize([text]).argmax(dim=-1).item()) - 1


# --- which words ------------------------------------------------------------------------------


def test_dataset_defaults_follow_upstreams_table():
    assert resolve_attributes(make_cfg("ImageNet")) == [(4, "color"), (4, "shape")]
    assert resolve_attributes(make_cfg("ImageNetSketch")) == [(4, "color"), (4, "shape")]
    assert resolve_attributes(make_cfg("OxfordPets", N_ATT1=2, N_ATT2=2)) == PETS
    assert [w for _, w in resolve_attributes(make_cfg("DescribableTextures"))] == [
        "pattern", "color", "design"]
    assert resolve_attributes(make_cfg("EuroSAT")) == [(4, "habitat")]
    assert len(ATTRIBUTE_WORDS) == 15  # 11 datasets and ImageNet's four variants


def test_a_given_word_wins_over_the_table():
    cfg = make_cfg("DescribableTextures", ATT2_TEXT="texture")
    assert [w for _, w in resolve_attributes(cfg)] == ["pattern", "texture", "design"]
    cfg = make_cfg("EuroSAT", ATT_NUM=2, ATT1_TEXT="color", ATT2_TEXT="shape", N_ATT2=1)
    assert resolve_attributes(cfg) == [(4, "color"), (1, "shape")]


@pytest.mark.parametrize("dataset,opts,message", [
    ("ToyWorld", {}, "ToyWorld has no default attribute words"),
    ("EuroSAT", {"ATT_NUM": 2}, "ATT2_TEXT is not set and EuroSAT has 1 default word"),
    ("EuroSAT", {"ATT2_TEXT": "shape"}, "raise TRAINER.ATPROMPT.ATT_NUM to 2"),
    ("EuroSAT", {"ATT_NUM": 4}, "TRAINER.ATPROMPT.ATT_NUM must be 0"),
    ("EuroSAT", {"N_ATT1": -1}, "TRAINER.ATPROMPT.N_ATT1 must be an integer >= 0"),
])
def test_bad_attribute_settings_name_the_key(dataset, opts, message):
    with pytest.raises(ValueError, match=message):
        resolve_attributes(make_cfg(dataset, **opts))


# --- the prompt's tokens ----------------------------------------------------------------------


def test_two_token_word_keeps_every_token_in_place(clip_model):
    """SOS [2 soft] playful ness [2 soft] energy [ctx] name . EOS: every frozen position holds
    the embedding of the whole prompt text, every learned one its parameter (upstream's one-token
    slicing would put an "X" where "energy" belongs)."""
    assert n_tokens("playfulness") == 2 and n_tokens("energy") == 1
    cfg = make_cfg("OxfordPets")
    cfg.TRAINER.COOP.N_CTX = 3
    learner = trainers.coop.PromptLearner(cfg, NAMES, clip_model)
    blocks = attach_attribute_blocks(learner, clip_model, PETS, NAMES)
    assert blocks.text == "X X playfulness X X energy" and blocks.length == 7
    prompts = learner()
    tokens = learner.class_tokens()
    assert tokens.prefix.shape[1] == 1 + 7
    texts = [f"X X playfulness X X energy X X X {name}." for name in NAMES]
    full = embed_tokens(clip_model, tokenize(texts))
    assert torch.equal(tokens.tokenized, tokenize(texts))
    learned = {1: blocks.ctx_att1[0], 2: blocks.ctx_att1[1], 5: blocks.ctx_att2[0],
               6: blocks.ctx_att2[1], 8: learner.ctx[0], 9: learner.ctx[1], 10: learner.ctx[2]}
    for position in range(prompts.shape[1]):
        if position in learned:
            assert torch.equal(prompts[:, position], learned[position].expand(3, -1)), position
        else:
            assert torch.equal(prompts[:, position], full[:, position]), position
    energy = embed_tokens(clip_model, tokenize(["energy"]))[0, 1]
    assert torch.equal(prompts[0, 7], energy)


def test_blocks_are_shared_by_all_classes_and_learn(clip_model):
    learner = trainers.coop.PromptLearner(make_cfg(), NAMES, clip_model)
    attach_attribute_blocks(learner, clip_model, PETS, NAMES)
    prompts = learner()
    assert torch.equal(prompts[0, :8], prompts[2, :8])
    prompts.sum().backward()
    assert learner.lead_blocks.ctx_att1.grad.abs().sum() > 0
    state = learner.state_dict()
    assert "lead_blocks.ctx_att1" in state and "lead_blocks.word1" not in state


def test_unused_blocks_draw_as_upstream_does(clip_model):
    """Upstream draws all three blocks whatever ATT_NUM: the RNG after them is the same."""
    torch.manual_seed(0)
    AttributeBlocks(clip_model, [(2, "color")], unused_sizes=[2, 2])
    after_skip = torch.rand(1)
    torch.manual_seed(0)
    AttributeBlocks(clip_model, [(2, "color"), (2, "shape"), (2, "size")])
    assert torch.equal(torch.rand(1), after_skip)


def test_context_init_is_random_unless_kept():
    cfg = make_cfg()
    cfg.freeze()
    assert random_context_cfg(cfg, "MAPLE").TRAINER.MAPLE.CTX_INIT == ""
    assert cfg.TRAINER.MAPLE.CTX_INIT == "a photo of a"  # the run's own cfg is untouched
    kept = make_cfg(KEEP_CTX_INIT=True)
    assert random_context_cfg(kept, "MAPLE").TRAINER.MAPLE.CTX_INIT == "a photo of a"


# --- the methods' text paths ------------------------------------------------------------------


def to_batch_first(x, encoder):
    return x if encoder.batch_first else x.transpose(0, 1)


def test_maple_deep_prompts_replace_the_context_slot_only(clip_model):
    """Layer 1's input: the blocks as layer 0 left them, the deep prompt in the context slot."""
    torch.manual_seed(0)
    model = trainers.maple.CustomCLIP(make_cfg(), NAMES, clip_model)
    learner = model.prompt_learner
    attach_attribute_blocks(learner, clip_model, PETS, NAMES)
    start, n_ctx = 1 + learner.lead_blocks.length, learner.n_ctx
    # block hooks see whole prompts on the per-class path; the shared-prefix path (which calls
    # the blocks' parts) equals it for MaPLe_ATP in tests/test_shared_prefix.py
    model.text_encoder.shared_prefix = False
    record, handles = record_blocks(model.text_encoder.transformer.resblocks)
    with torch.no_grad():
        model.encode_text(model.class_tokens())
    for handle in handles:
        handle.remove()
    layer0 = to_batch_first(record[("out", 0)], model.text_encoder)
    layer1 = to_batch_first(record[("in", 1)], model.text_encoder)
    deep = learner.compound_prompts_text[0].to(layer1.dtype)
    assert torch.equal(layer1[:, start:start + n_ctx], deep.expand(3, -1, -1))
    assert torch.equal(layer1[:, :start], layer0[:, :start])
    assert torch.equal(layer1[:, start + n_ctx:], layer0[:, start + n_ctx:])


def test_cocoop_shifts_the_context_not_the_blocks(clip_model):
    torch.manual_seed(0)
    cfg = make_cfg()
    cfg.TRAINER.COCOOP.N_CTX = 2
    learner = trainers.cocoop.PromptLearner(cfg, NAMES, clip_model)
    attach_attribute_blocks(learner, clip_model, PETS, NAMES)
    tokens = learner.class_tokens()
    images = torch.randn(2, clip_model.text_projection.shape[1])
    prompts = learner(images, tokens)  # (2 images, 3 classes, length, D)
    assert prompts.shape[2] == tokens.max_len
    assert torch.equal(prompts[0, :, :8], prompts[1, :, :8])
    assert not torch.equal(prompts[0, :, 8:10], prompts[1, :, 8:10])
    assert torch.equal(prompts[0, :, 10:], prompts[1, :, 10:])


def test_promptsrc_averages_the_blocks_too(clip_model):
    cfg = make_cfg()
    cfg.TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT = 2
    cfg.TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION = 2
    learner = trainers.promptsrc.VLPromptLearner(cfg, NAMES, clip_model)
    attach_attribute_blocks(learner, clip_model, PETS, NAMES)
    assert {"lead_blocks.ctx_att1", "lead_blocks.ctx_att2", "ctx"} <= set(learner.gpa.names)


def test_upstream_checkpoint_keys():
    state = {"ctx": 1, "ctx_att1": 2, "ctx_att2": 3, "ctx_att3": 4, "token_middle1": 5,
             "token_prefix": 6}
    assert upstream_attribute_keys(state, 2) == {
        "ctx": 1, "lead_blocks.ctx_att1": 2, "lead_blocks.ctx_att2": 3, "token_prefix": 6}
