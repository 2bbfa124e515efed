"""Describable Textures: dtd/{images/<class>/, split_zhou_DescribableTextures.json}.

Without the split file, one is built from the class folders and saved (upstream's behaviour).
"""

from dassl.data.datasets import DATASET_REGISTRY

from .coop_format import CoOpDataset, read_and_split_data


@DATASET_REGISTRY.register()
class DescribableTextures(CoOpDataset):
    folder = "dtd"
    image_folder = "images"
    split_file = "split_zhou_DescribableTextures.json"
    folder_split = True

    read_and_split_data = staticmethod(read_and_split_data)
