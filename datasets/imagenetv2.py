"""ImageNetV2 (matched frequency): imagenetv2/imagenetv2-matched-frequency-format-val/<0..999>/."""

from dassl.data.datasets import DATASET_REGISTRY

from .imagenet import ImageNetVariant


@DATASET_REGISTRY.register()
class ImageNetV2(ImageNetVariant):
    folder = "imagenetv2"
    image_folder = "imagenetv2-matched-frequency-format-val"
    class_folders = "index"
