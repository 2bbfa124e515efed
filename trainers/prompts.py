"""Prompt building shared by every trainer: tokenization, context vectors, class tokens, templates.

A prompt is ``[SOS] [ctx_1 .. ctx_n] [class name tokens] . [EOS] [pad]``. The class-dependent
parts (``token_prefix`` = SOS, ``token_suffix`` = name, full stop, EOS, padding) are frozen
embeddings computed once per class set; only the context is learned.
"""

from dataclasses import dataclass

import torch
from open_clip.tokenizer import tokenize as _open_clip_tokenize
from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

from trainers.progress import advance

# The per-dataset hand-crafted templates of CoOp's zero-shot CLIP (CoOp's trainers/zsclip.py);
# the ImageNet variants use ImageNet's. The other repositories' Dassl forks share it.
DATASET_TEMPLATES = {
    "OxfordPets": "a photo of a {}, a type of pet.",
    "OxfordFlowers": "a photo of a {}, a type of flower.",
    "FGVCAircraft": "a photo of a {}, a type of aircraft.",
    "DescribableTextures": "{} texture.",
    "EuroSAT": "a centered satellite photo of {}.",
    "StanfordCars": "a photo of a {}.",
    "Food101": "a photo of {}, a type of food.",
    "SUN397": "a photo of a {}.",
    "Caltech101": "a photo of a {}.",
    "UCF101": "a photo of a person doing {}.",
    "ImageNet": "a photo of a {}.",
    "ImageNetSketch": "a photo of a {}.",
    "ImageNetV2": "a photo of a {}.",
    "ImageNetA": "a photo of a {}.",
    "ImageNetR": "a photo of a {}.",
}
DEFAULT_TEMPLATE = "a photo of a {}."
# KgCoOp's own table (KgCoOp's trainers/kgcoop.py, CUSTOM_TEMPLATES): CoOp's but for DTD.
KGCOOP_TEMPLATES = {**DATASET_TEMPLATES,
                    "DescribableTextures": "a photo of a {}, a type of texture."}
# The per-dataset tables by name: a trainer declares its own (``template_table``).
TEMPLATE_TABLES = {"coop": DATASET_TEMPLATES, "kgcoop": KGCOOP_TEMPLATES}
# The ImageNet template set of CLIP's paper, as format strings.
ENSEMBLE_TEMPLATES = [template("{}") for template in OPENAI_IMAGENET_TEMPLATES]
DEFAULT_CTX_INIT = "a photo of a"  # what KgCoOp's ``CTX_INIT: True`` stands for
# PromptSRC's teacher uses 60 of the 80 templates above; these are the 20 it leaves out.
_NOT_IN_PROMPTSRC = frozenset([
    "a jpeg corrupted photo of the {}.", "a good photo of a {}.", "a plushie {}.",
    "a photo of the nice {}.", "a photo of the small {}.", "a photo of the weird {}.",
    "the cartoon {}.", "art of the {}.", "a drawing of the {}.", "a photo of the large {}.",
    "a black and white photo of a {}.", "the plushie {}.", "a dark photo of a {}.",
    "itap of a {}.", "graffiti of the {}.", "a toy {}.", "itap of my {}.",
    "a photo of a cool {}.", "a photo of a small {}.", "a tattoo of the {}.",
])
PROMPTSRC_TEMPLATES = [t for t in ENSEMBLE_TEMPLATES if t not in _NOT_IN_PROMPTSRC]
MAX_WORD_INIT = 4  # MaPLe / PromptSRC take CTX_INIT's words only for N_CTX <= 4
CONTEXT_LENGTH = 77  # CLIP's text context, SOS and EOS included


TOKENIZE_CHUNK = 4096  # texts per tokenizer call when a pass reports progress


def tokenize(texts, progress=None, context_length=CONTEXT_LENGTH):
    """Token ids (N, context_length); in chunks that advance ``progress`` (trainers/progress.py)
    when one is given, since a bank of 10^5 names takes minutes."""
    texts = list(texts)
    if progress is None or len(texts) <= TOKENIZE_CHUNK:
        ids = _open_clip_tokenize(texts, context_length=context_length)
        advance(progress, len(texts))
        return ids
    chunks = []
    for start in range(0, len(texts), TOKENIZE_CHUNK):
        chunk = texts[start : start + TOKENIZE_CHUNK]
        chunks.append(_open_clip_tokenize(chunk, context_length=context_length))
        progress.advance(len(chunk))
    return torch.cat(chunks)


