"""What every CLIP prompt learner shares: model building, precision, the training step, loading.

A method file only says how its prompts are made (a ``PromptCLIP`` subclass) and, if it has
one, its extra loss term (``compute_loss``). The SAR variants hook into ``compute_loss`` too,
through ``extra_classes``: the baseline's own text path is run once over base + extra classes.
"""

import glob
import math
import os
import os.path as osp
import re
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from dassl.engine import TRAINER_REGISTRY, TrainerX
from dassl.metrics import compute_accuracy
from dassl.optim import build_lr_scheduler, build_optimizer
from dassl.utils import load_checkpoint, load_pretrained_weights, set_random_seed
from trainers import feature_cache
from trainers.backbone import (
    PRECISIONS,
    apply_precision,
    autocast_for,
    clip_image_size,
    resolve_precision,
)
from trainers.backbone_input import check_normalization
from trainers.compilation import compile_settings, compile_towers, mark_step_begin
from trainers.open_clip_backbones import load_backbone
from trainers.prompts import TEMPLATE_TABLES, ClassTokens
from trainers.text_encoder import TextEncoder, shared_prefix_setting, text_checkpointing

CLASS_DEPENDENT_BUFFERS = ("token_prefix", "token_suffix")
EPOCH_FILE = re.compile(r"model\.pth\.tar-(\d+)")


class CLIPOutput(NamedTuple):
    logits: torch.Tensor  # (B, n_cls) over the classes the model was built for
    text_features: torch.Tensor  # normalized; (n, D), or (B, n, D) for per-image prompts
    image_features: torch.Tensor  # normalized (B, D)


def normalize(x):
    return x / x.norm(dim=-1, keepdim=True)


class ClassTokenBuffers(nn.Module):
    """Holds a ClassTokens set as buffers so it follows ``.to(device)``.

    The base classes use upstream's persistent names (``token_prefix``/``token_suffix``), so
    checkpoints stay compatible; any other set (SAR's novel bank) is non-persistent.
    """

    def register_class_tokens(self, tokens, persistent=True, name=""):
        prefix_name = f"{name}token_prefix" if name else "token_prefix"
        suffix_name = f"{name}token_suffix" if name else "token_suffix"
        tokenized_name = f"{name}tokenized_prompts" if name else "tokenized_prompts"
        self.register_buffer(prefix_name, tokens.prefix, persistent=persistent)
        self.register_buffer(suffix_name, tokens.suffix, persistent=persistent)
        self.register_buffer(tokenized_name, tokens.tokenized, persistent=False)
        setattr(self, f"{name}name_lens", tokens.name_lens)
        setattr(self, f"{name}max_len", tokens.max_len)
        setattr(self, f"{name}prompt_lengths", tokens.lengths)
        setattr(self, f"{name}shared_len", tokens.shared_len)

    def class_tokens(self, name=""):
        """The class set's tokens; with ``lead_blocks`` (ATPrompt's attribute blocks) the prefix
        is SOS followed by those blocks, so every method's text path inserts its context after
        them without knowing they are there."""
        prefix = f"{name}token_prefix" if name else "token_prefix"
        suffix = f"{name}token_suffix" if name else "token_suffix"
        tokenized = f"{name}tokenized_prompts" if name else "tokenized_prompts"
        tokens = ClassTokens(
            tokenized=getattr(self, tokenized),
            prefix=getattr(self, prefix),
            suffix=getattr(self, suffix),
            name_lens=getattr(self, f"{name}name_lens"),
            max_len=getattr(self, f"{name}max_len"),
            lengths=getattr(self, f"{name}prompt_lengths"),
            shared_len=getattr(self, f"{name}shared_len"),
        )
        return self.with_lead(tokens)

    def with_lead(self, tokens):
        """``tokens`` (frozen, SOS prefix) as the text path takes them: after the lead blocks."""
        lead = getattr(self, "lead_blocks", None)
        return tokens if lead is None else lead.extend(tokens)

    def prompt_layout(self):
        """(prompt text before the class name, positions after SOS that the text path fills):
        the lead blocks' text, if any, then the context."""
        lead = getattr(self, "lead_blocks", None)
        text, n_lead = (f"{lead.text} ", lead.length) if lead is not None else ("", 0)
        return text + self.prompt_prefix, n_lead + self.n_ctx

    def build_class_tokens(self, clip_model, classnames):
        """Frozen tokens of ``classnames`` under this learner's prompt text (a report's
        classes, the base classes); SAR's bank keeps token ids of the same layout."""
        return ClassTokens.build(clip_model, classnames, *self.prompt_layout())


