"""Zero-shot CLIP: the per-dataset hand-crafted template, no training (evaluation only)."""

import torch

from dassl.engine import TRAINER_REGISTRY, TrainerX
from trainers import feature_cache
from trainers.backbone import apply_precision, autocast_for, resolve_precision
from trainers.base import check_clip_input, normalize, quick_gelu_key
from trainers.open_clip_backbones import load_backbone
from trainers.prompts import hand_crafted_texts
from trainers.text_encoder import TextEncoder, hand_crafted_features


@TRAINER_REGISTRY.register()
class ZeroshotCLIP(TrainerX):
    """Class features come from the frozen text encoder once; inference is one matmul."""

    prompted_image_tower = False

    def check_cfg(self, cfg):
        super().check_cfg(cfg)
        feature_cache.check_root(cfg)

    def build_model(self):
        cfg = self.cfg
        self.prec = resolve_precision(cfg.TRAINER.COOP.PREC, self.device)
        print(f"Loading CLIP (backbone: {cfg.MODEL.BACKBONE.NAME})")
        clip_model = load_backbone(cfg.MODEL.BACKBONE.NAME, quick_gelu_key(cfg))
        check_clip_input(cfg, clip_model)
        clip_model = apply_precision(clip_model, self.prec).to(self.device)
        texts = hand_crafted_texts(self.dm.dataset.classnames, cfg.DATASET.NAME)
        print(f"Prompt template: {texts[0][0]!r} (for the first class)")
        self.text_features = hand_crafted_features(TextEncoder(clip_model), texts)
        self.clip_model = clip_model

    def train(self, *args, **kwargs):
        raise RuntimeError("ZeroshotCLIP has nothing to train: run it with --eval-only")

    def test(self, split=None):
        return feature_cache.run_test(self, split, super().test)

    @torch.no_grad()
    def model_inference(self, image):
        return self.logits_from_features(self.encode_test_images(image))

    @torch.no_grad()
    def encode_test_images(self, image):
        with autocast_for(self.prec, self.device):
            image_features = self.clip_model.visual(image.to(self.text_features.device).to(
                self.clip_model.positional_embedding.dtype))
        return normalize(image_features.float())

    def logits_from_features(self, image_features):
        return self.clip_model.logit_scale.exp().float() * image_features @ self.text_features.t()
