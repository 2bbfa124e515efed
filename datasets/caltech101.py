"""Caltech-101: caltech-101/{101_ObjectCategories/<class>/, split_zhou_Caltech101.json}.

When the split has to be built from the folders, the background and easy-faces folders are
skipped and four folder names are made readable, as upstream does.
"""

from dassl.data.datasets import DATASET_REGISTRY

from .coop_format import CoOpDataset

IGNORED = ("BACKGROUND_Google", "Faces_easy")
NEW_CNAMES = {
    "airplanes": "airplane",
    "Faces": "face",
    "Leopards": "leopard",
    "Motorbikes": "motorbike",
}


@DATASET_REGISTRY.register()
class Caltech101(CoOpDataset):
    folder = "caltech-101"
    image_folder = "101_ObjectCategories"
    split_file = "split_zhou_Caltech101.json"
    folder_split = True
    ignored_folders = IGNORED
    renamed_classes = NEW_CNAMES
