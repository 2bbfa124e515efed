"""TRAINER.SHARED_PREFIX: the prefix once, suffixes by length bucket, exactly today's numbers.

Exactness is checked on the pretrained toy CLIP (a random tower barely reacts to its prompt, so
equal features there prove little) and on a random two-head tower, features and gradients.
"""

import itertools

import pytest
import torch

from tests.helpers import record_blocks
from trainers import shared_prefix as sp
from trainers.backbone import load_clip
from trainers.prompts import ClassTokens, assemble_prompts, shared_prefix
from trainers.text_encoder import TextEncoder

# token lengths from 1 to 12: one bucket would pad most of them
NAMES = ["x", "red circle", "a dark red circle drawn on a small white card today",
         "blue square", "green triangle with a hole", "sea or lake", "yellow star"]


@pytest.fixture(scope="module")
def toy_clip(tmp_path_factory):
    """The shipped pretrained toy CLIP (one head), as load_clip reads it."""
    from tools.toy_world.checkpoint import SHIPPED, read_compact

    state, _ = read_compact(SHIPPED)
    path = tmp_path_factory.mktemp("toy") / "toy.pt"
    torch.save(state, path)
    return str(path)


@pytest.fixture(scope="module")
def two_head_clip(tmp_path_factory):
    """A random CLIP whose text tower has two heads (width 128), to check the head split."""
    from trainers.random_clip import random_clip_state_dict

    state = random_clip_state_dict(text_width=128, embed_dim=32, seed=3)
    path = tmp_path_factory.mktemp("two_head") / "clip.pt"
    torch.save(state, path)
    return str(path)


def both_paths(clip_model, names, n_ctx=4, deep=0, groups=0, overhead=0.0, recompute=False,
               prompt_prefix=None):
    """Features and gradients (into the context and deep prompts) of the per-class path and of
    the shared-prefix path, for one shared context or (``groups``) one context per image."""
    encoder = TextEncoder(clip_model)
    encoder.recompute_blocks, encoder.bucket_overhead = recompute, overhead
    width = clip_model.ln_final.weight.shape[0]
    prompt_prefix = prompt_prefix or " ".join(["X"] * n_ctx)
    tokens = ClassTokens.build(clip_model, names, prompt_prefix, n_ctx)
    generator = torch.Generator().manual_seed(0)
    shape = (groups, n_ctx, width) if groups else (n_ctx, width)
    ctx = (0.3 * torch.randn(shape, generator=generator)).requires_grad_()
    deep_prompts = [(0.3 * torch.randn(n_ctx, width, generator=generator)).requires_grad_()
                    for _ in range(deep)]
    weights = torch.randn(len(names), generator=generator)
    results = []
    for shared in (False, True):
        if shared:
            features = encoder(encoder.split(tokens, shared_prefix(ctx, tokens)),
                               deep_prompts=deep_prompts)
        elif groups:
            rows = [assemble_prompts(c, tokens) for c in ctx]
            features = torch.stack([encoder(r, tokens.tokenized, deep_prompts=deep_prompts)
                                    for r in rows])
        else:
            features = encoder(assemble_prompts(ctx, tokens), tokens.tokenized,
                               deep_prompts=deep_prompts)[None]
        features = features / features.norm(dim=-1, keepdim=True)
        loss = (features.sum(0) @ features.sum(0).t() * weights).sum()
        grads = torch.autograd.grad(loss, [ctx, *deep_prompts])
        results.append((features.detach(), loss.detach(), grads))
    return results


def assert_close(a, b, rel=1e-5, floor=1e-12):
    """|a - b| <= rel * max|a| (or ``floor``, for a term that is 0 up to rounding)."""
    scale = max(a.abs().max().item(), floor)
    assert (a - b).abs().max().item() <= rel * scale, ((a - b).abs().max().item(), scale)


