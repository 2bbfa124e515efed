"""ImageNet-R: imagenet-rendition/imagenet-r/<wnid>/ (200 classes, labelled by sorted wnid)."""

from dassl.data.datasets import DATASET_REGISTRY

from .imagenet import ImageNetVariant


@DATASET_REGISTRY.register()
class ImageNetR(ImageNetVariant):
    folder = "imagenet-rendition"
    image_folder = "imagenet-r"
    class_folders = "present"
