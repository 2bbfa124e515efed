"""ATPrompt (Li et al., ICCV 2025, "Advancing Textual Prompt Learning with Anchored Attributes")
as a plug-in for the text path of any PromptTrainer: ``class X_ATP(ATPromptMixin, X)``.

Before the method's class context go ATT_NUM blocks, each N_ATTk learnable tokens shared by all
classes followed by one frozen attribute word, e.g. for two attributes

    SOS [N_ATT1 soft] color [N_ATT2 soft] shape [class context] classname . EOS

The blocks live in the class tokens' prefix (``ClassTokenBuffers.lead_blocks``): the method's own
assembly, CoCoOp's per-image shift, the deep text prompts of MaPLe and PromptSRC (which replace
only the class-context slot after the blocks, so the blocks pass through from layer 0) and SAR's
novel classes all take them without a line of the method changed. The vision side is untouched.
An attribute word may be any number of BPE tokens: the slicing follows the tokenizer, where
upstream assumes one token per word (its OxfordPets prompt drops "energy").
"""

import dataclasses

import torch
import torch.nn as nn

from trainers.gpa import GaussianPromptAverage
from trainers.prompts import embed_tokens, tokenize

# Upstream's words per dataset (its train.py, choose_attribute_for_atprompt; docs/ATPrompt.md):
# the result of its attribute search. The ImageNet variants use ImageNet's.
IMAGENET_WORDS = ("color", "shape")
ATTRIBUTE_WORDS = {
    "ImageNet": IMAGENET_WORDS,
    "ImageNetSketch": IMAGENET_WORDS,
    "ImageNetV2": IMAGENET_WORDS,
    "ImageNetA": IMAGENET_WORDS,
    "ImageNetR": IMAGENET_WORDS,
    "Caltech101": ("shape", "size"),
    "OxfordPets": ("playfulness", "energy"),
    "StanfordCars": ("luxury",),
    "OxfordFlowers": ("color", "habitat", "growth"),
    "Food101": ("flavor", "preparation"),
    "FGVCAircraft": ("design", "range"),
    "SUN397": ("function",),
    "DescribableTextures": ("pattern", "color", "design"),
    "EuroSAT": ("habitat",),
    "UCF101": ("precision",),
}
MAX_ATTRIBUTES = 3  # upstream's keys stop at ATT3_TEXT
SOFT_STD = 0.01  # upstream draws the attribute tokens from N(0, 0.01^2) (the context: 0.02)
UNSET_WORD = "none"  # upstream's default ATTk_TEXT


def _given_word(opts, k):
    word = str(opts[f"ATT{k}_TEXT"]).strip()
    return "" if word.lower() == UNSET_WORD else word


def resolve_attributes(cfg):
    """[(n_soft, word), ...]: the blocks of this run, in prompt order.

    ATT_NUM 0 takes the dataset's count from upstream's table; a word given in ATTk_TEXT wins
    over the table (upstream's table overrides the command line).
    """
    opts, dataset = cfg.TRAINER.ATPROMPT, cfg.DATASET.NAME
    defaults = ATTRIBUTE_WORDS.get(dataset, ())
    count = opts.ATT_NUM
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_ATTRIBUTES:
        raise ValueError(f"TRAINER.ATPROMPT.ATT_NUM must be 0 (the dataset's default) to "
                         f"{MAX_ATTRIBUTES}, got {count!r}")
    count = count or len(defaults)
    if count == 0:
        raise ValueError(f"TRAINER.ATPROMPT.ATT_NUM is 0 but {dataset} has no default attribute "
                         "words: set ATT_NUM and ATT1_TEXT.. to the words you chose")
    for k in range(count + 1, MAX_ATTRIBUTES + 1):
        if _given_word(opts, k):
            raise ValueError(f"TRAINER.ATPROMPT.ATT{k}_TEXT is set but this run uses {count} "
                             f"attribute word(s): raise TRAINER.ATPROMPT.ATT_NUM to {k}")
    blocks = []
    for k in range(1, count + 1):
        word = _given_word(opts, k) or (defaults[k - 1] if k <= len(defaults) else "")
        if not word:
            raise ValueError(f"TRAINER.ATPROMPT.ATT{k}_TEXT is not set and {dataset} has "
                             f"{len(defaults)} default word(s): give ATT{k}_TEXT or lower ATT_NUM")
        n_soft = opts[f"N_ATT{k}"]
        if isinstance(n_soft, bool) or not isinstance(n_soft, int) or n_soft < 0:
            raise ValueError(f"TRAINER.ATPROMPT.N_ATT{k} must be an integer >= 0, got {n_soft!r}")
        blocks.append((n_soft, word))
    return blocks


