"""CoOp (Zhou et al., IJCV 2022): a learnable context shared by all classes (or one per class)."""

import torch.nn as nn

from dassl.engine import TRAINER_REGISTRY
from trainers.base import ClassTokenBuffers, PromptCLIP, PromptTrainer, normalize
from trainers.prompts import ClassTokens, assemble_prompts, init_context


class PromptLearner(ClassTokenBuffers):
    def __init__(self, cfg, classnames, clip_model):
        super().__init__()
        opts = cfg.TRAINER.COOP
        n_cls = len(classnames)
        ctx, self.prompt_prefix, self.n_ctx = init_context(
            clip_model, opts.N_CTX, opts.CTX_INIT, n_cls=n_cls if opts.CSC else None
        )
        print(f'Initial context: "{self.prompt_prefix}"')
        print(f"Number of context words (tokens): {self.n_ctx}")
        self.ctx = nn.Parameter(ctx)
        self.class_token_position = opts.CLASS_TOKEN_POSITION
        self.register_class_tokens(
            ClassTokens.build(clip_model, classnames, self.prompt_prefix, self.n_ctx)
        )

    def forward(self, tokens=None):
        """Prompt embeddings for ``tokens`` (default: the base classes)."""
        tokens = self.class_tokens() if tokens is None else tokens
        if self.ctx.dim() == 3 and self.ctx.shape[0] != len(tokens):
            raise ValueError(
                "class-specific context (CSC True) exists only for the training classes; "
                "it cannot prompt other classes"
            )
        return assemble_prompts(self.ctx, tokens, self.class_token_position)


class CustomCLIP(PromptCLIP):
    def __init__(self, cfg, classnames, clip_model):
        super().__init__(clip_model)
        self.prompt_learner = PromptLearner(cfg, classnames, clip_model)

    def encode_text(self, tokens, image_features=None):
        prompts = self.prompt_learner(tokens)
        features = self.text_encoder(prompts, tokens.tokenized, max_len=tokens.max_len)
        return normalize(features.float())


@TRAINER_REGISTRY.register()
class CoOp(PromptTrainer):
    cfg_node = "COOP"
    custom_clip_class = CustomCLIP