class PromptCLIP(nn.Module):
    """CLIP with a learnable prompt learner; subclasses define ``encode_text``.

    ``forward(image, extra_classes)`` returns logits over the base classes and the text
    features of base followed by ``extra_classes`` (a ClassTokens), from one text pass.
    ``text_features`` given (an evaluation pass computes them once) skips the text pass.
    """

    # True where the text features depend on the image (CoCoOp): evaluation cannot reuse them
    image_conditioned_text = False
    # True where the image tower takes prompts (MaPLe, PromptSRC): its features are not frozen
    prompted_image_tower = False

    def __init__(self, clip_model):
        super().__init__()
        self.image_encoder = clip_model.visual
        self.text_encoder = TextEncoder(clip_model)
        self.logit_scale = clip_model.logit_scale
        self.dtype = clip_model.positional_embedding.dtype

    def class_tokens(self, extra_classes=None):
        tokens = self.prompt_learner.class_tokens()
        return tokens if extra_classes is None else tokens.cat(extra_classes)

    def encode_image(self, image):
        return normalize(self.image_encoder(image.to(self.dtype)).float())

    def encode_text(self, tokens, image_features=None):
        raise NotImplementedError

    def unshared_reason(self):
        """Why the text path cannot share a prompt prefix across classes, or None: the tower's
        blocks (``TextEncoder.unshared_reason``) or the learner's layout (a class name at the
        front or middle, a context per class)."""
        return self.text_encoder.unshared_reason or self.prompt_learner.unshared_reason()

    def shares_prefix(self):
        """The shared-prefix path is on (TRAINER.SHARED_PREFIX) and possible for this model."""
        return (self.text_encoder.shares_prefix and self.prompt_learner.unshared_reason() is None
                and self._prefix_checked is not False)

    _prefix_checked = None  # whether the learner's shared_prefix() starts its prompts (once)

    def encode_prompts(self, tokens, deep_prompts=None):
        """Text features (not normalized) of ``tokens``' classes from the prompt learner: the
        shared prefix once and each class's suffix where the layout allows, else every class's
        whole prompt (the same numbers up to float rounding)."""
        learner, encoder = self.prompt_learner, self.text_encoder
        start = tokens.prefix.shape[1]  # deep prompts replace the context slot after SOS (+ lead)
        if self.shares_prefix():
            prefix = learner.shared_prefix(tokens)
            if self._prefix_checked is None:
                self._prefix_checked = self.prefix_starts_every_prompt(prefix, tokens)
            if self._prefix_checked:
                return encoder(encoder.split(tokens, prefix), deep_prompts=deep_prompts,
                               context_start=start)[0]
        return encoder(learner(tokens), tokens.tokenized, deep_prompts=deep_prompts,
                       max_len=tokens.max_len, context_start=start)

    @torch.no_grad()
    def prefix_starts_every_prompt(self, prefix, tokens):
        """Once per model: the prefix the learner shares must be, bit for bit, how its whole
        prompt starts. A learner that builds its prompts otherwise (a subclass that adds tokens
        before the context, say) but inherits ``shared_prefix`` is caught here, logged in one
        line, and runs the per-class path instead of giving wrong features."""
        whole = self.prompt_learner(tokens.select([0]))[0, : prefix.shape[1]]
        if torch.equal(whole.to(prefix.dtype), prefix[0]):
            return True
        print(f"TRAINER.SHARED_PREFIX: {type(self.prompt_learner).__name__}.shared_prefix() is "
              "not how its prompts start, so the text tower runs every class's whole prompt")
        return False

    def forward(self, image, extra_classes=None, text_features=None):
        return self.from_image_features(self.encode_image(image), extra_classes, text_features)

    def from_image_features(self, image_features, extra_classes=None, text_features=None):
        """The output for already encoded images (the feature cache serves them)."""
        if text_features is None:
            text_features = self.encode_text(self.class_tokens(extra_classes), image_features)
        return CLIPOutput(self.logits(image_features, text_features), text_features, image_features)

    @torch.no_grad()
    def evaluation_text_features(self):
        """The base classes' text features for a whole evaluation pass, or None where they
        depend on the image. A copy: a compiled tower may reuse its output buffers."""
        if self.image_conditioned_text:
            return None
        return self.encode_text(self.class_tokens()).clone()

    def logits(self, image_features, text_features):
        n_base = len(self.prompt_learner.name_lens)
        scale = self.logit_scale.exp().float()
        if text_features.dim() == 3:  # per-image prompts (CoCoOp)
            return scale * torch.einsum("bd,bnd->bn", image_features, text_features[:, :n_base])
        return scale * image_features @ text_features[:n_base].t()