def word_embedding(clip_model, word):
    """The frozen token embeddings of ``word``, one row per BPE token (SOS and EOS cut)."""
    ids = tokenize([word])
    n_tokens = int(ids.argmax(dim=-1).item()) - 1
    if n_tokens < 1:
        raise ValueError(f"TRAINER.ATPROMPT attribute word {word!r} has no tokens")
    return embed_tokens(clip_model, ids)[0, 1 : 1 + n_tokens].clone()


class AttributeBlocks(nn.Module):
    """The attribute blocks of one prompt learner: ``ctx_att<k>`` (n_k, D) learned, the words'
    embeddings frozen and non-persistent (a checkpoint holds what was learned only)."""

    def __init__(self, clip_model, blocks, unused_sizes=()):
        super().__init__()
        width = clip_model.ln_final.weight.shape[0]
        self.words = [word for _, word in blocks]
        self.n_soft = [n_soft for n_soft, _ in blocks]
        for k, n_soft in enumerate(self.n_soft, 1):
            soft = torch.empty(n_soft, width).normal_(std=SOFT_STD)
            self.register_parameter(f"ctx_att{k}", nn.Parameter(soft))
        for n_soft in unused_sizes:  # upstream draws all three blocks: the same RNG stream after
            torch.empty(n_soft, width).normal_(std=SOFT_STD)
        for k, word in enumerate(self.words, 1):
            self.register_buffer(f"word{k}", word_embedding(clip_model, word), persistent=False)
        self.word_lens = [getattr(self, f"word{k}").shape[0] for k in range(1, len(blocks) + 1)]

    @property
    def text(self):
        """The blocks as prompt text, "X" for a learned token: "X X color X X shape"."""
        return " ".join(" ".join(["X"] * n_soft + [word])
                        for n_soft, word in zip(self.n_soft, self.words)).strip()

    @property
    def length(self):
        """Tokens the blocks take between SOS and the class context."""
        return sum(self.n_soft) + sum(self.word_lens)

    def sequence(self, dtype):
        """(length, D): learned and frozen tokens in prompt order."""
        parts = []
        for k in range(1, len(self.words) + 1):
            parts += [getattr(self, f"ctx_att{k}").to(dtype), getattr(self, f"word{k}").to(dtype)]
        return torch.cat(parts)

    def extend(self, tokens):
        """``tokens`` with the blocks appended to every class's SOS prefix."""
        prefix = tokens.prefix
        lead = self.sequence(prefix.dtype).to(prefix.device)
        lead = lead.unsqueeze(0).expand(prefix.shape[0], -1, -1)
        return dataclasses.replace(tokens, prefix=torch.cat([prefix, lead], dim=1))


def attach_attribute_blocks(learner, clip_model, blocks, classnames, unused_sizes=()):
    """Give ``learner`` (a ClassTokenBuffers) the blocks and rebuild its class tokens around
    them; a learner that averages its parameters over epochs (PromptSRC's GPA) averages the
    blocks too."""
    learner.lead_blocks = AttributeBlocks(clip_model, blocks, unused_sizes)
    learner.register_class_tokens(learner.build_class_tokens(clip_model, classnames))
    if isinstance(getattr(learner, "gpa", None), GaussianPromptAverage):
        learner.gpa = GaussianPromptAverage(list(learner.named_parameters()), learner.gpa.weights)
    return learner.lead_blocks