def check_prompt_lengths(texts, names, progress=None):
    """Refuse prompts longer than CLIP's context: the tokenizer would cut them silently, and
    what it cuts is the class name, so every class would get the same prompt. ``names[i]``
    says what ``texts[i]`` is, for the message. Returns the token ids (N, 77), so that the
    prompts are tokenized once."""
    probe = tokenize(texts, progress, context_length=CONTEXT_LENGTH + 1)
    too_long = (probe[:, -1] != 0).nonzero().flatten().tolist()
    if too_long:
        first = too_long[0]
        wide = _open_clip_tokenize([texts[first]], context_length=4 * len(texts[first]) + 2)
        raise ValueError(
            f"{names[first]} is {int((wide != 0).sum())} tokens with SOS and EOS, but CLIP's "
            f"text context holds {CONTEXT_LENGTH} ({len(too_long)} of {len(texts)} prompts too "
            "long): lower N_CTX or shorten CTX_INIT"
        )
    return probe[:, :CONTEXT_LENGTH]  # nothing was cut: the same ids as a 77-token pass


def clean_classname(name):
    return name.replace("_", " ")


def dataset_template(dataset_name, table="coop"):
    """The dataset's template in the named table (``TEMPLATE_TABLES``): each method's
    repository has its own, and KgCoOp's differs from CoOp's on DTD."""
    return TEMPLATE_TABLES[table].get(dataset_name, DEFAULT_TEMPLATE)


def hand_crafted_texts(classnames, dataset_name, template="dataset", table="coop"):
    """Per class, the list of hand-crafted prompts: one (the dataset's template in ``table``),
    the ensemble, or an explicit list of format strings."""
    if template == "dataset":
        templates = [dataset_template(dataset_name, table)]
    elif template == "ensemble":
        templates = ENSEMBLE_TEMPLATES
    elif isinstance(template, (list, tuple)):
        templates = list(template)
    else:
        raise ValueError(f"template must be 'dataset' or 'ensemble', got {template!r}")
    return [[t.format(clean_classname(name)) for t in templates] for name in classnames]


def normalize_ctx_init(ctx_init):
    """``CTX_INIT`` may be a string, empty, or (KgCoOp's YAML) ``True`` for "a photo of a"."""
    if ctx_init is True:
        return DEFAULT_CTX_INIT
    if ctx_init in (False, None):
        return ""
    return str(ctx_init).replace("_", " ").strip()


@torch.no_grad()
def embed_tokens(clip_model, tokenized):
    weight = clip_model.token_embedding.weight
    return clip_model.token_embedding(tokenized.to(weight.device)).to(weight.dtype)


def init_context(clip_model, n_ctx, ctx_init="", n_cls=None, std=0.02):
    """Initial context vectors and the placeholder text that stands for them in a prompt.

    With ``ctx_init`` the vectors are the embeddings of those words and ``n_ctx`` becomes their
    token count; otherwise they are N(0, std) and the placeholder is ``"X X ... X"``. ``n_cls``
    gives class-specific context (CoOp's CSC), one set per class.
    """
    ctx_init = normalize_ctx_init(ctx_init)
    width = clip_model.ln_final.weight.shape[0]
    if ctx_init:
        check_prompt_lengths([ctx_init], [f"CTX_INIT ({len(ctx_init.split())} words)"])
        tokens = tokenize([ctx_init])
        n_ctx = int(tokens.argmax(dim=-1).item()) - 1
        ctx = embed_tokens(clip_model, tokens)[0, 1 : 1 + n_ctx].float().clone()
        if n_cls is not None:
            ctx = ctx.unsqueeze(0).repeat(n_cls, 1, 1)
        return ctx, ctx_init, n_ctx
    if n_ctx < 0:
        raise ValueError(f"N_CTX must be 0 or more, got {n_ctx}")
    if n_ctx == 0:
        print("Warning: N_CTX 0 and no CTX_INIT: the prompt has no learnable context")
    shape = (n_ctx, width) if n_cls is None else (n_cls, n_ctx, width)
    ctx = torch.empty(shape).normal_(std=std)
    return ctx, " ".join(["X"] * n_ctx), n_ctx


