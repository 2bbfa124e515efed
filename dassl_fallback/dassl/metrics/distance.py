"""Pairwise distances between feature sets."""

import torch
from torch.nn import functional as F


def compute_distance_matrix(input1, input2, metric="euclidean"):
    """(m, d) x (n, d) -> (m, n) squared-euclidean or cosine distances."""
    assert isinstance(input1, torch.Tensor) and isinstance(input2, torch.Tensor)
    assert input1.dim() == 2 and input2.dim() == 2
    assert input1.size(1) == input2.size(1)
    if metric == "euclidean":
        return torch.cdist(input1, input2).pow(2)
    if metric == "cosine":
        return 1 - torch.mm(F.normalize(input1, p=2, dim=1), F.normalize(input2, p=2, dim=1).t())
    raise ValueError(f'Unknown distance metric "{metric}"; use euclidean or cosine')
