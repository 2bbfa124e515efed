"""The toy world's vocabulary and how one world splits it into base, new and bank classes.

Colours and shapes are plain English words, so CLIP's real tokenizer gives class names real
token structure. A world is fixed by its seed: which colours are base, which are new, which
shapes the dataset uses, and which names are left over for the novel-class bank.
"""

from dataclasses import asdict, dataclass

import numpy as np

# name -> (hue in degrees, saturation, value); hues far enough apart to be told apart at 32 px
COLOURS = {
    "red": (0.0, 0.85, 0.90),
    "orange": (28.0, 0.90, 0.95),
    "yellow": (56.0, 0.85, 0.95),
    "green": (125.0, 0.75, 0.75),
    "cyan": (185.0, 0.80, 0.90),
    "blue": (228.0, 0.85, 0.90),
    "purple": (278.0, 0.70, 0.80),
    "pink": (325.0, 0.45, 0.98),
}
SHAPES = (
    "circle", "square", "triangle", "star", "cross", "ring", "diamond", "hexagon", "crescent",
    "arrow",
)


def class_name(colour, shape):
    return f"{colour} {shape}"


@dataclass(frozen=True)
class World:
    """One draw of the world: the downstream dataset's classes and the bank of other names."""

    seed: int
    base_colours: tuple
    new_colours: tuple
    shapes: tuple

    @property
    def base_classes(self):
        return [class_name(c, s) for c in self.base_colours for s in self.shapes]

    @property
    def new_classes(self):
        return [class_name(c, s) for c in self.new_colours for s in self.shapes]

    @property
    def dataset_classes(self):
        """Base first, then new: CoOp's base/new split takes the first half of the labels."""
        return self.base_classes + self.new_classes

    @property
    def bank(self):
        """Every other name of the world: the stand-in for an LLM's related novel classes."""
        used = set(self.dataset_classes)
        return [class_name(c, s) for c in COLOURS for s in SHAPES if class_name(c, s) not in used]

    def to_json(self):
        data = asdict(self)
        data.update(base_classes=self.base_classes, new_classes=self.new_classes, bank=self.bank)
        return data


def all_classes():
    """Every name of the vocabulary: what pretraining sees (as the web would)."""
    return [class_name(c, s) for c in COLOURS for s in SHAPES]


def make_world(seed, n_base_colours=3, n_new_colours=3, n_shapes=6):
    """The world of ``seed``: a seeded choice of base colours, new colours and shapes."""
    if n_base_colours < 1 or n_new_colours < 1 or n_base_colours + n_new_colours > len(COLOURS):
        raise ValueError(f"base + new colours must be between 2 and {len(COLOURS)}, got "
                         f"{n_base_colours} + {n_new_colours}")
    if not 1 <= n_shapes <= len(SHAPES):
        raise ValueError(f"shapes must be between 1 and {len(SHAPES)}, got {n_shapes}")
    rng = np.random.default_rng([seed, 0x70E])
    colours = [list(COLOURS)[i] for i in rng.permutation(len(COLOURS))]
    shapes = [SHAPES[i] for i in rng.permutation(len(SHAPES))[:n_shapes]]
    return World(seed=seed, base_colours=tuple(colours[:n_base_colours]),
                 new_colours=tuple(colours[n_base_colours:n_base_colours + n_new_colours]),
                 shapes=tuple(shapes))