def assert_same_results(per_class, shared, rel=1e-5):
    (features, loss, grads), (features_s, loss_s, grads_s) = per_class, shared
    assert_close(features, features_s, rel)
    assert_close(loss, loss_s, rel)
    for grad, grad_s in zip(grads, grads_s, strict=True):
        assert grad.abs().max() > 0
        assert_close(grad, grad_s, rel)


@pytest.mark.parametrize("clip", ["toy_clip", "two_head_clip"])
@pytest.mark.parametrize("overhead", [0.0, float("inf")])  # a bucket per length; one bucket
@pytest.mark.parametrize("deep", [0, 1])
def test_features_and_gradients_equal_the_per_class_path(request, clip, overhead, deep):
    clip_model = load_clip(request.getfixturevalue(clip))
    assert_same_results(*both_paths(clip_model, NAMES, deep=deep, overhead=overhead))


def test_words_after_the_context_are_part_of_the_prefix(toy_clip):
    """MaPLe with N_CTX 2 and "a photo of a": "of a" is frozen text before every name."""
    clip_model = load_clip(toy_clip)
    assert_same_results(*both_paths(clip_model, NAMES, n_ctx=2, deep=1,
                                    prompt_prefix="a photo of a"))


def test_per_image_prefixes_equal_per_image_prompts(toy_clip):
    """CoCoOp: each image has its own context, shared by all classes of that image."""
    assert_same_results(*both_paths(load_clip(toy_clip), NAMES, groups=3))


def test_text_checkpoint_recomputes_the_shared_path_to_the_same_numbers(toy_clip):
    from benchmarking.steps import SavedBytes

    clip_model = load_clip(toy_clip)
    encoder = TextEncoder(clip_model)
    tokens = ClassTokens.build(clip_model, NAMES * 20, "X X X X", 4)
    ctx = torch.randn(4, 64, generator=torch.Generator().manual_seed(0)).requires_grad_()
    results = []
    for recompute in (False, True):
        encoder.recompute_blocks = recompute
        with SavedBytes(clip_model) as saved:
            features = encoder(encoder.split(tokens, shared_prefix(ctx, tokens)))
        (grad,) = torch.autograd.grad(features.square().sum(), [ctx])
        results.append((features.detach(), grad, saved.mib))
    (plain, grad, plain_mib), (lean, grad_lean, lean_mib) = results
    assert torch.equal(plain, lean) and torch.equal(grad, grad_lean)
    assert lean_mib < plain_mib / 2, (plain_mib, lean_mib)


def test_a_suffix_sees_nothing_after_it(toy_clip):
    """In one bucket the short names are padded: what follows a class's EOS, and the other
    classes' rows, must not reach its feature. Without the causal mask they would, which shows
    the check can fail."""
    clip_model = load_clip(toy_clip)
    encoder = TextEncoder(clip_model)
    encoder.bucket_overhead = float("inf")
    tokens = ClassTokens.build(clip_model, NAMES, "X X X X", 4)
    split = encoder.split(tokens, shared_prefix(torch.randn(4, 64), tokens))
    assert len(split.shapes) == 1
    rows, length = split.shapes[0]
    short = 0  # "x": EOS at suffix position 2 of 12
    eos = split.eos[short].item() - tokens.shared_len
    row = eos // length
    noise = torch.zeros_like(split.suffix).unflatten(0, (rows, length))
    noise[row, eos % length + 1 :] = 5.0
    noise[torch.arange(rows) != row] = 5.0
    noisy = split._replace(suffix=split.suffix + noise.flatten(0, 1))
    assert torch.equal(encoder(split)[0, short], encoder(noisy)[0, short])
    encoder.attn_mask = torch.zeros_like(encoder.attn_mask)  # every position sees every other
    assert not torch.allclose(encoder(split)[0, short], encoder(noisy)[0, short])


