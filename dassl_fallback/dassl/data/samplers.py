"""Samplers named by ``DATALOADER.*.SAMPLER``.

The domain/class samplers emit flat index lists whose consecutive ``batch_size`` chunks form
the intended batches, so they must be used with the same batch size and no shuffling.
"""

import random
from collections import defaultdict

from torch.utils.data.sampler import RandomSampler, Sampler, SequentialSampler

AVAI_SAMPLERS = [
    "RandomSampler",
    "SequentialSampler",
    "RandomDomainSampler",
    "SeqDomainSampler",
    "RandomClassSampler",
]


def _group(data_source, key):
    groups = defaultdict(list)
    for i, item in enumerate(data_source):
        groups[getattr(item, key)].append(i)
    return groups


class RandomDomainSampler(Sampler):
    """Each batch: ``n_domain`` random domains, ``batch_size // n_domain`` random images each."""

    def __init__(self, data_source, batch_size, n_domain):
        self.domain_dict = _group(data_source, "domain")
        self.domains = sorted(self.domain_dict)
        if n_domain is None or n_domain <= 0:
            n_domain = len(self.domains)
        if n_domain > len(self.domains):
            raise ValueError(f"N_DOMAIN={n_domain} but the data has {len(self.domains)} domains")
        if batch_size % n_domain != 0:
            raise ValueError(f"batch size {batch_size} is not divisible by N_DOMAIN={n_domain}")
        self.n_domain = n_domain
        self.n_img_per_domain = batch_size // n_domain
        self.num_batches = max(1, len(data_source) // batch_size)

    def __iter__(self):
        out = []
        for _ in range(self.num_batches):
            for d in random.sample(self.domains, self.n_domain):
                pool = self.domain_dict[d]
                k = self.n_img_per_domain
                out.extend(random.sample(pool, k) if len(pool) >= k else random.choices(pool, k=k))
        return iter(out)

    def __len__(self):
        return self.num_batches * self.n_domain * self.n_img_per_domain


class SeqDomainSampler(Sampler):
    """Each batch: the next ``batch_size // n_domains`` images of every domain, in order."""

    def __init__(self, data_source, batch_size):
        self.domain_dict = _group(data_source, "domain")
        self.domains = sorted(self.domain_dict)
        n_domain = len(self.domains)
        if batch_size % n_domain != 0:
            raise ValueError(f"batch size {batch_size} is not divisible by {n_domain} domains")
        self.n_img_per_domain = batch_size // n_domain
        self.num_batches = min(len(v) for v in self.domain_dict.values()) // self.n_img_per_domain

    def __iter__(self):
        out = []
        k = self.n_img_per_domain
        for b in range(self.num_batches):
            for d in self.domains:
                out.extend(self.domain_dict[d][b * k:(b + 1) * k])
        return iter(out)

    def __len__(self):
        return self.num_batches * self.n_img_per_domain * len(self.domains)


class RandomClassSampler(Sampler):
    """Each batch: ``batch_size // n_ins`` random classes, ``n_ins`` images each."""

    def __init__(self, data_source, batch_size, n_ins):
        if n_ins <= 0 or batch_size % n_ins != 0:
            raise ValueError(f"batch size {batch_size} is not divisible by N_INS={n_ins}")
        self.index_dic = _group(data_source, "label")
        self.labels = sorted(self.index_dic)
        self.n_ins = n_ins
        self.ncls_per_batch = batch_size // n_ins
        if self.ncls_per_batch > len(self.labels):
            raise ValueError(f"a batch needs {self.ncls_per_batch} classes, data has "
                             f"{len(self.labels)}")
        self.num_batches = max(1, len(data_source) // batch_size)

    def __iter__(self):
        out = []
        for _ in range(self.num_batches):
            for label in random.sample(self.labels, self.ncls_per_batch):
                pool = self.index_dic[label]
                k = self.n_ins
                out.extend(random.sample(pool, k) if len(pool) >= k else random.choices(pool, k=k))
        return iter(out)

    def __len__(self):
        return self.num_batches * self.ncls_per_batch * self.n_ins


def build_sampler(sampler_type, cfg=None, data_source=None, batch_size=32, n_domain=0, n_ins=16):
    if sampler_type == "RandomSampler":
        return RandomSampler(data_source)
    if sampler_type == "SequentialSampler":
        return SequentialSampler(data_source)
    if sampler_type == "RandomDomainSampler":
        return RandomDomainSampler(data_source, batch_size, n_domain)
    if sampler_type == "SeqDomainSampler":
        return SeqDomainSampler(data_source, batch_size)
    if sampler_type == "RandomClassSampler":
        return RandomClassSampler(data_source, batch_size, n_ins)
    raise ValueError(f'Unknown sampler type "{sampler_type}"; choose from {AVAI_SAMPLERS}')
