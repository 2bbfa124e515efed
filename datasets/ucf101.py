"""UCF101 (middle frames): ucf101/{UCF-101-midframes/<Action>/, split_zhou_UCF101.json}."""

from dassl.data.datasets import DATASET_REGISTRY

from .coop_format import CoOpDataset


@DATASET_REGISTRY.register()
class UCF101(CoOpDataset):
    folder = "ucf101"
    image_folder = "UCF-101-midframes"
    split_file = "split_zhou_UCF101.json"
