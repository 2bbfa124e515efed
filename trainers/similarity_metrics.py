"""How far learned prompts move the class-similarity structure away from hand-crafted prompts.

SAR exists because prompts tuned on base classes bend the similarities CLIP's text space has
among other classes. These are the measurements of that bend, shared by the similarity report
(tools/similarity_report.py) and the tests, so a figure and a test never disagree on what
"drift" means. Every function takes unit-norm features: ``G`` learned, (n, D) or (B, n, D) for
per-image prompts (averaged over images), and ``H`` hand-crafted, (n, D).
"""

import math

import torch

from trainers.sar import sar_loss


def similarities(features):
    """Cosine similarities of unit-norm features: (n, n), or (B, n, n) for (B, n, D)."""
    features = features.float()
    return features @ features.transpose(-1, -2)


def off_diagonal(S):
    """The off-diagonal entries of each row: (..., n, n - 1), the diagonal (always 1) left out."""
    n = S.shape[-1]
    keep = ~torch.eye(n, dtype=torch.bool, device=S.device)
    return S[..., keep].reshape(*S.shape[:-2], n, n - 1)


def _check(G, H, at_least=2):
    n = H.shape[0]
    if H.dim() != 2 or G.dim() not in (2, 3) or tuple(G.shape[-2:]) != tuple(H.shape):
        raise ValueError(f"G must be (n, D) or (B, n, D) with H (n, D); got {tuple(G.shape)} "
                         f"and {tuple(H.shape)}")
    if n < at_least:
        raise ValueError(f"need at least {at_least} classes, got {n}")


def mean_abs_change(G, H):
    """Mean |S^g_ij - S^h_ij| over i != j: how much a cosine similarity moved, on average."""
    _check(G, H)
    delta = off_diagonal(similarities(G)) - off_diagonal(similarities(H.to(G.device)))
    return delta.abs().mean().item()


def row_kl(G, H, temperature):
    """mean_i KL(P^h_i || P^g_i) at ``temperature``: L_SAR itself (kl, all rows) over these
    classes, from trainers/sar.py, so the report measures exactly what SAR minimizes."""
    _check(G, H)
    return sar_loss(G, H, n_base=H.shape[0], temperature=temperature, divergence="kl",
                    rows="all").item()


def _ranks(x):
    """Ranks 0..m-1 along the last dimension (exact ties, which float cosines rarely have,
    are broken by position)."""
    return x.argsort(dim=-1).argsort(dim=-1).float()


def neighbour_spearman(G, H):
    """Mean over classes i of Spearman's rho between the rankings of i's neighbours j != i by
    learned and by hand-crafted similarity: 1 = every class keeps its nearest-neighbour order."""
    _check(G, H, at_least=3)
    r_g = _ranks(off_diagonal(similarities(G)))
    r_h = _ranks(off_diagonal(similarities(H.to(G.device)))).expand_as(r_g)
    r_g, r_h = r_g - r_g.mean(-1, keepdim=True), r_h - r_h.mean(-1, keepdim=True)
    rho = (r_g * r_h).sum(-1) / (r_g.norm(dim=-1) * r_h.norm(dim=-1))
    return rho.mean().item()


def rigid_share(G, H):
    """Share of the squared feature drift ||G - H||^2 that one rotation of all classes together
    explains: 1 - min_R ||G R - H||^2 / ||G - H||^2 (orthogonal Procrustes), averaged over
    images for per-image prompts; NaN when nothing moved.

    A rotation of the whole class set keeps every cosine between classes, so this part of the
    drift is invisible to SAR (and to any loss on the similarity matrix), while it still moves
    the text features away from the images they must match. Near 1: the prompts moved the
    classes together, as one block, and SAR has little to hold on to (docs/toy_world.md)."""
    _check(G, H)
    G, H = G.double(), H.double().to(G.device)
    drift = (G - H).pow(2).sum((-1, -2))
    # min_R ||G R - H||^2 = ||G||^2 + ||H||^2 - 2 * (nuclear norm of G^T H)
    nuclear = torch.linalg.matrix_norm(G.transpose(-1, -2) @ H, ord="nuc")
    residual = (G.pow(2).sum((-1, -2)) + H.pow(2).sum() - 2 * nuclear).clamp_min(0)
    if bool((drift <= 1e-12).any()):
        return math.nan
    return (1 - residual / drift).mean().item()


METRICS = ("mean_abs_change", "row_kl", "spearman", "rigid_share")


def drift_metrics(G, H, temperature):
    """The drift numbers of the report; Spearman is NaN below 3 classes (one neighbour has no
    ranking)."""
    return {
        "mean_abs_change": mean_abs_change(G, H),
        "row_kl": row_kl(G, H, temperature),
        "spearman": neighbour_spearman(G, H) if H.shape[0] >= 3 else math.nan,
        "rigid_share": rigid_share(G, H),
    }
