"""SUN397: sun397/{SUN397/<letter>/<class>/, split_zhou_SUN397.json}."""

from dassl.data.datasets import DATASET_REGISTRY

from .coop_format import CoOpDataset


@DATASET_REGISTRY.register()
class SUN397(CoOpDataset):
    folder = "sun397"
    image_folder = "SUN397"
    split_file = "split_zhou_SUN397.json"
