"""ImageNet-Sketch: imagenet-sketch/images/<wnid>/."""

from dassl.data.datasets import DATASET_REGISTRY

from .imagenet import ImageNetVariant


@DATASET_REGISTRY.register()
class ImageNetSketch(ImageNetVariant):
    folder = "imagenet-sketch"
    image_folder = "images"
    class_folders = "wnid"
