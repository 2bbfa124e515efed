"""Image transforms selected by name through ``cfg.INPUT.TRANSFORMS``."""

import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from torchvision.transforms import InterpolationMode

INTERPOLATION_MODES = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
}

AVAI_CHOICES = [
    "random_flip",
    "random_resized_crop",
    "normalize",
    "instance_norm",
    "random_crop",
    "random_translation",
    "center_crop",
    "cutout",
    "imagenet_policy",
    "cifar10_policy",
    "svhn_policy",
    "randaugment",
    "randaugment_fixmatch",
    "randaugment2",
    "gaussian_noise",
    "colorjitter",
    "randomgrayscale",
    "gaussian_blur",
]


class Random2DTranslation:
    """With probability ``p``, enlarge by 1/8 and crop back at a random position; else resize."""

    def __init__(self, height, width, p=0.5, interpolation=InterpolationMode.BILINEAR):
        self.height = height
        self.width = width
        self.p = p
        self.interpolation = interpolation

    def __call__(self, img):
        if torch.rand(1).item() > self.p:
            return TF.resize(img, [self.height, self.width], interpolation=self.interpolation)
        new_h, new_w = round(self.height * 1.125), round(self.width * 1.125)
        img = TF.resize(img, [new_h, new_w], interpolation=self.interpolation)
        top = int(torch.randint(0, new_h - self.height + 1, (1,)).item())
        left = int(torch.randint(0, new_w - self.width + 1, (1,)).item())
        return TF.crop(img, top, left, self.height, self.width)