def word_or_random_context(clip_model, n_ctx, ctx_init, key):
    """Initial ``ctx`` and prompt prefix as MaPLe and PromptSRC make them (``key``: the config
    node, for messages).

    With ``CTX_INIT`` and N_CTX <= 4 the context is the embedding of its first ``n_ctx`` tokens,
    while the prompt text keeps every word: with N_CTX 2 and "a photo of a", "of a" stays in the
    frozen suffix. Otherwise the context is random, with an "X X ..." placeholder.
    """
    ctx_init = normalize_ctx_init(ctx_init)
    if ctx_init and n_ctx <= MAX_WORD_INIT:
        words, prefix, n_words = init_context(clip_model, n_ctx, ctx_init)
        if n_ctx > n_words:
            raise ValueError(
                f"{key} {n_ctx} exceeds the {n_words} tokens of CTX_INIT "
                f'"{ctx_init}": use a longer CTX_INIT or a smaller N_CTX'
            )
        return words[:n_ctx].clone(), prefix, n_ctx
    ctx, prefix, _ = init_context(clip_model, n_ctx, "")
    return ctx, prefix, n_ctx


@dataclass
class ClassTokens:
    """The frozen, class-dependent pieces of a set of prompts (one row per class).

    ``max_len`` is the longest prompt (up to and including EOS): the text transformer is causal
    and pools at EOS, so positions after it never change the features and can be skipped.
    ``lengths`` are each prompt's own (host integers, so bucketing by length needs no device
    sync); ``shared_len`` counts the leading positions every prompt of the set has in common
    with the prompt text (SOS, the context placeholders and any words before the class name):
    the shared-prefix text path runs those once (trainers/shared_prefix.py).
    """

    tokenized: torch.Tensor  # (N, 77)
    prefix: torch.Tensor  # (N, 1, D): SOS
    suffix: torch.Tensor  # (N, 77 - 1 - n_ctx, D): class name, ".", EOS, padding
    name_lens: list
    max_len: int
    lengths: list = None  # per prompt, EOS position + 1; None: read from ``tokenized``
    shared_len: int = 1  # leading positions identical in every prompt (1: SOS only)

    def __post_init__(self):
        if self.lengths is None:
            self.lengths = (self.tokenized.argmax(dim=-1) + 1).tolist()

    @classmethod
    def build(cls, clip_model, classnames, prompt_prefix, n_ctx):
        ids = PromptIds.build(classnames, prompt_prefix, n_ctx)
        return ids.embedded(clip_model, torch.arange(len(ids.name_lens)))

    @property
    def suffix_start(self):
        """The prompt position of ``suffix[:, 0]`` (1 + n_ctx)."""
        return self.tokenized.shape[1] - self.suffix.shape[1]

    def __len__(self):
        return self.tokenized.shape[0]

    def select(self, index):
        """A subset of classes; ``max_len`` stays the (static) bound of the whole set."""
        index_list = index.tolist() if torch.is_tensor(index) else list(index)
        device_index = torch.as_tensor(index_list, device=self.prefix.device)
        return ClassTokens(
            tokenized=self.tokenized.index_select(0, device_index.to(self.tokenized.device)),
            prefix=self.prefix.index_select(0, device_index),
            suffix=self.suffix.index_select(0, device_index),
            name_lens=[self.name_lens[i] for i in index_list],
            max_len=self.max_len,
            lengths=[self.lengths[i] for i in index_list],
            shared_len=self.shared_len,
        )

    def cat(self, other):
        return ClassTokens(
            tokenized=torch.cat([self.tokenized, other.tokenized]),
            prefix=torch.cat([self.prefix, other.prefix]),
            suffix=torch.cat([self.suffix, other.suffix]),
            name_lens=self.name_lens + other.name_lens,
            max_len=max(self.max_len, other.max_len),
            lengths=self.lengths + other.lengths,
            shared_len=min(self.shared_len, other.shared_len),
        )

    def to(self, device):
        return ClassTokens(self.tokenized.to(device), self.prefix.to(device),
                           self.suffix.to(device), self.name_lens, self.max_len, self.lengths,
                           self.shared_len)


def leading_positions(prompt_prefix, tokenized):
    """SOS plus the tokens of ``prompt_prefix``, the text before every class name: positions
    the prompts share whatever the class (CLIP's tokenizer splits words before its BPE, so the
    name never merges into them). Checked against ``tokenized``, so a layout that breaks it
    fails here rather than giving wrong features."""
    count = int((tokenize([prompt_prefix])[0] != 0).sum()) - 1  # SOS and words, not EOS
    shared = tokenized[:, :count]
    if not bool((shared == shared[:1]).all()):
        raise ValueError(f'the prompts do not all start with the tokens of "{prompt_prefix}"')
    return count


