"""DataManager: dataset + transforms + loaders, the object trainers keep as ``self.dm``."""

from collections import Counter

import torch
import torchvision.transforms as T
from torch.utils.data import DataLoader, Dataset

from dassl.data.datasets import build_dataset
from dassl.data.samplers import build_sampler
from dassl.data.transforms import INTERPOLATION_MODES, build_transform
from dassl.utils.tools import read_image

try:
    from tabulate import tabulate
except ImportError:  # pragma: no cover - tabulate is in requirements.txt

    def tabulate(rows):
        width = max(len(str(r[0])) for r in rows)
        return "\n".join(f"{str(k).ljust(width)}  {v}" for k, v in rows)


def build_data_loader(
    cfg,
    sampler_type="SequentialSampler",
    data_source=None,
    batch_size=64,
    n_domain=0,
    n_ins=2,
    tfm=None,
    is_train=True,
    dataset_wrapper=None,
):
    sampler = build_sampler(
        sampler_type,
        cfg=cfg,
        data_source=data_source,
        batch_size=batch_size,
        n_domain=n_domain,
        n_ins=n_ins,
    )
    if dataset_wrapper is None:
        dataset_wrapper = DatasetWrapper
    num_workers = cfg.DATALOADER.NUM_WORKERS
    data_loader = DataLoader(
        dataset_wrapper(cfg, data_source, transform=tfm, is_train=is_train),
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        # Upstream drops the last partial batch only when at least one full batch exists.
        drop_last=is_train and len(data_source) >= batch_size,
        pin_memory=(torch.cuda.is_available() and cfg.USE_CUDA),
        persistent_workers=num_workers > 0,
    )
    if len(data_loader) == 0:
        raise ValueError(f"Empty data loader ({len(data_source)} samples, batch size {batch_size})")
    return data_loader


def warn_if_fewer_shots(train_x, num_shots):
    """Say when a class has fewer than NUM_SHOTS training images: the run is then not the
    N-shot experiment its folder name claims (upstream keeps what exists, silently)."""
    if num_shots < 1:
        return
    counts = Counter(item.label for item in train_x)
    short = [n for n in counts.values() if n < num_shots]
    if short:
        print(
            f"Warning: DATASET.NUM_SHOTS is {num_shots} but {len(short)} of {len(counts)} "
            f"classes have fewer training images (smallest: {min(short)}); they use all they have"
        )


