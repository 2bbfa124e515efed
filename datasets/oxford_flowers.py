"""Oxford Flowers 102: oxford_flowers/{jpg/, imagelabels.mat, cat_to_name.json,
split_zhou_OxfordFlowers.json}.

Without the split file, one is built from imagelabels.mat (1-based label of image_%05d.jpg)
and cat_to_name.json, then saved.
"""

import os

from dassl.data.datasets import DATASET_REGISTRY

from .coop_format import CoOpDataset, SplitFormatError, load_json_file, require_path, split_groups


@DATASET_REGISTRY.register()
class OxfordFlowers(CoOpDataset):
    folder = "oxford_flowers"
    image_folder = "jpg"
    split_file = "split_zhou_OxfordFlowers.json"

    def build_split(self):
        from scipy.io import loadmat

        label_file = require_path(
            os.path.join(self.dataset_dir, "imagelabels.mat"), "Label file", self.name
        )
        names_file = require_path(
            os.path.join(self.dataset_dir, "cat_to_name.json"), "Class-name file", self.name
        )
        print(f"No split file at {self.split_path}; building one from {label_file}")
        try:
            labels = [int(x) for x in loadmat(label_file)["labels"].ravel()]
        except Exception as exc:  # scipy raises several unrelated types for a bad file
            raise SplitFormatError(f"Malformed label file {label_file}: {exc}") from None
        cat_to_name = load_json_file(names_file, "class-name file")
        groups = {}
        for i, label in enumerate(labels):
            impath = os.path.join(self.image_dir, f"image_{i + 1:05d}.jpg")
            groups.setdefault(label, []).append(impath)
        try:
            return split_groups(
                [(label - 1, cat_to_name[str(label)], paths) for label, paths in groups.items()]
            )
        except KeyError as exc:
            raise SplitFormatError(f"Class {exc} is missing from {names_file}") from None
