"""EuroSAT (RGB): eurosat/{2750/<Class>/, split_zhou_EuroSAT.json}.

``2750/`` is the folder of the archive upstream used; the current archives unpack to
``EuroSAT_RGB/`` instead (same class folders and file names), which is read as well.

The split file already holds the readable class names; the mapping below is only used when
the split has to be built from the class folders.
"""

from dassl.data.datasets import DATASET_REGISTRY

from .coop_format import CoOpDataset

NEW_CNAMES = {
    "AnnualCrop": "Annual Crop Land",
    "Forest": "Forest",
    "HerbaceousVegetation": "Herbaceous Vegetation Land",
    "Highway": "Highway or Road",
    "Industrial": "Industrial Buildings",
    "Pasture": "Pasture Land",
    "PermanentCrop": "Permanent Crop Land",
    "Residential": "Residential Buildings",
    "River": "River",
    "SeaLake": "Sea or Lake",
}


@DATASET_REGISTRY.register()
class EuroSAT(CoOpDataset):
    folder = "eurosat"
    image_folder = "2750"
    image_folder_alternatives = ("EuroSAT_RGB",)
    split_file = "split_zhou_EuroSAT.json"
    folder_split = True
    renamed_classes = NEW_CNAMES
