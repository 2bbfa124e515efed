"""CoOp (Zhou et al., IJCV 2022): a learnable context shared by all classes (or one per class)."""

import torch.nn as nn

from dassl.engine import TRAINER_REGISTRY
from trainers.base import ClassTokenBuffers, PromptCLIP, PromptTrainer, normalize
from trainers.prompts import ClassTokens, assemble_prompts, init_context, shared_prefix


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

    def unshared_reason(self):
        if self.class_token_position != "end":
            return (f"CLASS_TOKEN_POSITION {self.class_token_position} puts the class name "
                    "before part of the context, so no position but SOS is shared")
        if self.ctx.dim() == 3:
            return "CSC True gives every class its own context"
        return None

    def shared_prefix(self, tokens):
        """SOS, context and any words before the class name, (1, P, D), shared by all."""
        return shared_prefix(self.ctx, tokens)


class CustomCLIP(PromptCLIP):
    def __init__(self, cfg, classnames, clip_model):
        super().__init__(clip_model)
        self.prompt_learner = PromptLearner(cfg, classnames, clip_model)

    def encode_text(self, tokens, image_features=None):
        return normalize(self.encode_prompts(tokens).float())


@TRAINER_REGISTRY.register()
class CoOp(PromptTrainer):
    cfg_node = "COOP"
    custom_clip_class = CustomCLIP
