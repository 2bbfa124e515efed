"""Food-101: food-101/{images/<class>/, split_zhou_Food101.json}."""

from dassl.data.datasets import DATASET_REGISTRY

from .coop_format import CoOpDataset


@DATASET_REGISTRY.register()
class Food101(CoOpDataset):
    folder = "food-101"
    image_folder = "images"
    split_file = "split_zhou_Food101.json"
    folder_split = True