def random_context_cfg(cfg, node):
    """``cfg`` with ``TRAINER.<node>.CTX_INIT`` cleared, as upstream's *_atp.py ignore it (their
    context is always random), unless ``TRAINER.ATPROMPT.KEEP_CTX_INIT`` keeps it."""
    ctx_init = cfg.TRAINER[node].get("CTX_INIT", "")
    if cfg.TRAINER.ATPROMPT.KEEP_CTX_INIT or ctx_init in ("", None, False):
        return cfg
    print(f"ATPrompt: TRAINER.{node}.CTX_INIT {ctx_init!r} not used, the context is random as "
          "upstream's (TRAINER.ATPROMPT.KEEP_CTX_INIT True keeps it)")
    cfg = cfg.clone()
    cfg.defrost()
    cfg.TRAINER[node].CTX_INIT = ""
    cfg.freeze()
    return cfg


def upstream_attribute_keys(state_dict, n_used):
    """Upstream's keys to ours: ``ctx_att<k>`` -> ``lead_blocks.ctx_att<k>`` (the blocks this run
    uses; upstream saves all three), its per-class ``token_middle<k>`` dropped (frozen words)."""
    mapped = {}
    for key, value in state_dict.items():
        if key.startswith("token_middle"):
            continue
        if key.startswith("ctx_att") and key[len("ctx_att"):].isdigit():
            if int(key[len("ctx_att"):]) <= n_used:
                mapped[f"lead_blocks.{key}"] = value
            continue
        mapped[key] = value
    return mapped


class ATPromptMixin:
    """Puts ATPrompt's attribute blocks before any PromptTrainer's class context.

    ``TRAINER.ATPROMPT.USE_ATPROMPT False`` runs the baseline's own prompt, as upstream's
    *_atp.py do. Checkpoints keep the baseline's folder name (upstream's too).
    """

    extra_cfg_nodes = ("ATPROMPT",)  # read by trainers.config.trainer_nodes

    def check_cfg(self, cfg):
        super().check_cfg(cfg)
        if not isinstance(cfg.TRAINER.ATPROMPT.KEEP_CTX_INIT, bool):
            raise ValueError("TRAINER.ATPROMPT.KEEP_CTX_INIT must be True or False, got "
                             f"{cfg.TRAINER.ATPROMPT.KEEP_CTX_INIT!r}")
        if cfg.TRAINER.ATPROMPT.USE_ATPROMPT:
            resolve_attributes(cfg)

    def build_custom_clip(self, cfg, classnames, clip_model):
        if not cfg.TRAINER.ATPROMPT.USE_ATPROMPT:
            print("ATPrompt: TRAINER.ATPROMPT.USE_ATPROMPT is False, the baseline's prompt")
            return super().build_custom_clip(cfg, classnames, clip_model)
        blocks = resolve_attributes(cfg)
        model = super().build_custom_clip(random_context_cfg(cfg, self.cfg_node), classnames,
                                          clip_model)
        learner = getattr(model, self.learnable_module)
        opts = cfg.TRAINER.ATPROMPT
        unused = [opts[f"N_ATT{k}"] for k in range(len(blocks) + 1, MAX_ATTRIBUTES + 1)]
        lead = attach_attribute_blocks(learner, clip_model, blocks, classnames, unused)
        source = "given" if any(_given_word(opts, k) for k in range(1, len(blocks) + 1)) else (
            f"{cfg.DATASET.NAME}'s defaults")
        print(f"ATPrompt: attribute words {', '.join(lead.words)} ({source}; tokens per word "
              f"{lead.word_lens}); prompt \"{lead.text} {learner.prompt_prefix} {{class}}.\"")
        return model

    def upstream_state_dict(self, state_dict):
        state_dict = super().upstream_state_dict(state_dict)
        if not self.cfg.TRAINER.ATPROMPT.USE_ATPROMPT:
            return state_dict
        return upstream_attribute_keys(state_dict, len(resolve_attributes(self.cfg)))
