"""Contrastive pretraining of a tiny CLIP on the toy world, deterministic from a seed.

The model is the real architecture built from a state dict in OpenAI's key layout (heads =
width / 64, as the loader assumes), and its text side runs through the project's own
``TextEncoder``, so what is trained is exactly what the trainers later load. Only the rows of
the 49k-token embedding that the captions use are trained (the rest keep their random init),
which keeps a step cheap and the shipped checkpoint small.

Pretraining sees every name of the vocabulary, as web-scale CLIP has seen most class names;
the downstream datasets then hold some of them out of prompt tuning.
"""

import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from trainers.prompts import tokenize
from trainers.random_clip import random_clip_state_dict
from trainers.text_encoder import TextEncoder

from .draw import SCENES, draw_image, image_rng, through_jpeg
from .world import COLOURS, SHAPES, all_classes

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
ARCH = dict(vision_width=64, vision_layers=2, patch_size=8, image_size=32, text_width=64,
            text_layers=2, embed_dim=32)
CAPTIONS = (
    "a photo of a {}.", "a {}.", "a picture of a {}.", "an image of a {}.", "a drawing of a {}.",
    "a {} shape.", "this is a {}.", "a photo of the {}.", "a small {}.", "a big {}.", "{}.",
    "a rendering of a {}.",
)
# captions that name the parts separately, so the words mean something on their own
PART_CAPTIONS = ("a {shape} that is {colour}.", "a {colour} shape: a {shape}.",
                 "something {colour}.", "a {shape}.")
# a scene's captions name it; the hand-crafted template "a photo of a {}." never does, so a
# dataset drawn in a scene holds something its template leaves out (the web names it, the
# benchmark's prompt does not)
SCENE_CAPTIONS = {
    "warm": ("a photo of a {} in warm light.", "a {} in warm light.", "a {} under a warm lamp.",
             "a picture of a {} in warm light.", "{} in warm light.", "a warm photo of a {}.",
             "a {shape} that is {colour}, in warm light.", "something {colour} in warm light."),
    "striped": ("a photo of a {} on stripes.", "a {} on stripes.", "a {} on a striped background.",
                "a picture of a {} on stripes.", "{} on stripes.", "a striped photo of a {}.",
                "a {shape} that is {colour}, on stripes.", "something {colour} on stripes."),
}
POOL_STREAM = 1  # image generator stream of the pretraining pool (datasets use others)


def _fill(templates, colour, shape, count):
    """``count`` captions from ``templates``, cycled (every scene gives the same number)."""
    name = f"{colour} {shape}"
    return [templates[i % len(templates)].format(name, colour=colour, shape=shape)
            for i in range(count)]


def caption_texts(scenes=("plain",)):
    """Per class (in ``all_classes`` order) and per scene, every caption pretraining may pair
    with an image of that class in that scene."""
    plain = CAPTIONS + PART_CAPTIONS
    texts = []
    for colour in COLOURS:
        for shape in SHAPES:
            texts.append([_fill(plain if scene == "plain" else SCENE_CAPTIONS[scene], colour,
                                shape, len(plain)) for scene in scenes])
    return texts


def scene_of_images(per_class, scenes):
    """Which scene image ``k`` of a class is drawn in: the first half plain, the rest shared
    round-robin by the other scenes (all plain without scenes)."""
    if len(scenes) == 1:
        return [0] * per_class
    half = per_class // 2
    return [0] * half + [1 + k % (len(scenes) - 1) for k in range(per_class - half)]


def image_pool(seed, per_class, size, scenes=("plain",)):
    """uint8 images (classes, per_class, H, W, 3), through JPEG like the datasets' files."""
    names = all_classes()
    which = scene_of_images(per_class, scenes)
    pool = np.empty((len(names), per_class, size, size, 3), dtype=np.uint8)
    for c, name in enumerate(names):
        colour, shape = name.split(" ")
        for k in range(per_class):
            rng = image_rng(seed, POOL_STREAM, c * per_class + k)
            pool[c, k] = through_jpeg(draw_image(colour, shape, size, rng,
                                                 scene=scenes[which[k]]))
    return torch.from_numpy(pool)