def test_prefix_states_are_one_for_all_classes_at_every_layer(toy_clip, monkeypatch):
    """The per-class path computes the same prefix states in every class's row, at every layer
    (the premise), and the shared path's one copy equals them."""
    clip_model = load_clip(toy_clip)
    encoder = TextEncoder(clip_model)
    tokens = ClassTokens.build(clip_model, NAMES, "a photo of a", 2)
    ctx, deep = torch.randn(2, 64), [torch.randn(2, 64)]
    record, handles = record_blocks(clip_model.transformer.resblocks)
    encoder(assemble_prompts(ctx, tokens), tokens.tokenized, deep_prompts=deep)
    for handle in handles:
        handle.remove()
    shared_states = []
    step = sp.block_step
    monkeypatch.setattr(sp, "block_step", lambda *args: shared_states.append(step(*args))
                        or shared_states[-1])
    encoder(encoder.split(tokens, shared_prefix(ctx, tokens)), deep_prompts=deep)
    n_prefix = tokens.shared_len
    for layer, state in enumerate(shared_states):
        per_class = record[("out", layer)][:, :n_prefix]
        assert torch.allclose(per_class, per_class[:1].expand_as(per_class), atol=1e-6)
        assert torch.allclose(state[0, :n_prefix], per_class[0], atol=1e-5)


@pytest.mark.parametrize("prec", ["bf16", "fp16"])
def test_half_precision_stays_close(toy_clip, prec):
    """PREC bf16 / fp16 weights (LayerNorms fp32, as the trainers cast them)."""
    from trainers.backbone import apply_precision

    clip_model = apply_precision(load_clip(toy_clip), prec)
    encoder = TextEncoder(clip_model)
    tokens = ClassTokens.build(clip_model, NAMES, "X X X X", 4)
    ctx = torch.randn(4, 64)
    per_class = encoder(assemble_prompts(ctx, tokens), tokens.tokenized).float()
    shared = encoder(encoder.split(tokens, shared_prefix(ctx, tokens)))[0].float()
    assert shared.dtype == torch.float32 and torch.isfinite(shared).all()
    cosine = torch.nn.functional.cosine_similarity(per_class, shared, dim=-1)
    assert cosine.min() > 0.999, cosine


def test_compiled_shared_path_matches_eager(toy_clip):
    clip_model = load_clip(toy_clip)
    encoder = TextEncoder(clip_model)
    tokens = ClassTokens.build(clip_model, NAMES, "X X X X", 4)
    ctx = torch.randn(4, 64, generator=torch.Generator().manual_seed(0)).requires_grad_()
    eager = encoder(encoder.split(tokens, shared_prefix(ctx, tokens)))
    (eager_grad,) = torch.autograd.grad(eager.square().sum(), [ctx])
    encoder.compile(backend="aot_eager")
    encoder.length_multiple = 8
    split = encoder.split(tokens, shared_prefix(ctx, tokens))
    assert len(split.shapes) == 1 and split.shapes[0][1] % 8 == 0
    compiled = encoder(split)
    (compiled_grad,) = torch.autograd.grad(compiled.square().sum(), [ctx])
    assert_close(eager.detach(), compiled.detach())
    assert_close(eager_grad, compiled_grad)


def test_buckets_minimize_padding_plus_a_cost_per_bucket():
    lengths = [3, 3, 4, 4, 4, 5, 9, 9, 13]
    for overhead in (0, 5, 20, 1000):
        buckets = sp.plan_buckets(lengths, overhead)
        assert sorted(i for _, members in buckets for i in members) == list(range(len(lengths)))
        assert all(lengths[i] <= size for size, members in buckets for i in members)
        cost = sum(size * len(members) + overhead for size, members in buckets)
        distinct = sorted(set(lengths))
        best = min(  # every way to cut the sorted distinct lengths into consecutive groups
            sum(sum(lengths.count(x) for x in group) * group[-1] + overhead for group in groups)
            for cuts in itertools.product([0, 1], repeat=len(distinct) - 1)
            for groups in [split_at(distinct, cuts)]
        )
        assert cost == best, (overhead, buckets)
    assert len(sp.plan_buckets(lengths, 0)) == len(set(lengths))
    assert sp.plan_buckets(lengths, float("inf")) == [(13, list(range(9)))]
    assert sp.plan_buckets(lengths, 0, multiple=8, limit=12) == [(8, list(range(6))),
                                                                 (12, [6, 7, 8])]


