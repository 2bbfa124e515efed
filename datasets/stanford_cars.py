"""Stanford Cars: stanford_cars/{cars_train/, cars_test/, devkit/, split_zhou_StanfordCars.json}.

Paths in the split file are relative to stanford_cars/ itself (e.g. "cars_train/00001.jpg").
"""

from dassl.data.datasets import DATASET_REGISTRY

from .coop_format import CoOpDataset


@DATASET_REGISTRY.register()
class StanfordCars(CoOpDataset):
    folder = "stanford_cars"
    image_folder = ""
    split_file = "split_zhou_StanfordCars.json"