def to_clip_input(images):
    """uint8 NHWC -> CLIP's normalized NCHW floats, the transform every shipped config uses."""
    x = images.permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def _random_resized_crop(image, generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """Dassl's training crop (area ``scale``, aspect ``ratio``), resized back, on CHW floats."""
    _, h, w = image.shape
    for _ in range(10):
        area = h * w * (scale[0] + (scale[1] - scale[0]) * torch.rand(1, generator=generator))
        log_ratio = math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * torch.rand(
            1, generator=generator)
        aspect = math.exp(log_ratio.item())
        cw, ch = round(math.sqrt(area.item() * aspect)), round(math.sqrt(area.item() / aspect))
        if 0 < cw <= w and 0 < ch <= h:
            x = int(torch.randint(0, w - cw + 1, (1,), generator=generator))
            y = int(torch.randint(0, h - ch + 1, (1,), generator=generator))
            crop = image[None, :, y:y + ch, x:x + cw]
            return F.interpolate(crop, size=(h, w), mode="bicubic", align_corners=False)[0]
    return image


def augment(images, generator, crop_share=0.5):
    """The downstream training augmentation for half the batch (random resized crop), small
    shifts for the other half, and horizontal flips: the tower then knows what crops look like,
    as a large CLIP does, and prompt tuning on crops does not fight its features."""
    n, h, w, _ = images.shape
    padded = F.pad(images.permute(0, 3, 1, 2).float(), (3, 3, 3, 3), mode="replicate")
    dx = torch.randint(0, 7, (n,), generator=generator)
    dy = torch.randint(0, 7, (n,), generator=generator)
    # crop_share 0 draws nothing extra: a crop-naive run keeps the random stream it always had
    crop = (torch.rand(n, generator=generator) < crop_share) if crop_share > 0 else [False] * n
    out = torch.stack([
        _random_resized_crop(padded[i, :, 3:3 + h, 3:3 + w], generator) if crop[i]
        else padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(n)])
    flip = torch.rand(n, generator=generator) < 0.5
    out[flip] = out[flip].flip(-1)
    return out.clamp(0, 255).permute(0, 2, 3, 1).round().to(torch.uint8)


class CompactTokens(torch.nn.Module):
    """The used rows of the token embedding as one small trainable table."""

    def __init__(self, full_embedding, token_ids):
        super().__init__()
        self.register_buffer("token_ids", token_ids)
        self.rows = torch.nn.Parameter(full_embedding[token_ids].clone())
        remap = torch.zeros(full_embedding.shape[0], dtype=torch.long)
        remap[token_ids] = torch.arange(len(token_ids))
        self.register_buffer("remap", remap)

    def forward(self, tokens):
        return self.rows[self.remap[tokens]]


def build_model(seed, logit_scale=None):
    """The random tiny CLIP at CLIP's initial temperature, or at ``logit_scale`` fixed."""
    from open_clip.model import build_model_from_openai_state_dict

    state = random_clip_state_dict(**ARCH, seed=seed)
    model = build_model_from_openai_state_dict(dict(state), quick_gelu=True).float()
    with torch.no_grad():
        model.logit_scale.fill_(math.log(logit_scale or 1 / 0.07))
    return model


def _param_groups(model, tokens, learn_scale=True):
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        frozen = name == "token_embedding.weight" or (name == "logit_scale" and not learn_scale)
        param.requires_grad_(not frozen)
        if frozen:
            continue
        (decay if param.dim() >= 2 and "embedding" not in name else no_decay).append(param)
    return [{"params": decay, "weight_decay": 0.1},
            {"params": no_decay + [tokens.rows], "weight_decay": 0.0}]


def pretrain(seed=0, steps=3000, per_class=48, batch_classes=80, lr=2e-3, crop_share=0.5,
             log=print, scenes=("plain",), logit_scale=None):
    """Train the tiny CLIP; returns ``(state_dict in OpenAI's layout, token_ids, stats)``.

    ``scenes``: the scenes the pool is drawn in (the first must be "plain"), each named by its
    own captions. ``logit_scale``: None learns it, clamped at 100 as CLIP does; a number trains
    at that scale throughout (100: CLIP's).

    Deterministic algorithms are switched on for the run (and back after): the scatter-add
    behind the token table's gradient otherwise sums in a thread-dependent order.
    """
    if scenes[0] != "plain" or any(s not in SCENES for s in scenes):
        raise ValueError(f"scenes must start with 'plain' and be among {', '.join(SCENES)}, "
                         f"got {', '.join(scenes)}")
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        return _pretrain(seed, steps, per_class, batch_classes, lr, crop_share, log,
                         tuple(scenes), logit_scale)
    finally:
        torch.use_deterministic_algorithms(previous)


def _caption_tokens(scenes):
    """Caption tokens indexed (class, scene, caption, position)."""
    texts = caption_texts(scenes)
    flat = [t for per_class in texts for per_scene in per_class for t in per_scene]
    return tokenize(flat).view(len(texts), len(scenes), len(texts[0][0]), -1)


def _pretrain(seed, steps, per_class, batch_classes, lr, crop_share, log, scenes, logit_scale):
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    started = time.time()
    pool = image_pool(seed, per_class, ARCH["image_size"], scenes)
    scene_of = torch.tensor(scene_of_images(per_class, scenes))
    tokens = _caption_tokens(scenes)
    model = build_model(seed, logit_scale)
    used = torch.unique(tokens)
    compact = CompactTokens(model.token_embedding.weight.detach(), used)
    encoder = TextEncoder(model)
    optim = torch.optim.AdamW(_param_groups(model, compact, logit_scale is None), lr=lr,
                              betas=(0.9, 0.98), eps=1e-6)
    warmup = max(steps // 20, 1)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lambda s: min((s + 1) / warmup, 0.5 * (
        1 + math.cos(math.pi * min(s, steps) / steps))))
    n_classes = tokens.shape[0]
    log(f"toy-world pretraining: {n_classes} classes x {per_class} images, {steps} steps, "
        f"seed {seed}, scenes {', '.join(scenes)} (pool drawn in {time.time() - started:.1f}s)")
    model.train()
    losses = []
    for step in range(steps):
        classes = torch.randperm(n_classes, generator=generator)[:batch_classes]
        pick = torch.randint(0, per_class, (len(classes),), generator=generator)
        images = to_clip_input(augment(pool[classes, pick], generator, crop_share))
        which = torch.randint(0, tokens.shape[2], (len(classes),), generator=generator)
        batch_tokens = tokens[classes, scene_of[pick], which]
        image_features = F.normalize(model.visual(images), dim=-1)
        text_features = F.normalize(encoder(compact(batch_tokens), batch_tokens), dim=-1)
        logits = model.logit_scale.exp().clamp(max=100) * image_features @ text_features.t()
        target = torch.arange(len(classes))
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        sched.step()
        losses.append(loss.item())
        with torch.no_grad():
            model.logit_scale.clamp_(max=math.log(100))
        if (step + 1) % max(steps // 10, 1) == 0:
            log(f"  step {step + 1}/{steps} loss {loss.item():.3f} "
                f"logit scale {model.logit_scale.exp().item():.1f} ({time.time() - started:.0f}s)")
    return _finish(model, compact, losses, started, steps=steps, crop_share=crop_share,
                   scenes=list(scenes), scale_trained="fixed" if logit_scale else "learned")


def _finish(model, compact, losses, started, **facts):
    """The trained weights (token rows written back) and the run's stats."""
    with torch.no_grad():
        model.token_embedding.weight[compact.token_ids] = compact.rows
    model.eval()
    state = {k: v.detach().clone() for k, v in model.state_dict().items()
             if not k.endswith("attn_mask")}
    tenth = max(len(losses) // 10, 1)
    stats = {**facts,
             "first_loss": round(sum(losses[:tenth]) / tenth, 4),
             "final_loss": round(sum(losses[-tenth:]) / tenth, 4),
             "logit_scale": round(model.logit_scale.exp().item(), 2),
             "seconds": round(time.time() - started, 1)}
    return state, compact.token_ids, stats
