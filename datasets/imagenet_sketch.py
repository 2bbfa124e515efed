"""ImageNet-Sketch: imagenet-sketch/images/<wnid>/ (upstream's name), or sketch/<wnid>/, the
folder the published archive unpacks to."""

from dassl.data.datasets import DATASET_REGISTRY

from .imagenet import ImageNetVariant


@DATASET_REGISTRY.register()
class ImageNetSketch(ImageNetVariant):
    folder = "imagenet-sketch"
    image_folder = "images"
    image_folder_alternatives = ("sketch",)
    class_folders = "wnid"
