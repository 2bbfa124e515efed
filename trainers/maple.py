"""MaPLe (Khattak et al., CVPR 2023): coupled deep prompts in the text and vision branches.

The language context ``ctx`` and one set of language prompts per deeper layer
(``compound_prompts_text``) are learned; the vision prompts are their images under linear
couplings (``proj`` for the shallow prompt, ``compound_prompt_projections`` for the deep ones),
so both branches are prompted from one set of vectors. ``PROMPT_DEPTH`` d prompts layers
0..d-1: layer 0 through the input, layers 1..d-1 by replacing the prompt tokens at their input.

Both encoders are the unmodified open_clip modules, driven by ``TextEncoder`` and
``ImageEncoder``, which inject the prompts per layer; no edited copy of CLIP. The learnable
parameters stay fp32 master copies in every PREC and are cast to CLIP's dtype where they enter
it (upstream MaPLe runs in fp16 only).
"""

import copy
import warnings

import torch
import torch.nn as nn

from dassl.engine import TRAINER_REGISTRY
from trainers.base import ClassTokenBuffers, PromptCLIP, PromptTrainer, normalize
from trainers.image_encoder import ImageEncoder, require_vision_transformer
from trainers.prompts import (
    ClassTokens,
    assemble_prompts,
    shared_prefix,
    word_or_random_context,
)


class DeepPromptLearner(ClassTokenBuffers):
    """A shared text context ``ctx`` plus per-layer prompts for both towers (MaPLe, PromptSRC):
    subclasses give ``text_deep_prompts()`` and ``visual_prompts()`` -> (shallow, deep list)."""

    def forward(self, tokens=None):
        """Text prompt embeddings (N, 77, D) for ``tokens`` (default: the base classes)."""
        tokens = self.class_tokens() if tokens is None else tokens
        return assemble_prompts(self.ctx, tokens)

    def unshared_reason(self):
        return None  # the class name always ends the prompt, after one shared context

    def shared_prefix(self, tokens):
        """SOS, context and the CTX_INIT words left in the prompt text, (1, P, D); the deep
        prompts replace the context inside it at each layer."""
        return shared_prefix(self.ctx, tokens)


class MultiModalPromptLearner(DeepPromptLearner):
    def __init__(self, cfg, classnames, clip_model):
        super().__init__()
        opts = cfg.TRAINER.MAPLE
        if opts.PROMPT_DEPTH < 1:
            raise ValueError(f"TRAINER.MAPLE.PROMPT_DEPTH must be >= 1, got {opts.PROMPT_DEPTH}")
        ctx, self.prompt_prefix, self.n_ctx = word_or_random_context(
            clip_model, opts.N_CTX, opts.CTX_INIT, "TRAINER.MAPLE.N_CTX"
        )
        layers = min(len(clip_model.transformer.resblocks),
                     len(clip_model.visual.transformer.resblocks))
        depth = clamp_depth("TRAINER.MAPLE.PROMPT_DEPTH", opts.PROMPT_DEPTH, layers)
        self.compound_prompts_depth = depth
        print("MaPLe design: Multi-modal Prompt Learning")
        print(f'Initial context: "{self.prompt_prefix}"')
        print(f"Number of MaPLe context words (tokens): {self.n_ctx}")
        self.register_class_tokens(
            ClassTokens.build(clip_model, classnames, self.prompt_prefix, self.n_ctx)
        )
        ctx_dim = ctx.shape[-1]
        vision_width = clip_model.visual.conv1.out_channels
        self.ctx = nn.Parameter(ctx)
        self.proj = nn.Linear(ctx_dim, vision_width)
        n_deep = depth - 1
        self.compound_prompts_text = nn.ParameterList([
            nn.Parameter(torch.empty(self.n_ctx, ctx_dim).normal_(std=0.02))
            for _ in range(n_deep)
        ])
        coupling = nn.Linear(ctx_dim, vision_width)  # every layer starts from the same coupling
        self.compound_prompt_projections = nn.ModuleList(
            [copy.deepcopy(coupling) for _ in range(n_deep)]
        )

    def text_deep_prompts(self):
        return list(self.compound_prompts_text)

    def visual_prompts(self):
        """The shallow visual prompt and the deep ones, coupled to the language prompts."""
        pairs = zip(self.compound_prompt_projections, self.compound_prompts_text)
        deep = [coupling(prompt) for coupling, prompt in pairs]
        return self.proj(self.ctx), deep


def clamp_depth(key, depth, layers):
    """A prompt depth beyond the backbone's layers would make prompts no layer ever reads (and
    that never learn): clamp it, with a warning, so the configs' depth 9 runs on any CLIP, e.g.
    the 2-layer tiny one of the tests."""
    if depth > layers:
        warnings.warn(
            f"{key} {depth} exceeds the {layers} layers of the backbone; using {layers}",
            stacklevel=3,
        )
        return layers
    return depth


class CustomCLIP(PromptCLIP):
    """CLIP whose two towers take per-layer prompts from ``learner_class`` (the learner gives
    ``text_deep_prompts()`` and ``visual_prompts()``); PromptSRC reuses it with its own learner."""

    learner_class = MultiModalPromptLearner
    prompted_image_tower = True

    def __init__(self, cfg, classnames, clip_model):
        super().__init__(clip_model)
        require_vision_transformer(clip_model.visual, cfg.TRAINER.NAME, cfg.MODEL.BACKBONE.NAME)
        self.image_encoder = ImageEncoder(clip_model.visual)
        self.prompt_learner = self.learner_class(cfg, classnames, clip_model)

    def encode_image(self, image):
        shallow, deep = self.prompt_learner.visual_prompts()
        return normalize(self.image_encoder(image, shallow, deep).float())

    def encode_text(self, tokens, image_features=None):
        deep_prompts = self.prompt_learner.text_deep_prompts()
        return normalize(self.encode_prompts(tokens, deep_prompts).float())


@TRAINER_REGISTRY.register()
class MaPLe(PromptTrainer):
    cfg_node = "MAPLE"
    custom_clip_class = CustomCLIP
    model_name = "MultiModalPromptLearner"

    def upstream_state_dict(self, state_dict):
        """Upstream MaPLe registers its whole CustomCLIP, so its checkpoints hold
        ``prompt_learner.*`` next to CLIP's frozen weights; ours hold the prompt learner only."""
        prefix = "prompt_learner."
        if not any(key.startswith(prefix) for key in state_dict):
            return state_dict
        return {key[len(prefix):]: value for key, value in state_dict.items()
                if key.startswith(prefix)}
