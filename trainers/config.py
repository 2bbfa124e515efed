"""Trainer-specific config nodes (upstream's ``extend_cfg``), in one place for every trainer.

All nodes are added whatever the trainer, as in the upstream forks, so any fork's YAML merges.
"""

from yacs.config import CfgNode as CN

# SAR defaults, justified in the README ("SAR knobs").
SAR_DEFAULTS = {
    "WEIGHT": 1.0,  # lambda: L_SAR is a KL between row distributions, on the scale of CE
    "TEMPERATURE": 0.01,  # tau: 1/100, the scale at which CLIP turns cosines into distributions
    "NUM_NOVEL": 100,  # M novel classes drawn afresh per step; -1 = the whole bank
    "DIVERGENCE": "kl",  # kl | mse
    "ROWS": "all",  # all | novel | base: which rows i enter the mean
    "NOVEL_SOURCE": "llm",  # llm | random | a path to a JSON/TXT list
    "TEMPLATE": "dataset",  # dataset | ensemble
}


def independent_prompts_node(n_ctx):
    """The keys IVLP and PromptSRC share: text and vision prompts, each to depth 9."""
    node = CN()
    node.N_CTX_VISION = n_ctx
    node.N_CTX_TEXT = n_ctx
    node.CTX_INIT = "a photo of a"
    node.PREC = "fp16"
    node.PROMPT_DEPTH_VISION = 9
    node.PROMPT_DEPTH_TEXT = 9
    return node


def extend_cfg(cfg):
    cfg.TRAINER.COOP = CN()
    cfg.TRAINER.COOP.N_CTX = 16
    cfg.TRAINER.COOP.CSC = False
    # None (not ""): yacs then accepts both a string and KgCoOp's ``CTX_INIT: True``
    cfg.TRAINER.COOP.CTX_INIT = None
    cfg.TRAINER.COOP.PREC = "fp16"
    cfg.TRAINER.COOP.CLASS_TOKEN_POSITION = "end"
    cfg.TRAINER.COOP.W = 1.0  # KgCoOp's weight of its knowledge-guided term

    cfg.TRAINER.COCOOP = CN()
    cfg.TRAINER.COCOOP.N_CTX = 16
    cfg.TRAINER.COCOOP.CTX_INIT = ""
    cfg.TRAINER.COCOOP.PREC = "fp16"

    cfg.TRAINER.MAPLE = CN()
    cfg.TRAINER.MAPLE.N_CTX = 2
    cfg.TRAINER.MAPLE.CTX_INIT = "a photo of a"
    cfg.TRAINER.MAPLE.PREC = "fp16"
    cfg.TRAINER.MAPLE.PROMPT_DEPTH = 9

    cfg.TRAINER.PROMPTSRC = independent_prompts_node(n_ctx=4)
    cfg.TRAINER.PROMPTSRC.TEXT_LOSS_WEIGHT = 25
    cfg.TRAINER.PROMPTSRC.IMAGE_LOSS_WEIGHT = 10
    cfg.TRAINER.PROMPTSRC.GPA_MEAN = 15
    cfg.TRAINER.PROMPTSRC.GPA_STD = 1

    # Nodes of the other trainers the MaPLe repository ships configs for.
    cfg.TRAINER.IVLP = independent_prompts_node(n_ctx=2)
    cfg.TRAINER.VPT = CN()
    cfg.TRAINER.VPT.N_CTX_VISION = 2
    cfg.TRAINER.VPT.CTX_INIT = "a photo of a"
    cfg.TRAINER.VPT.PREC = "fp16"
    cfg.TRAINER.VPT.PROMPT_DEPTH_VISION = 1

    cfg.TRAINER.SAR = CN(dict(SAR_DEFAULTS))

    # Ours, not upstream's: optional torch.compile of both towers (trainers/compilation.py).
    cfg.TRAINER.COMPILE = CN()
    cfg.TRAINER.COMPILE.MODE = ""  # "" = off | default | reduce-overhead | max-autotune | ...
    cfg.TRAINER.COMPILE.BACKEND = "inductor"

    # Ours: a memory-lean text tower, recomputed in backward (trainers/text_encoder.py).
    cfg.TRAINER.TEXT_CHECKPOINT = False
    # Ours: a folder of frozen test-set image features shared by runs ('' = off;
    # trainers/feature_cache.py). Both are read with get(), so upstream configs need neither.
    cfg.TEST.FEATURE_CACHE = ""

    cfg.DATASET.SUBSAMPLE_CLASSES = "all"  # all | base | new
    return cfg