class Cutout:
    """Zero ``n_holes`` random square patches of side ``length`` in a CxHxW tensor."""

    def __init__(self, n_holes=1, length=16):
        self.n_holes = n_holes
        self.length = length

    def __call__(self, img):
        h, w = img.shape[-2:]
        mask = torch.ones(h, w, dtype=img.dtype)
        for _ in range(self.n_holes):
            y = int(torch.randint(0, h, (1,)).item())
            x = int(torch.randint(0, w, (1,)).item())
            y1, y2 = max(0, y - self.length // 2), min(h, y + self.length // 2)
            x1, x2 = max(0, x - self.length // 2), min(w, x + self.length // 2)
            mask[y1:y2, x1:x2] = 0
        return img * mask


class GaussianNoise:
    """Add N(mean, std) noise with probability ``p``."""

    def __init__(self, mean=0.0, std=0.15, p=0.5):
        self.mean = mean
        self.std = std
        self.p = p

    def __call__(self, img):
        if torch.rand(1).item() > self.p:
            return img
        return img + torch.randn_like(img) * self.std + self.mean


class InstanceNormalization:
    """Normalize each channel of one image by its own mean and std."""

    def __init__(self, eps=1e-8):
        self.eps = eps

    def __call__(self, img):
        c = img.shape[0]
        flat = img.reshape(c, -1)
        mean = flat.mean(1).view(c, 1, 1)
        std = flat.std(1).view(c, 1, 1)
        return (img - mean) / (std + self.eps)


def _check_choices(choices):
    unknown = [c for c in choices if c not in AVAI_CHOICES]
    if unknown:
        raise ValueError(f"Unknown transform(s) {unknown}; choose from {AVAI_CHOICES}")


def _interp(cfg):
    name = cfg.INPUT.INTERPOLATION
    if name not in INTERPOLATION_MODES:
        avai = list(INTERPOLATION_MODES)
        raise ValueError(f'INPUT.INTERPOLATION "{name}" is not supported; choose from {avai}')
    return INTERPOLATION_MODES[name]


def build_transform(cfg, is_train=True, choices=None):
    """Compose the train or test pipeline; test = resize short side, center crop, normalize.

    ``choices`` overrides ``cfg.INPUT.TRANSFORMS``. Returns None if ``INPUT.NO_TRANSFORM``.
    """
    if cfg.INPUT.NO_TRANSFORM:
        print("Note: no transform is applied!")
        return None
    if choices is None:
        choices = cfg.INPUT.TRANSFORMS
    choices = list(choices)
    _check_choices(choices)
    normalize = T.Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD)
    if is_train:
        return _build_transform_train(cfg, choices, normalize)
    return _build_transform_test(cfg, choices, normalize)


def _build_transform_train(cfg, choices, normalize):
    print("Building transform_train")
    tfm = []
    interp = _interp(cfg)
    size = list(cfg.INPUT.SIZE)

    if "random_crop" not in choices and "random_resized_crop" not in choices:
        print(f"+ resize to {size[0]}x{size[1]}")
        tfm.append(T.Resize(size, interpolation=interp))
    if "random_translation" in choices:
        print("+ random translation")
        tfm.append(Random2DTranslation(size[0], size[1], interpolation=interp))
    if "random_crop" in choices:
        print(f"+ random crop (padding = {cfg.INPUT.CROP_PADDING})")
        tfm.append(T.RandomCrop(size, padding=cfg.INPUT.CROP_PADDING))
    if "random_resized_crop" in choices:
        scale = tuple(cfg.INPUT.RRCROP_SCALE)
        print(f"+ random resized crop (size={tuple(size)}, scale={scale})")
        tfm.append(T.RandomResizedCrop(size, scale=scale, interpolation=interp))
    if "center_crop" in choices:
        print(f"+ center crop (size={tuple(size)})")
        tfm.append(T.CenterCrop(size))
    if "random_flip" in choices:
        print("+ random flip")
        tfm.append(T.RandomHorizontalFlip())
    policies = {
        "imagenet_policy": T.AutoAugmentPolicy.IMAGENET,
        "cifar10_policy": T.AutoAugmentPolicy.CIFAR10,
        "svhn_policy": T.AutoAugmentPolicy.SVHN,
    }
    for name, policy in policies.items():
        if name in choices:
            print(f"+ auto-augment ({name})")
            tfm.append(T.AutoAugment(policy))
    for name in ("randaugment", "randaugment_fixmatch", "randaugment2"):
        if name in choices:
            n, m = cfg.INPUT.RANDAUGMENT_N, cfg.INPUT.RANDAUGMENT_M
            print(f"+ {name} (n={n}, m={m})")
            tfm.append(T.RandAugment(num_ops=n, magnitude=m))
    if "colorjitter" in choices:
        b, c, s, h = (cfg.INPUT.COLORJITTER_B, cfg.INPUT.COLORJITTER_C,
                      cfg.INPUT.COLORJITTER_S, cfg.INPUT.COLORJITTER_H)
        print(f"+ color jitter (brightness={b}, contrast={c}, saturation={s}, hue={h})")
        tfm.append(T.ColorJitter(brightness=b, contrast=c, saturation=s, hue=h))
    if "randomgrayscale" in choices:
        print(f"+ random gray scale (p={cfg.INPUT.RGS_P})")
        tfm.append(T.RandomGrayscale(p=cfg.INPUT.RGS_P))
    if "gaussian_blur" in choices:
        k, p = cfg.INPUT.GB_K, cfg.INPUT.GB_P
        print(f"+ gaussian blur (kernel={k}, p={p})")
        tfm.append(T.RandomApply([T.GaussianBlur(k)], p=p))

    print("+ to torch tensor of range [0, 1]")
    tfm.append(T.ToTensor())
    if "cutout" in choices:
        n, length = cfg.INPUT.CUTOUT_N, cfg.INPUT.CUTOUT_LEN
        print(f"+ cutout (n_holes={n}, length={length})")
        tfm.append(Cutout(n, length))
    if "normalize" in choices:
        print(f"+ normalization (mean={cfg.INPUT.PIXEL_MEAN}, std={cfg.INPUT.PIXEL_STD})")
        tfm.append(normalize)
    if "gaussian_noise" in choices:
        print(f"+ gaussian noise (mean={cfg.INPUT.GN_MEAN}, std={cfg.INPUT.GN_STD})")
        tfm.append(GaussianNoise(cfg.INPUT.GN_MEAN, cfg.INPUT.GN_STD))
    if "instance_norm" in choices:
        print("+ instance normalization")
        tfm.append(InstanceNormalization())
    return T.Compose(tfm)


def _build_transform_test(cfg, choices, normalize):
    print("Building transform_test")
    tfm = []
    interp = _interp(cfg)
    size = list(cfg.INPUT.SIZE)
    print(f"+ resize the smaller edge to {max(size)}")
    tfm.append(T.Resize(max(size), interpolation=interp))
    print(f"+ {size[0]}x{size[1]} center crop")
    tfm.append(T.CenterCrop(size))
    print("+ to torch tensor of range [0, 1]")
    tfm.append(T.ToTensor())
    if "normalize" in choices:
        print(f"+ normalization (mean={cfg.INPUT.PIXEL_MEAN}, std={cfg.INPUT.PIXEL_STD})")
        tfm.append(normalize)
    if "instance_norm" in choices:
        print("+ instance normalization")
        tfm.append(InstanceNormalization())
    return T.Compose(tfm)
