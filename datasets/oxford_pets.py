"""Oxford-IIIT Pets: oxford_pets/{images/, annotations/, split_zhou_OxfordPets.json}."""

from dassl.data.datasets import DATASET_REGISTRY

from .coop_format import CoOpDataset, read_split, save_split, subsample_classes


@DATASET_REGISTRY.register()
class OxfordPets(CoOpDataset):
    folder = "oxford_pets"
    image_folder = "images"
    split_file = "split_zhou_OxfordPets.json"

    # upstream dataset files call these as OxfordPets.<name>
    read_split = staticmethod(read_split)
    save_split = staticmethod(save_split)
    subsample_classes = staticmethod(subsample_classes)
