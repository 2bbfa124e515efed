"""ImageNet-A: imagenet-adversarial/imagenet-a/<wnid>/ (200 classes, labelled by sorted wnid)."""

from dassl.data.datasets import DATASET_REGISTRY

from .imagenet import ImageNetVariant


@DATASET_REGISTRY.register()
class ImageNetA(ImageNetVariant):
    folder = "imagenet-adversarial"
    image_folder = "imagenet-a"
    class_folders = "present"