def split_at(values, cuts):
    groups, current = [], [values[0]]
    for value, cut in zip(values[1:], cuts):
        if cut:
            groups.append(current)
            current = []
        current.append(value)
    return groups + [current]


def test_blocks_it_cannot_drive_are_named(toy_clip):
    clip_model = load_clip(toy_clip)
    assert sp.unsupported_reason(clip_model.transformer) is None
    clip_model.transformer.resblocks[1].attn.dropout = 0.1
    assert "dropout" in sp.unsupported_reason(clip_model.transformer)
    encoder = TextEncoder(clip_model)
    assert not encoder.shares_prefix


# ---- every trainer, through its own compute_loss, on the pretrained toy CLIP ----

TRAINERS = ["CoOp", "CoCoOp", "KgCoOp", "MaPLe", "PromptSRC"]
BANK = ["purple hexagon", "an orange circle with a thin black border around it", "z",
        "grey square", "pink star on a long striped ribbon"]


def trainer_step(trainer, clip, bank_file, shared, opts=()):
    """One compute_loss + backward of ``trainer`` over NAMES (SAR: plus 3 bank names)."""
    from benchmarking.steps import build_cfg, offline_trainer
    from tools.toy_world.bench import TOY_DEPTH_OPTS

    cfg = build_cfg(trainer, "tiny", "fp32", 2, 3, bank_file, "cpu")
    cfg.MODEL.BACKBONE.NAME = clip
    cfg.TRAINER.SHARED_PREFIX = shared
    # a random context for the CoOp family: at "a photo of a" SAR's and KgCoOp's terms are 0
    cfg.TRAINER.COOP.CTX_INIT = cfg.TRAINER.COCOOP.CTX_INIT = ""
    cfg.merge_from_list([o for opts_ in TOY_DEPTH_OPTS.values() for o in opts_] + list(opts))
    torch.manual_seed(0)
    instance = offline_trainer(trainer, cfg, NAMES)
    assert instance.model.shares_prefix() == shared
    generator = torch.Generator().manual_seed(1)
    image = torch.randn(2, 3, 32, 32, generator=generator)
    label = torch.tensor([0, 2])
    terms, output = instance.compute_loss(image, label)
    sum(terms.values()).backward()
    learner = instance.model.prompt_learner
    grads = {name: p.grad for name, p in learner.named_parameters() if p.requires_grad}
    return terms, output.text_features.detach(), grads


EVERY_TRAINER = [f"{t}{plugin}" for plugin in ("", "_SAR", "_ATP", "_ATP_SAR") for t in TRAINERS]


@pytest.mark.parametrize("trainer", EVERY_TRAINER)
def test_every_trainer_gets_the_per_class_losses_and_gradients(toy_clip, tmp_path, trainer):
    bank_file = tmp_path / "bank.txt"
    bank_file.write_text("\n".join(BANK))
    terms, features, grads = trainer_step(trainer, toy_clip, str(bank_file), False)
    terms_s, features_s, grads_s = trainer_step(trainer, toy_clip, str(bank_file), True)
    n_classes = len(NAMES) + (3 if trainer.endswith("_SAR") else 0)
    assert features.shape[-2] == n_classes
    assert_close(features, features_s)
    assert terms.keys() == terms_s.keys()
    total = sum(terms.values()).item()
    for name in terms:
        assert_close(terms[name].detach(), terms_s[name].detach(), floor=total)
    assert grads.keys() == grads_s.keys() and grads
    for name, grad in grads.items():
        assert grad is not None and grad.abs().max() > 0, name
        assert_close(grad, grads_s[name])


@pytest.mark.parametrize("opts", [["TRAINER.COOP.CLASS_TOKEN_POSITION", "middle"],
                                  ["TRAINER.COOP.CLASS_TOKEN_POSITION", "front"],
                                  ["TRAINER.COOP.CSC", "True"]])