class DataManager:
    def __init__(self, cfg, custom_tfm_train=None, custom_tfm_test=None, dataset_wrapper=None):
        dataset = build_dataset(cfg)
        if dataset.train_x is not dataset.test:  # test-only variants draw no shots
            warn_if_fewer_shots(dataset.train_x, cfg.DATASET.NUM_SHOTS)

        if custom_tfm_train is None:
            tfm_train = build_transform(cfg, is_train=True)
        else:
            print("* Using custom transform for training")
            tfm_train = custom_tfm_train
        if custom_tfm_test is None:
            tfm_test = build_transform(cfg, is_train=False)
        else:
            print("* Using custom transform for testing")
            tfm_test = custom_tfm_test

        def loader(data_source, loader_cfg, tfm, is_train):
            return build_data_loader(
                cfg,
                sampler_type=loader_cfg.SAMPLER,
                data_source=data_source,
                batch_size=loader_cfg.BATCH_SIZE,
                n_domain=loader_cfg.get("N_DOMAIN", 0),
                n_ins=loader_cfg.get("N_INS", 2),
                tfm=tfm,
                is_train=is_train,
                dataset_wrapper=dataset_wrapper,
            )

        x_cfg = cfg.DATALOADER.TRAIN_X
        train_loader_x = loader(dataset.train_x, x_cfg, tfm_train, True)
        train_loader_u = None
        if dataset.train_u:
            u_cfg = x_cfg if cfg.DATALOADER.TRAIN_U.SAME_AS_X else cfg.DATALOADER.TRAIN_U
            train_loader_u = loader(dataset.train_u, u_cfg, tfm_train, True)
        test_cfg = cfg.DATALOADER.TEST
        val_loader = loader(dataset.val, test_cfg, tfm_test, False) if dataset.val else None
        test_loader = loader(dataset.test, test_cfg, tfm_test, False)

        self._num_classes = dataset.num_classes
        self._num_source_domains = len(cfg.DATASET.SOURCE_DOMAINS)
        self._lab2cname = dataset.lab2cname

        self.dataset = dataset
        self.tfm_train = tfm_train
        self.tfm_test = tfm_test
        self.train_loader_x = train_loader_x
        self.train_loader_u = train_loader_u
        self.val_loader = val_loader
        self.test_loader = test_loader

        if cfg.VERBOSE:
            self.show_dataset_summary(cfg)

    @property
    def num_classes(self):
        return self._num_classes

    @property
    def num_source_domains(self):
        return self._num_source_domains

    @property
    def lab2cname(self):
        return self._lab2cname

    def show_dataset_summary(self, cfg):
        table = [["Dataset", cfg.DATASET.NAME]]
        if cfg.DATASET.SOURCE_DOMAINS:
            table.append(["Source", list(cfg.DATASET.SOURCE_DOMAINS)])
        if cfg.DATASET.TARGET_DOMAINS:
            table.append(["Target", list(cfg.DATASET.TARGET_DOMAINS)])
        table.append(["# classes", f"{self.num_classes:,}"])
        table.append(["# train_x", f"{len(self.dataset.train_x):,}"])
        if self.dataset.train_u:
            table.append(["# train_u", f"{len(self.dataset.train_u):,}"])
        if self.dataset.val:
            table.append(["# val", f"{len(self.dataset.val):,}"])
        table.append(["# test", f"{len(self.dataset.test):,}"])
        print(tabulate(table))


class DatasetWrapper(Dataset):
    """Reads one Datum into the batch dict the trainers index: img, label, domain, impath, index."""

    def __init__(self, cfg, data_source, transform=None, is_train=False):
        self.cfg = cfg
        self.data_source = data_source
        self.transform = transform
        self.is_train = is_train
        # Several augmented views per image only make sense for training.
        self.k_tfm = cfg.DATALOADER.K_TRANSFORMS if is_train else 1
        self.return_img0 = cfg.DATALOADER.RETURN_IMG0

        if self.k_tfm > 1 and transform is None:
            raise ValueError(
                f"Cannot augment the image {self.k_tfm} times because transform is None"
            )

        interp = INTERPOLATION_MODES[cfg.INPUT.INTERPOLATION]
        to_tensor = [
            T.Resize(list(cfg.INPUT.SIZE), interpolation=interp),
            T.ToTensor(),
        ]
        if "normalize" in cfg.INPUT.TRANSFORMS:
            to_tensor.append(T.Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD))
        self.to_tensor = T.Compose(to_tensor)

    def __len__(self):
        return len(self.data_source)

    def __getitem__(self, idx):
        item = self.data_source[idx]
        output = {
            "label": item.label,
            "domain": item.domain,
            "impath": item.impath,
            "index": idx,
        }
        img0 = read_image(item.impath)

        if self.transform is None:
            output["img"] = self.to_tensor(img0)
        elif isinstance(self.transform, (list, tuple)):
            for i, tfm in enumerate(self.transform):
                key = "img" if i == 0 else f"img{i + 1}"
                output[key] = self._transform_image(tfm, img0)
        else:
            output["img"] = self._transform_image(self.transform, img0)

        if self.return_img0:
            output["img0"] = self.to_tensor(img0)
        return output

    def _transform_image(self, tfm, img0):
        views = [tfm(img0) for _ in range(self.k_tfm)]
        return views[0] if len(views) == 1 else views
