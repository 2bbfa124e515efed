"""FGVC-Aircraft (variants): fgvc_aircraft/{images/<id>.jpg, variants.txt,
images_variant_{train,val,test}.txt}; no split file, the txt files are the split.
"""

import os

from dassl.data.datasets import DATASET_REGISTRY, Datum

from .coop_format import CoOpDataset, SplitFormatError, require_path, upstream_datum_guard


def _read_lines(path, name):
    require_path(path, "Split file", name)
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


@DATASET_REGISTRY.register()
class FGVCAircraft(CoOpDataset):
    folder = "fgvc_aircraft"
    image_folder = "images"

    def read_splits(self):
        self.split_source = os.path.join(self.dataset_dir, "images_variant_{train,val,test}.txt")
        classnames = _read_lines(os.path.join(self.dataset_dir, "variants.txt"), self.name)
        cname2lab = {name: label for label, name in enumerate(classnames)}
        splits = []
        for split in ("train", "val", "test"):
            path = os.path.join(self.dataset_dir, f"images_variant_{split}.txt")
            entries = []
            for line in _read_lines(path, self.name):
                imageid, _, variant = line.partition(" ")
                if variant not in cname2lab:
                    raise SplitFormatError(
                        f"Malformed split file {path}: variant {variant!r} not in variants.txt"
                    )
                entries.append((os.path.join(self.image_dir, imageid + ".jpg"), variant))
            with upstream_datum_guard(lambda e=entries: [p for p, _ in e], path):
                splits.append(
                    [Datum(impath=p, label=cname2lab[v], classname=v) for p, v in entries]
                )
        return tuple(splits)