class PromptTrainer(TrainerX):
    """Dassl TrainerX for CLIP prompt learning; a method sets ``cfg_node`` and the model."""

    cfg_node = "COOP"  # cfg.TRAINER.<cfg_node> holds N_CTX, CTX_INIT, PREC, ...
    model_name = "prompt_learner"  # upstream checkpoint folder name
    learnable_module = "prompt_learner"
    custom_clip_class = None  # the method's PromptCLIP subclass, built as (cfg, classnames, clip)
    # The per-dataset hand-crafted templates of the method's repository (prompts.TEMPLATE_TABLES)
    template_table = "coop"

    @classmethod
    def hand_crafted_table(cls, cfg):
        """The template table this trainer's hand-crafted prompts use: its own, unless
        ``TRAINER.<cfg_node>.TEMPLATES`` names another (read with ``get``: only COOP has it)."""
        chosen = cfg.TRAINER[cls.cfg_node].get("TEMPLATES", "") or cls.template_table
        if chosen not in TEMPLATE_TABLES:
            raise ValueError(f"TRAINER.{cls.cfg_node}.TEMPLATES must be one of "
                             f"{', '.join(TEMPLATE_TABLES)} (or empty), got {chosen!r}")
        return chosen
    _eval_pass = False  # True inside test(): the class text features are computed once
    _eval_text = None  # those features, for the current pass only

    def check_cfg(self, cfg):
        prec = cfg.TRAINER[self.cfg_node].PREC
        if prec not in PRECISIONS:
            raise ValueError(
                f"TRAINER.{self.cfg_node}.PREC must be one of {PRECISIONS}, got {prec!r}"
            )
        compile_settings(cfg)  # a bad TRAINER.COMPILE.MODE fails before anything is built
        self.hand_crafted_table(cfg)  # and so does a bad TRAINER.COOP.TEMPLATES
        text_checkpointing(cfg)
        shared_prefix_setting(cfg)
        if not getattr(self.custom_clip_class, "prompted_image_tower", False):
            feature_cache.check_root(cfg)  # (MaPLe and PromptSRC ignore the cache)

    def build_custom_clip(self, cfg, classnames, clip_model):
        if self.custom_clip_class is None:
            raise NotImplementedError(f"{type(self).__name__} sets no custom_clip_class")
        return self.custom_clip_class(cfg, classnames, clip_model)

    def build_model(self):
        cfg = self.cfg
        classnames = self.dm.dataset.classnames
        self.prec = resolve_precision(cfg.TRAINER[self.cfg_node].PREC, self.device)
        print(f"Loading CLIP (backbone: {cfg.MODEL.BACKBONE.NAME})")
        clip_model = load_backbone(cfg.MODEL.BACKBONE.NAME, quick_gelu_key(cfg))
        check_clip_input(cfg, clip_model)
        apply_precision(clip_model, self.prec)
        print(f"Building custom CLIP (precision: {self.prec})")
        self.model = self.build_custom_clip(cfg, classnames, clip_model)
        self.model.text_encoder.recompute_blocks = text_checkpointing(cfg)
        self.model.text_encoder.shared_prefix = shared_prefix_setting(cfg)
        reason = self.model.unshared_reason()
        if self.model.text_encoder.shared_prefix and reason:
            print(f"TRAINER.SHARED_PREFIX: {reason}, so the text tower runs every class's "
                  "whole prompt (the per-class path)")
        learnable = getattr(self.model, self.learnable_module)
        for name, param in self.model.named_parameters():
            param.requires_grad_(name.startswith(self.learnable_module + "."))
        updated = sorted(n for n, p in self.model.named_parameters() if p.requires_grad)
        print(f"Parameters to be updated: {updated}")
        if cfg.MODEL.INIT_WEIGHTS:
            load_pretrained_weights(learnable, cfg.MODEL.INIT_WEIGHTS)
        self.model.to(self.device)
        settings = compile_settings(cfg)
        self.compiled = settings is not None
        if self.compiled:
            compile_towers(self.model, *settings)
        self.optim = build_optimizer(learnable, cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model(self.model_name, learnable, self.optim, self.sched)
        self.scaler = torch.amp.GradScaler("cuda") if self.prec == "amp" else None

    def before_epoch(self):
        """Re-seed from (SEED, epoch) so a resumed run draws what an uninterrupted one would
        (``TRAIN.RESEED_EACH_EPOCH False``: upstream's single seed, resumes then differ)."""
        super().before_epoch()
        if self.cfg.SEED >= 0 and self.cfg.TRAIN.get("RESEED_EACH_EPOCH", True):
            set_random_seed(self.cfg.SEED * 1000 + self.epoch)

    def compute_loss(self, image, label, extra_classes: ClassTokens | None = None):
        """Loss terms of the method (summed for the update, logged separately) and the output."""
        output = self.model(image, extra_classes=extra_classes)
        return {"loss_ce": F.cross_entropy(output.logits, label)}, output

    def forward_backward(self, batch):
        image, label = self.parse_batch_train(batch)
        mark_step_begin(self.compiled)
        with autocast_for(self.prec, self.device):
            terms, output = self.compute_loss(image, label)
        # one device sync per step: the finiteness check and the log values share it
        values = torch.stack([term.detach().float() for term in terms.values()]).tolist()
        if not all(math.isfinite(value) for value in values):
            self.raise_non_finite(terms)
        self.step_optimizer(sum(terms.values()))
        summary = {"loss": sum(values)}
        if len(terms) > 1:
            summary.update(zip(terms.keys(), values))
        summary["acc"] = compute_accuracy(output.logits.detach(), label)[0].item()
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        return summary

    def raise_non_finite(self, terms):
        bad = [name for name, value in terms.items() if not torch.isfinite(value.detach()).all()]
        hint = " (PREC fp16 overflows easily: try PREC bf16 or amp)" if self.prec == "fp16" else ""
        raise FloatingPointError(
            f"Non-finite loss at epoch {self.epoch + 1} batch {self.batch_idx + 1}: "
            f"{', '.join(bad)} is NaN or Inf{hint}; the last saved checkpoint is kept"
        )

    def step_optimizer(self, loss):
        self.model_zero_grad()
        if self.scaler is None:
            self.model_backward(loss)
            self.before_update()
            self.model_update()
            self.after_update()
            return
        self.scaler.scale(loss).backward()
        for name in self.get_model_names():
            self.scaler.unscale_(self._optims[name])  # before_update sees the true gradients
        self.before_update()
        for name in self.get_model_names():
            self.scaler.step(self._optims[name])
        self.scaler.update()
        self.after_update()

    def before_update(self):
        """Hook between backward and the optimizer step (SAR's step guard remembers the
        prompts)."""

    def after_update(self):
        """Hook after the optimizer step (SAR's step guard bounds the update)."""

    def parse_batch_train(self, batch):
        return batch["img"].to(self.device, non_blocking=True), batch["label"].to(
            self.device, non_blocking=True
        )

    @property
    def prompted_image_tower(self):
        return self.model.prompted_image_tower

    def test(self, split=None):
        """One evaluation pass. Its class text features are computed once, on the first batch,
        and dropped when the pass ends, so they can never be stale after a training step.
        Wrapping the engine's test() (ours or upstream Dassl's) keeps its loop and log lines."""
        self._eval_pass, self._eval_text = True, None
        try:
            return feature_cache.run_test(self, split, super().test)
        finally:
            self._eval_pass, self._eval_text = False, None

    def pass_text_features(self):
        """This pass's text features (None outside test() or where they depend on the image)."""
        if self._eval_pass and self._eval_text is None:
            self._eval_text = self.model.evaluation_text_features()
        return self._eval_text

    @torch.no_grad()
    def model_inference(self, image):
        return self.logits_from_features(self.encode_test_images(image))

    @torch.no_grad()
    def encode_test_images(self, image):
        """Normalized image features, as the feature cache stores them."""
        mark_step_begin(self.compiled)
        with autocast_for(self.prec, self.device):
            return self.model.encode_image(image)

    @torch.no_grad()
    def logits_from_features(self, image_features):
        with autocast_for(self.prec, self.device):
            output = self.model.from_image_features(
                image_features, text_features=self.pass_text_features())
        return output.logits.float()

    def load_model(self, directory, epoch=None):
        """Load prompt weights, dropping class-dependent buffers (evaluation on other classes)."""
        if not directory:
            print("Note that load_model() is skipped as no pretrained model is given")
            return
        for name in self.get_model_names():
            file_name = "model-best.pth.tar" if epoch is None else f"model.pth.tar-{epoch}"
            path = osp.join(directory, name, file_name)
            if not osp.exists(path):
                raise FileNotFoundError(missing_model_message(directory, name, path))
            checkpoint = load_checkpoint(path)
            state_dict = self.upstream_state_dict(checkpoint_state_dict(checkpoint, path))
            state_dict = {k: v for k, v in state_dict.items() if k not in CLASS_DEPENDENT_BUFFERS}
            check_compatible(self._models[name], state_dict, path)
            print(f'Loading weights to {name} from "{path}" (epoch = {checkpoint["epoch"]})')
            self._models[name].load_state_dict(state_dict, strict=False)

    def upstream_state_dict(self, state_dict):
        """Map a checkpoint saved by the upstream code to our keys (identity where they agree)."""
        return state_dict

    def resume_model_if_exist(self, directory):
        """Check the checkpoint a resume would load as --model-dir is checked, class tokens
        included: the engine's strict load only gives torch's raw state-dict error."""
        for name in self.get_model_names():
            path = resume_file(os.path.join(directory, name))
            if path is not None:
                state_dict = checkpoint_state_dict(load_checkpoint(path), path)
                check_compatible(self._models[name], state_dict, path, ignored=())
        return super().resume_model_if_exist(directory)

def missing_model_message(directory, name, path):
    """Say what ``--model-dir`` does hold: its checkpoints, and whether they belong to another
    trainer (a CoOp folder holds ``prompt_learner/``, which MaPLe does not read)."""
    held = sorted(osp.relpath(f, directory)
                  for f in glob.glob(osp.join(directory, "*", "model*.pth.tar*")))
    message = f'No model at "{path}" (--model-dir / --load-epoch); '
    message += f"{directory} holds " + (", ".join(held) if held else "no checkpoint")
    folders = sorted({f.split(osp.sep)[0] for f in held} - {name})
    if folders and not any(f.startswith(name + osp.sep) for f in held):
        owners = sorted(n for n in TRAINER_REGISTRY.registered_names()
                        if getattr(TRAINER_REGISTRY.get(n), "model_name", None) in folders)
        message += (f": a {', '.join(f + '/' for f in folders)} checkpoint from another trainer "
                    f"({', '.join(owners) or 'unknown'}); this one reads {name}/")
    elif held and "model-best" in path:
        message += "; pass --load-epoch N"
    return message


def resume_file(folder):
    """The file Dassl resumes from: the one the ``checkpoint`` pointer names, else the latest."""
    pointer = os.path.join(folder, "checkpoint")
    if os.path.isfile(pointer):
        with open(pointer, encoding="utf-8", errors="replace") as f:
            named = os.path.join(folder, f.readline().strip())
        if os.path.isfile(named):
            return named
    epochs = [int(m.group(1)) for m in map(EPOCH_FILE.fullmatch, _listdir(folder)) if m]
    return os.path.join(folder, f"model.pth.tar-{max(epochs)}") if epochs else None


def _listdir(folder):
    return os.listdir(folder) if os.path.isdir(folder) else []


def checkpoint_state_dict(checkpoint, path):
    """The state dict of a Dassl checkpoint; anything else is refused, naming the file."""
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        state_dict = checkpoint["state_dict"]
        if "epoch" in checkpoint and all(torch.is_tensor(v) for v in state_dict.values()):
            return state_dict
    got = (f"a dict with keys {sorted(map(str, checkpoint))[:5]}" if isinstance(checkpoint, dict)
           else f"a {type(checkpoint).__name__}")
    raise ValueError(
        f"{path} is not a Dassl checkpoint: expected a dict with a state_dict of tensors and "
        f"an epoch, got {got}"
    )


def check_compatible(module, state_dict, path, ignored=CLASS_DEPENDENT_BUFFERS):
    """Refuse a checkpoint of another backbone, N_CTX or prompt depth with a precise message.

    ``ignored`` keys are not compared: evaluation on other classes drops the class tokens,
    while a resume (``ignored=()``) must find the same classes too.
    """
    expected = {k: v for k, v in module.state_dict().items() if k not in ignored}
    for key, value in state_dict.items():
        if key in expected and tuple(value.shape) != tuple(expected[key].shape):
            raise ValueError(
                f"{path}: {key} has shape {tuple(value.shape)} but this model expects "
                f"{tuple(expected[key].shape)} (another backbone, N_CTX, prompt depth or class "
                "set?)"
            )
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"{path} does not fit this model: missing {missing or 'nothing'}, "
            f"unexpected {unexpected or 'nothing'} (another trainer or prompt depth?)"
        )


