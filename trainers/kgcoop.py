"""KgCoOp (Yao et al., CVPR 2023): CoOp plus a pull towards the hand-crafted text features.

Loss = CE + W * (1 - mean_c cos(w_c, w_c^clip)), where w_c is the learned text feature of
class c and w_c^clip the frozen CLIP feature of the dataset's hand-crafted template in KgCoOp's
own table (``KGCOOP_TEMPLATES``: CoOp's, but "a photo of a {}, a type of texture." for DTD;
``TRAINER.COOP.TEMPLATES coop`` picks CoOp's instead). W is ``TRAINER.COOP.W``. The hand-crafted
features come from the same frozen CLIP, encoded once on the training device and cached in a
non-persistent buffer; upstream loads a second CLIP onto the GPU for them.
"""

import torch

from dassl.engine import TRAINER_REGISTRY
from trainers import coop
from trainers.base import PromptTrainer
from trainers.prompts import hand_crafted_texts
from trainers.text_encoder import hand_crafted_features

# Keys upstream's prompt learner saves but never uses (a leftover meta-net and bias).
UNUSED_UPSTREAM_KEYS = ("bias_vectors", "meta_net.", "token_midfix")


class CustomCLIP(coop.CustomCLIP):
    def __init__(self, cfg, classnames, clip_model, table="kgcoop"):
        super().__init__(cfg, classnames, clip_model)
        self.hand_crafted_texts = hand_crafted_texts(classnames, cfg.DATASET.NAME, table=table)
        print(f"Hand-crafted prompts: {[texts[0] for texts in self.hand_crafted_texts]}")
        self.register_buffer("hand_crafted_features", None, persistent=False)

    @torch.no_grad()
    def cache_hand_crafted_features(self):
        """Encode the hand-crafted prompts once, on the device the model is on now."""
        self.hand_crafted_features = hand_crafted_features(
            self.text_encoder, self.hand_crafted_texts
        )

    def knowledge_gap(self, text_features):
        """1 - mean cosine between the learned base-class features and the hand-crafted ones."""
        if self.hand_crafted_features is None:
            self.cache_hand_crafted_features()
        reference = self.hand_crafted_features
        learned = text_features[: reference.shape[0]].float()
        return 1.0 - (learned * reference).sum(dim=-1).mean()


@TRAINER_REGISTRY.register()
class KgCoOp(PromptTrainer):
    cfg_node = "COOP"
    custom_clip_class = CustomCLIP
    template_table = "kgcoop"

    def build_custom_clip(self, cfg, classnames, clip_model):
        """The model's hand-crafted prompts come from the table the trainer declares."""
        return self.custom_clip_class(cfg, classnames, clip_model,
                                      table=self.hand_crafted_table(cfg))

    def build_model(self):
        super().build_model()
        self.model.cache_hand_crafted_features()

    def compute_loss(self, image, label, extra_classes=None):
        terms, output = super().compute_loss(image, label, extra_classes=extra_classes)
        terms["loss_kg"] = self.cfg.TRAINER.COOP.W * self.model.knowledge_gap(output.text_features)
        return terms, output

    def upstream_state_dict(self, state_dict):
        return {
            key: value for key, value in state_dict.items()
            if not key.startswith(UNUSED_UPSTREAM_KEYS)
        }
