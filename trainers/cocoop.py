"""CoCoOp (Zhou et al., CVPR 2022): CoOp's context shifted per image by a small meta-network.

Each image's normalized feature goes through ``meta_net`` (vis_dim -> vis_dim/16 -> ctx_dim),
and the result is added to every context token, so every image gets its own prompts for every
class. Upstream loops over the images of a batch; here the whole batch (B images x N classes)
goes through the text encoder as one batch of B*N prompts, chunked by images only when B*N
exceeds ``prompts_per_pass`` (a memory bound for large evaluation batches).
"""

from collections import OrderedDict

import torch
import torch.nn as nn

from dassl.engine import TRAINER_REGISTRY
from trainers.base import ClassTokenBuffers, PromptCLIP, PromptTrainer, normalize
from trainers.prompts import ClassTokens, init_context, shared_prefix

PROMPTS_PER_PASS = 8192  # bound on B images x N classes per text-encoder pass (memory)


class PromptLearner(ClassTokenBuffers):
    def __init__(self, cfg, classnames, clip_model):
        super().__init__()
        opts = cfg.TRAINER.COCOOP
        ctx, self.prompt_prefix, self.n_ctx = init_context(clip_model, opts.N_CTX, opts.CTX_INIT)
        print(f'Initial context: "{self.prompt_prefix}"')
        print(f"Number of context words (tokens): {self.n_ctx}")
        self.ctx = nn.Parameter(ctx)
        vis_dim = clip_model.text_projection.shape[1]  # joint embedding = image feature size
        ctx_dim = ctx.shape[-1]
        self.meta_net = nn.Sequential(OrderedDict([
            ("linear1", nn.Linear(vis_dim, vis_dim // 16)),
            ("relu", nn.ReLU(inplace=True)),
            ("linear2", nn.Linear(vis_dim // 16, ctx_dim)),
        ]))
        self.register_class_tokens(
            ClassTokens.build(clip_model, classnames, self.prompt_prefix, self.n_ctx)
        )

    def forward(self, image_features, tokens=None, length=None):
        """Prompt embeddings (B, N, length, D): the context of image b is ctx + meta_net(f_b).

        Only the first ``length`` positions are built (the text encoder's context length,
        ``tokens.max_len`` by default): it never looks past the longest prompt's EOS, and B*N
        full-length prompts would waste memory.
        """
        tokens = self.class_tokens() if tokens is None else tokens
        length = tokens.max_len if length is None else length
        ctx = self.image_context(image_features)
        n_img, n_cls = ctx.shape[0], len(tokens)
        prefix = tokens.prefix.unsqueeze(0).expand(n_img, -1, -1, -1)
        suffix = tokens.suffix[:, : length - tokens.prefix.shape[1] - self.n_ctx]
        suffix = suffix.unsqueeze(0).expand(n_img, -1, -1, -1)
        ctx = ctx.to(prefix.dtype).unsqueeze(1).expand(-1, n_cls, -1, -1)
        return torch.cat([prefix, ctx, suffix], dim=2)

    def image_context(self, image_features):
        """(B, n_ctx, D): the context of image b is ctx + meta_net(f_b)."""
        return self.ctx.unsqueeze(0) + self.meta_net(image_features).unsqueeze(1)

    def unshared_reason(self):
        return None

    def shared_prefix(self, image_features, tokens):
        """Per image, SOS and its context, (B, P, D): shared by every class of that image."""
        return shared_prefix(self.image_context(image_features), tokens)


class CustomCLIP(PromptCLIP):
    image_conditioned_text = True

    def __init__(self, cfg, classnames, clip_model):
        super().__init__(clip_model)
        self.prompts_per_pass = PROMPTS_PER_PASS
        self.prompt_learner = PromptLearner(cfg, classnames, clip_model)

    def encode_text(self, tokens, image_features=None):
        """Normalized per-image text features (B, N, D_embed)."""
        if image_features is None:
            raise ValueError("CoCoOp's prompts are conditioned on the image: pass image_features")
        n_cls = len(tokens)
        per_pass = max(1, self.prompts_per_pass // n_cls)
        split = self.text_encoder.split(tokens) if self.shares_prefix() else None
        chunks = []
        for start in range(0, image_features.shape[0], per_pass):
            images = image_features[start : start + per_pass]
            if split is not None:
                prefix = self.prompt_learner.shared_prefix(images, tokens)
                features = self.text_encoder(split._replace(prefix=prefix))
            else:
                features = self.per_class_features(images, tokens)
            chunks.append(normalize(features.float()))
        return torch.cat(chunks)

    def per_class_features(self, images, tokens):
        """(B, N, E) through every (image, class) prompt whole: the path without a shared
        prefix."""
        length = self.text_encoder.context_length(tokens.max_len)
        prompts = self.prompt_learner(images, tokens, length)
        n_img = prompts.shape[0]
        features = self.text_encoder(
            prompts.flatten(0, 1), tokens.tokenized.repeat(n_img, 1), max_len=tokens.max_len
        )
        return features.view(n_img, len(tokens), -1)


@TRAINER_REGISTRY.register()
class CoCoOp(PromptTrainer):
    cfg_node = "COCOOP"
    custom_clip_class = CustomCLIP