def quick_gelu_key(cfg):
    """``MODEL.BACKBONE.QUICK_GELU``, read with ``get``: an upstream fork's config lacks it."""
    value = cfg.MODEL.BACKBONE.get("QUICK_GELU", None)
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"MODEL.BACKBONE.QUICK_GELU must be True or False, got {value!r}")
    return value


def check_clip_input(cfg, clip_model):
    """Refuse what CLIP cannot read right: another input size, or images it never normalizes.

    Dassl normalizes only when ``normalize`` is in ``INPUT.TRANSFORMS`` (its default is none), so
    a config without it feeds raw [0, 1] pixels to CLIP and every accuracy is silently wrong.
    ``INPUT.ALLOW_UNNORMALIZED True`` is the explicit way to want that anyway.
    """
    check_input_size(cfg, clip_model)
    transforms = list(cfg.INPUT.TRANSFORMS or [])
    if cfg.INPUT.get("NO_TRANSFORM", False) or "normalize" not in transforms:
        if not cfg.INPUT.get("ALLOW_UNNORMALIZED", False):
            raise ValueError(
                f"INPUT.TRANSFORMS {transforms} lacks 'normalize', so images would reach CLIP "
                "without its mean/std normalization: add it (as every shipped config does), or "
                "set INPUT.ALLOW_UNNORMALIZED True to run unnormalized on purpose"
            )
        print("Warning: INPUT.ALLOW_UNNORMALIZED is set: images reach CLIP unnormalized")
        return
    check_normalization(cfg)


def check_input_size(cfg, clip_model):
    expected = clip_image_size(clip_model)
    if tuple(cfg.INPUT.SIZE) != expected:
        raise ValueError(
            f"INPUT.SIZE {tuple(cfg.INPUT.SIZE)} does not match the backbone "
            f"{cfg.MODEL.BACKBONE.NAME}, which takes {expected}"
        )