def shared_prefix(ctx, tokens):
    """The embeddings of the positions every class's prompt shares, (G, P, D): SOS, the context
    and the words before the class name. ``ctx`` is (n_ctx, D), one group, or (G, n_ctx, D),
    one group per image (CoCoOp). Built once, not per class, so the gradient into ``ctx`` comes
    from one copy that every class reads (the class-token-at-the-end layout)."""
    ctx = ctx.to(tokens.prefix.dtype)
    ctx = ctx.unsqueeze(0) if ctx.dim() == 2 else ctx
    groups, n_ctx = ctx.shape[0], ctx.shape[1]
    lead = tokens.prefix.shape[1]  # SOS, and ATPrompt's attribute blocks where present
    if tokens.suffix_start != lead + n_ctx or tokens.shared_len < tokens.suffix_start:
        raise ValueError(f"a context of {n_ctx} tokens does not fit class tokens built for "
                         f"{tokens.suffix_start - lead} with {tokens.shared_len} shared positions")
    words = tokens.suffix[:1, : tokens.shared_len - tokens.suffix_start]
    return torch.cat([tokens.prefix[:1].expand(groups, -1, -1), ctx,
                      words.expand(groups, -1, -1)], dim=1)


@dataclass
class PromptIds:
    """The token ids of a set of class prompts, before embedding; a novel bank keeps only these.

    A bank's embedded prompts would take N x 77 x D values (24 GB in fp16 for 300,000 names
    at D = 512), its token ids 77 integers per name; a step embeds only the M names it draws.
    """

    tokenized: torch.Tensor  # (N, 77)
    name_lens: list
    max_len: int
    n_ctx: int
    lengths: list  # per prompt, EOS position + 1
    shared_len: int  # leading positions identical in every prompt (ClassTokens.shared_len)

    @classmethod
    def build(cls, classnames, prompt_prefix, n_ctx, progress=None):
        """``progress`` counts two tokenizer passes per class: the prompt and the bare name."""
        names = [clean_classname(name) for name in classnames]
        texts = [f"{prompt_prefix} {name}." for name in names]
        labels = [f"the prompt of class {n!r} (N_CTX {n_ctx})" for n in names]
        tokenized = check_prompt_lengths(texts, labels, progress)
        name_lens = ((tokenize(names, progress) != 0).sum(dim=-1) - 2).tolist()
        lengths = (tokenized.argmax(dim=-1) + 1).tolist()
        return cls(tokenized, name_lens, max(lengths), n_ctx, lengths,
                   leading_positions(prompt_prefix, tokenized))

    def __len__(self):
        return self.tokenized.shape[0]

    def embedded(self, clip_model, index):
        """The ClassTokens of rows ``index``; ``max_len`` stays the bound of the whole set."""
        index_list = index.tolist() if torch.is_tensor(index) else list(index)
        tokenized = self.tokenized[torch.as_tensor(index_list, dtype=torch.long)]
        embedding = embed_tokens(clip_model, tokenized)
        return ClassTokens(
            tokenized=tokenized.to(embedding.device),
            prefix=embedding[:, :1].clone(),
            suffix=embedding[:, 1 + self.n_ctx :].clone(),
            name_lens=[self.name_lens[i] for i in index_list],
            max_len=self.max_len,
            lengths=[self.lengths[i] for i in index_list],
            shared_len=self.shared_len,
        )


def assemble_prompts(ctx, tokens, position="end"):
    """Insert the context into each class's prompt.

    ``ctx`` is (n_ctx, D) shared, (N, n_ctx, D) class-specific, or (B, n_ctx, D) per image with
    ``per_image=True`` handled by the caller (CoCoOp). ``position`` is CoOp's
    CLASS_TOKEN_POSITION: the class name after (end), inside (middle) or before (front) the context.
    """
    prefix, suffix = tokens.prefix, tokens.suffix
    n_cls = prefix.shape[0]
    ctx = ctx.to(prefix.dtype)
    if ctx.dim() == 2:
        ctx = ctx.unsqueeze(0).expand(n_cls, -1, -1)
    if position == "end":
        return torch.cat([prefix, ctx, suffix], dim=1)
    if position not in ("middle", "front"):
        raise ValueError(f"CLASS_TOKEN_POSITION must be end, middle or front, got {position!r}")
    n_ctx = ctx.shape[1]
    half = n_ctx // 2
    rows = []
    for i, name_len in enumerate(tokens.name_lens):
        name, rest = suffix[i : i + 1, :name_len], suffix[i : i + 1, name_len:]
        if position == "front":
            rows.append(torch.cat([prefix[i : i + 1], name, ctx[i : i + 1], rest], dim=1))
        else:
            rows.append(torch.cat([prefix[i : i + 1], ctx[i : i + 1, :half], name,
                                   ctx[i : i + 1, half:], rest], dim=1))
    return torch.cat(rows, dim=0)
