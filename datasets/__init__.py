"""CoOp-format datasets; importing this package registers all of them in DATASET_REGISTRY.

The shared machinery (split files, few-shot cache, base/new subsampling, errors) is in
``datasets.coop_format``; DATASETS.md describes the expected folders.
"""

from . import (  # noqa: F401
    caltech101,
    dtd,
    eurosat,
    fgvc_aircraft,
    food101,
    imagenet,
    imagenet_a,
    imagenet_r,
    imagenet_sketch,
    imagenetv2,
    oxford_flowers,
    oxford_pets,
    stanford_cars,
    sun397,
    ucf101,
)
from .coop_format import (  # noqa: F401
    CoOpDataset,
    DatasetError,
    DatasetNotFoundError,
    MissingImagesError,
    SplitFormatError,
    subsample_classes,
)

# configs/datasets/<stem>.yaml -> registered dataset name, in the upstream order
DATASET_CONFIGS = {
    "oxford_pets": "OxfordPets",
    "oxford_flowers": "OxfordFlowers",
    "fgvc_aircraft": "FGVCAircraft",
    "dtd": "DescribableTextures",
    "eurosat": "EuroSAT",
    "stanford_cars": "StanfordCars",
    "food101": "Food101",
    "sun397": "SUN397",
    "caltech101": "Caltech101",
    "ucf101": "UCF101",
    "imagenet": "ImageNet",
    "imagenetv2": "ImageNetV2",
    "imagenet_sketch": "ImageNetSketch",
    "imagenet_a": "ImageNetA",
    "imagenet_r": "ImageNetR",
}
DATASET_NAMES = tuple(DATASET_CONFIGS.values())
