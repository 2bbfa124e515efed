"""PromptSRC (Khattak et al., ICCV 2023): independent deep prompts in both towers, regulated by
the frozen model, and averaged over epochs.

Prompts (IVLP): the text context ``ctx`` (N_CTX_TEXT, from CTX_INIT) plus one learned prompt per
deeper text layer up to PROMPT_DEPTH_TEXT, and a visual prompt appended to the patch tokens plus
one per deeper vision layer up to PROMPT_DEPTH_VISION; the two towers are not coupled.

Loss = CE + L_SCL, where L_SCL keeps the prompted model close to frozen CLIP:
- TEXT_LOSS_WEIGHT * L1(prompted text features, frozen text features averaged over 60 ImageNet
  templates);
- IMAGE_LOSS_WEIGHT * L1(prompted image features, frozen image features);
- KL(frozen logits || prompted logits), summed and divided by batch x classes.
GPA: the final prompts are the Gaussian-weighted average (GPA_MEAN, GPA_STD over epochs) of the
prompts at the end of each epoch (trainers/gpa.py).

The frozen features come from the same CLIP run without prompts (upstream keeps a second copy of
CLIP's image tower and a second full CLIP on the GPU for the teacher text features).
"""

import re

import torch
import torch.nn as nn
import torch.nn.functional as F

from dassl.engine import TRAINER_REGISTRY
from trainers import maple
from trainers.base import PromptTrainer, normalize
from trainers.gpa import GaussianPromptAverage, gaussian_epoch_weights
from trainers.prompts import (
    PROMPTSRC_TEMPLATES,
    ClassTokens,
    hand_crafted_texts,
    word_or_random_context,
)
from trainers.text_encoder import hand_crafted_features

# upstream keeps the deep prompts inside CLIP's blocks
_UPSTREAM_DEEP_PROMPT = re.compile(
    r"(image|text)_encoder\.transformer\.resblocks\.(\d+)\.VPT_shallow"
)
FROZEN_COPY = "prompt_learner.ZS_image_encoder."  # upstream's second image tower


def random_prompts(count, n_ctx, width, std=0.02):
    return nn.ParameterList(
        [nn.Parameter(torch.empty(n_ctx, width).normal_(std=std)) for _ in range(count)]
    )


class VLPromptLearner(maple.DeepPromptLearner):
    def __init__(self, cfg, classnames, clip_model):
        super().__init__()
        opts = cfg.TRAINER.PROMPTSRC
        if opts.PROMPT_DEPTH_TEXT < 1:
            raise ValueError(
                "TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT must be >= 1 (the text context is the "
                f"first layer's prompt), got {opts.PROMPT_DEPTH_TEXT}"
            )
        if opts.PROMPT_DEPTH_VISION < 0:
            raise ValueError(
                "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION must be >= 0, got "
                f"{opts.PROMPT_DEPTH_VISION}"
            )
        ctx, self.prompt_prefix, self.n_ctx = word_or_random_context(
            clip_model, opts.N_CTX_TEXT, opts.CTX_INIT, "TRAINER.PROMPTSRC.N_CTX_TEXT"
        )
        print("Independent V-L design")
        print(f'Initial text context: "{self.prompt_prefix}"')
        print(f"Number of context words (tokens) for Language prompting: {self.n_ctx}")
        print(f"Number of context words (tokens) for Vision prompting: {opts.N_CTX_VISION}")
        self.register_class_tokens(
            ClassTokens.build(clip_model, classnames, self.prompt_prefix, self.n_ctx)
        )
        self.ctx = nn.Parameter(ctx)
        text_layers = len(clip_model.transformer.resblocks)
        vision_layers = len(clip_model.visual.transformer.resblocks)
        depth_text = maple.clamp_depth("TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT",
                                       opts.PROMPT_DEPTH_TEXT, text_layers)
        depth_vision = maple.clamp_depth("TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION",
                                         opts.PROMPT_DEPTH_VISION, vision_layers)
        self.deep_text_prompts = random_prompts(depth_text - 1, self.n_ctx, ctx.shape[-1])
        vision_width = clip_model.visual.conv1.out_channels
        if depth_vision >= 1:
            self.visual_prompt = random_prompts(1, opts.N_CTX_VISION, vision_width)[0]
        else:
            self.register_parameter("visual_prompt", None)
        self.deep_visual_prompts = random_prompts(
            max(depth_vision - 1, 0), opts.N_CTX_VISION, vision_width
        )
        weights = gaussian_epoch_weights(cfg.OPTIM.MAX_EPOCH, opts.GPA_MEAN, opts.GPA_STD)
        self.gpa = GaussianPromptAverage(list(self.named_parameters()), weights)

    def text_deep_prompts(self):
        return list(self.deep_text_prompts)

    def visual_prompts(self):
        return self.visual_prompt, list(self.deep_visual_prompts)