def test_layouts_without_a_shared_prefix_fall_back_with_one_line(toy_clip, capsys, opts):
    from benchmarking.steps import build_cfg, offline_trainer

    cfg = build_cfg("CoOp", "tiny", "fp32", 2, 0, "", "cpu")
    cfg.MODEL.BACKBONE.NAME = toy_clip
    cfg.merge_from_list(opts)
    instance = offline_trainer("CoOp", cfg, NAMES)
    lines = [line for line in capsys.readouterr().out.splitlines()
             if line.startswith("TRAINER.SHARED_PREFIX")]
    assert len(lines) == 1 and "per-class path" in lines[0], lines
    assert instance.model.text_encoder.shared_prefix and not instance.model.shares_prefix()
    output = instance.model(torch.randn(2, 3, 32, 32))
    assert output.text_features.shape[0] == len(NAMES)


def test_the_key_defaults_on_and_must_be_a_bool():
    from yacs.config import CfgNode

    from dassl.config import get_cfg_default
    from trainers.config import extend_cfg
    from trainers.text_encoder import shared_prefix_setting

    assert extend_cfg(get_cfg_default()).TRAINER.SHARED_PREFIX is True
    assert shared_prefix_setting(CfgNode({"TRAINER": CfgNode()})) is True  # upstream config
    with pytest.raises(ValueError, match="TRAINER.SHARED_PREFIX must be True or False"):
        shared_prefix_setting(CfgNode({"TRAINER": CfgNode({"SHARED_PREFIX": "yes"})}))


@pytest.mark.parametrize("seed", ["1", "2"])
def test_a_whole_coop_sar_run_prints_the_same_accuracy_either_way(toy, tmp_path, seed):
    """train.py end to end: CoOp_SAR trained and tested on the toy world, key on and off."""
    import train
    from tests.helpers import read_log, toy_argv
    from tools.toy_world.bench import read_accuracy

    opts = ["DATASET.NUM_SHOTS", "4", "DATASET.SUBSAMPLE_CLASSES", "base", "OPTIM.MAX_EPOCH", "2",
            "TRAINER.COOP.N_CTX", "4", "TRAINER.COOP.CTX_INIT", "", "TRAINER.SAR.NUM_NOVEL", "4",
            "OPTIM.NAME", "adam", "OPTIM.LR", "0.005"]
    printed = {}
    for shared in ("True", "False"):
        out = tmp_path / shared
        argv = toy_argv(toy, out, "CoOp_SAR", "CoOp_SAR/vit_b16_ctxv1", "--seed", seed,
                        opts=[*opts, "TRAINER.SHARED_PREFIX", shared])
        assert train.main(argv) == 0
        printed[shared] = read_accuracy(out / "log.txt")
        assert printed[shared] is not None, read_log(out)
    assert printed["True"] == printed["False"], printed


def test_a_learner_whose_prompts_start_otherwise_falls_back_with_one_line(toy_clip, capsys):
    """A learner that puts tokens before its context (as attribute blocks would) but inherits
    CoOp's shared_prefix() is caught on the first pass, not trusted."""
    from benchmarking.steps import build_cfg, offline_trainer

    cfg = build_cfg("CoOp", "tiny", "fp32", 2, 0, "", "cpu")
    cfg.MODEL.BACKBONE.NAME = toy_clip
    instance = offline_trainer("CoOp", cfg, NAMES)
    model, learner = instance.model, instance.model.prompt_learner
    reference = model.encode_text(model.class_tokens())  # the check passes for CoOp itself
    assert model._prefix_checked is True
    model._prefix_checked = None
    learner.forward = lambda tokens: assemble_prompts(learner.ctx.flip(0), tokens)
    capsys.readouterr()
    features = model.encode_text(model.class_tokens())
    assert model._prefix_checked is False and not model.shares_prefix()
    assert "is not how its prompts start" in capsys.readouterr().out
    assert not torch.allclose(features, reference)  # the learner's own prompts, not the prefix
