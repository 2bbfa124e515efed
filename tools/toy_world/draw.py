"""Procedural images of the toy world: one coloured shape on a grey, noisy background.

Every image is drawn from its own seeded generator, so a data root is the same on every
machine for the same world seed. Shapes are drawn 4x larger and shrunk, for smooth edges.
"""

import colorsys
import io
import math

import numpy as np
from PIL import Image, ImageDraw

from .world import COLOURS

SUPERSAMPLE = 4


def _regular_polygon(cx, cy, radius, sides, angle):
    return [(cx + radius * math.cos(angle + 2 * math.pi * k / sides),
             cy + radius * math.sin(angle + 2 * math.pi * k / sides)) for k in range(sides)]


def _rotate(points, cx, cy, angle):
    c, s = math.cos(angle), math.sin(angle)
    return [(cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c)
            for x, y in points]


def _star(cx, cy, r, angle):
    points = []
    for k in range(10):
        radius = r * (1.15 if k % 2 == 0 else 0.48)
        a = angle - math.pi / 2 + math.pi * k / 5
        points.append((cx + radius * math.cos(a), cy + radius * math.sin(a)))
    return points


def _cross(cx, cy, r, angle):
    w = 0.32 * r
    arm = [(-w, -r), (w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r), (-w, w),
           (-r, w), (-r, -w), (-w, -w)]
    return _rotate([(cx + x, cy + y) for x, y in arm], cx, cy, angle)


def _arrow(cx, cy, r, angle):
    outline = [(-r, -0.28 * r), (0.1 * r, -0.28 * r), (0.1 * r, -0.75 * r), (r, 0),
               (0.1 * r, 0.75 * r), (0.1 * r, 0.28 * r), (-r, 0.28 * r)]
    return _rotate([(cx + x, cy + y) for x, y in outline], cx, cy, angle)


def draw_mask(shape, size, rng):
    """An anti-aliased alpha mask (size x size, floats in 0..1) of ``shape``."""
    big = size * SUPERSAMPLE
    mask = Image.new("L", (big, big), 0)
    pen = ImageDraw.Draw(mask)
    r = big * rng.uniform(0.26, 0.34)
    cx, cy = (big / 2 + rng.uniform(-0.07, 0.07) * big for _ in range(2))
    tilt = rng.uniform(-0.26, 0.26)
    if shape == "circle":
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    elif shape == "ring":
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        inner = 0.58 * r
        pen.ellipse([cx - inner, cy - inner, cx + inner, cy + inner], fill=0)
    elif shape == "crescent":
        pen.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        ox, oy = cx + 0.5 * r * math.cos(tilt), cy + 0.5 * r * math.sin(tilt)
        pen.ellipse([ox - 0.85 * r, oy - 0.85 * r, ox + 0.85 * r, oy + 0.85 * r], fill=0)
    elif shape == "square":
        pen.polygon(_regular_polygon(cx, cy, 1.15 * r, 4, math.pi / 4 + tilt), fill=255)
    elif shape == "diamond":
        points = [(cx, cy - 1.3 * r), (cx + 0.75 * r, cy), (cx, cy + 1.3 * r), (cx - 0.75 * r, cy)]
        pen.polygon(_rotate(points, cx, cy, tilt), fill=255)
    elif shape == "triangle":
        pen.polygon(_regular_polygon(cx, cy, 1.25 * r, 3, -math.pi / 2 + tilt), fill=255)
    elif shape == "hexagon":
        pen.polygon(_regular_polygon(cx, cy, 1.1 * r, 6, tilt), fill=255)
    elif shape == "star":
        pen.polygon(_star(cx, cy, r, tilt), fill=255)
    elif shape == "cross":
        pen.polygon(_cross(cx, cy, 1.1 * r, tilt), fill=255)
    elif shape == "arrow":
        pen.polygon(_arrow(cx, cy, 1.15 * r, tilt), fill=255)
    else:
        raise ValueError(f"unknown toy-world shape {shape!r}")
    return np.asarray(mask.resize((size, size), Image.LANCZOS), dtype=np.float32) / 255.0


def colour_rgb(colour, rng):
    """The colour's RGB (0..255) with a little hue, saturation and value jitter."""
    hue, sat, val = COLOURS[colour]
    hue = (hue + rng.uniform(-7, 7)) % 360 / 360
    sat = float(np.clip(sat + rng.uniform(-0.1, 0.1), 0, 1))
    val = float(np.clip(val + rng.uniform(-0.1, 0.05), 0, 1))
    return np.array(colorsys.hsv_to_rgb(hue, sat, val), dtype=np.float32) * 255.0


# Pretraining images are clean; a dataset's are drawn in its own style (tinted background,
# more noise), as a benchmark's photos differ from web images: zero-shot is good, not perfect.
STYLES = {"pretrain": dict(tint=6.0, noise=7.0), "dataset": dict(tint=12.0, noise=11.0)}


# A scene is a condition of the whole picture that captions name ("a red circle in warm
# light."). "plain" is the absence of one, and draws exactly what the worlds before scenes drew.
SCENES = ("plain", "warm", "striped")
WARM_LIGHT = np.array([1.3, 0.95, 0.5], dtype=np.float32)  # a tungsten lamp's cast, per channel


def _stripes(size, rng):
    """A background of bright and dark bands, random period, phase and angle: (size, size, 1)."""
    angle, period = rng.uniform(0, math.pi), rng.uniform(5, 8)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    phase = (x * math.cos(angle) + y * math.sin(angle)) / period + rng.uniform(0, 1)
    return np.where(phase % 1 < 0.5, 28.0, -28.0)[..., None]


def draw_image(colour, shape, size, rng, style="pretrain", scene="plain"):
    """One RGB image (uint8, size x size x 3) of a ``colour`` ``shape`` in ``style`` and
    ``scene``. A plain scene draws nothing extra from ``rng``, so its images are unchanged."""
    if scene not in SCENES:
        raise ValueError(f"unknown toy-world scene {scene!r}; known: {', '.join(SCENES)}")
    look = STYLES[style]
    alpha = draw_mask(shape, size, rng)[..., None]
    grey = rng.uniform(60, 150)
    background = grey + rng.normal(0, look["tint"], (1, 1, 3)) + rng.normal(0, 4, (size, size, 1))
    if scene == "striped":
        background = background + _stripes(size, rng)
    pixels = background * (1 - alpha) + colour_rgb(colour, rng) * alpha
    if scene == "warm":
        pixels = pixels * WARM_LIGHT
    pixels += rng.normal(0, look["noise"], pixels.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def jpeg_bytes(pixels, quality=90):
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def through_jpeg(pixels, quality=90):
    """The pixels a reader of the saved JPEG gets back, so pretraining sees what datasets hold."""
    return np.asarray(Image.open(io.BytesIO(jpeg_bytes(pixels, quality))).convert("RGB"))


def image_rng(world_seed, stream, index):
    """The generator of one image: (world seed, which set, running index)."""
    return np.random.default_rng([world_seed, stream, index])