class CustomCLIP(maple.CustomCLIP):
    learner_class = VLPromptLearner

    def __init__(self, cfg, classnames, clip_model):
        super().__init__(cfg, classnames, clip_model)
        self.teacher_texts = hand_crafted_texts(classnames, cfg.DATASET.NAME, PROMPTSRC_TEMPLATES)
        self.register_buffer("teacher_text_features", None, persistent=False)

    @torch.no_grad()
    def cache_teacher_text_features(self):
        """Frozen text features of the base classes: the mean over templates of the raw
        features, normalized (as upstream averages them), encoded once on the model's device."""
        self.teacher_text_features = hand_crafted_features(
            self.text_encoder, self.teacher_texts, normalize_each=False
        )

    @torch.no_grad()
    def encode_frozen_image(self, image):
        """Normalized features of the unprompted image tower (frozen CLIP)."""
        return normalize(self.image_encoder(image).float())


def logit_distillation(student_logits, teacher_logits):
    """KL(teacher || student) of the class distributions, summed and divided by batch x classes
    (PromptSRC's normalisation, at temperature 1)."""
    log_student = F.log_softmax(student_logits.float(), dim=1)
    log_teacher = F.log_softmax(teacher_logits.float(), dim=1)
    divergence = F.kl_div(log_student, log_teacher, reduction="sum", log_target=True)
    return divergence / student_logits.numel()


@TRAINER_REGISTRY.register()
class PromptSRC(PromptTrainer):
    cfg_node = "PROMPTSRC"
    custom_clip_class = CustomCLIP
    model_name = "VLPromptLearner"

    def build_model(self):
        super().build_model()
        self.model.cache_teacher_text_features()

    def compute_loss(self, image, label, extra_classes=None):
        terms, output = super().compute_loss(image, label, extra_classes=extra_classes)
        opts, model = self.cfg.TRAINER.PROMPTSRC, self.model
        teacher_text = model.teacher_text_features
        frozen_image = model.encode_frozen_image(image)
        frozen_logits = model.logit_scale.exp().float() * frozen_image @ teacher_text.t()
        prompted_text = output.text_features[: teacher_text.shape[0]]  # base classes only
        terms["loss_scl_text"] = opts.TEXT_LOSS_WEIGHT * F.l1_loss(prompted_text, teacher_text)
        terms["loss_scl_image"] = opts.IMAGE_LOSS_WEIGHT * F.l1_loss(
            output.image_features, frozen_image
        )
        terms["loss_scl_logits"] = logit_distillation(output.logits, frozen_logits)
        return terms, output

    def after_epoch(self):
        """Add this epoch to the GPA sum; after the last one, deploy (and save) the average."""
        learner = self.model.prompt_learner
        learner.gpa.accumulate(self.epoch, learner)
        if self.epoch + 1 == self.max_epoch:
            print("Using GPA model for final inference...")
            learner.gpa.load_into(learner)
        super().after_epoch()

    def upstream_state_dict(self, state_dict):
        """Upstream registers its whole CustomCLIP (CLIP, a frozen image-tower copy, and the deep
        prompts inside CLIP's blocks); keep the prompts under our names. Such a checkpoint has no
        GPA sum, so ours is kept (it only matters for resuming, not for evaluation)."""
        if not any(key.startswith("prompt_learner.") for key in state_dict):
            return state_dict
        mapped = {}
        for key, value in state_dict.items():
            deep = _UPSTREAM_DEEP_PROMPT.fullmatch(key)
            if deep:
                tower = "visual" if deep.group(1) == "image" else "text"
                mapped[f"deep_{tower}_prompts.{int(deep.group(2)) - 1}"] = value
            elif key == "image_encoder.VPT":
                mapped["visual_prompt"] = value
            elif key.startswith("prompt_learner.") and not key.startswith(FROZEN_COPY):
                mapped[key[len("prompt_learner."):]] = value
        learner = self._models[self.model_name]
        mapped.update({k: v for k, v in learner.state_dict().items() if k.startswith("gpa.")})
        return mapped
