"""Trainer-specific config nodes (upstream's ``extend_cfg``), in one place for every trainer.

All nodes are added whatever the trainer, as in the upstream forks, so any fork's YAML merges.
"""

from ast import literal_eval

from yacs.config import CfgNode as CN

# SAR defaults, justified in the README ("SAR knobs").
SAR_DEFAULTS = {
    "WEIGHT": 1.0,  # lambda: L_SAR is a KL between row distributions, on the scale of CE
    # tau: None or "auto" = 1 / the backbone's own logit scale (0.01 for OpenAI's CLIP), or a float
    "TEMPERATURE": None,
    "NUM_NOVEL": 100,  # M novel classes drawn afresh per step; -1 = the whole bank
    "DIVERGENCE": "kl",  # kl | mse
    "ROWS": "all",  # all | novel | base: which rows i enter the mean
    "NOVEL_SOURCE": "llm",  # llm | random | a path to a JSON/TXT list
    "TEMPLATE": "dataset",  # dataset | ensemble
    # our reading: bound each step (lr x grad norm) to this multiple of its running mean; 0 = off
    "GRAD_CLIP": 3.0,
    "BOUND": "step",  # our reading: step = lr x grad norm | update = the change made | both
    "ROLLBACK": 10.0,  # our reading: undo the last update when L_SAR jumps past this x its mean
    "TRACE": False,  # log each step's terms, the gradient norm each sends, and the prompt norm
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
    # Ours: the hand-crafted template table, "" = the trainer's own (coop | kgcoop)
    cfg.TRAINER.COOP.TEMPLATES = ""

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

    # ATPrompt (upstream zhengli97/ATPrompt's keys; trainers/atprompt.py, README "ATPrompt").
    cfg.TRAINER.ATPROMPT = CN()
    cfg.TRAINER.ATPROMPT.USE_ATPROMPT = True  # upstream's default is False; only *_ATP read it
    cfg.TRAINER.ATPROMPT.ATT_NUM = 0  # 0 = as many words as the dataset's default table has
    for k in (1, 2, 3):
        cfg.TRAINER.ATPROMPT[f"N_ATT{k}"] = 4  # learnable tokens before attribute word k
        cfg.TRAINER.ATPROMPT[f"ATT{k}_TEXT"] = "none"  # "none" = the dataset's default word
    # Ours: False = random context, as upstream's *_atp.py force; True keeps CTX_INIT
    cfg.TRAINER.ATPROMPT.KEEP_CTX_INIT = False

    # Ours, not upstream's: optional torch.compile of both towers (trainers/compilation.py).
    cfg.TRAINER.COMPILE = CN()
    cfg.TRAINER.COMPILE.MODE = ""  # "" = off | default | reduce-overhead | max-autotune | ...
    cfg.TRAINER.COMPILE.BACKEND = "inductor"

    # Ours: a memory-lean text tower, recomputed in backward (trainers/text_encoder.py).
    cfg.TRAINER.TEXT_CHECKPOINT = False
    # Ours: the prompt positions all classes share run once per step, class suffixes grouped
    # by length (trainers/shared_prefix.py); exact, so on by default. False: per-class path.
    cfg.TRAINER.SHARED_PREFIX = True
    # Ours: a folder of frozen test-set image features shared by runs ('' = off;
    # trainers/feature_cache.py). Both are read with get(), so upstream configs need neither.
    cfg.TEST.FEATURE_CACHE = ""

    # Ours: re-seed every epoch from (SEED, epoch) so a resumed run is exact; False draws as
    # upstream does (one seed for the whole run). Read with get(), like the two above.
    cfg.TRAIN.RESEED_EACH_EPOCH = True

    # Ours: the activation of a checkpoint given as a bare path (None: QuickGELU, said in the
    # log); Dassl's MODEL.BACKBONE.PRETRAINED stays its bool (trainers/open_clip_backbones.py).
    cfg.MODEL.BACKBONE.QUICK_GELU = None

    cfg.DATASET.SUBSAMPLE_CLASSES = "all"  # all | base | new
    # Ours: CLIP without its normalization is refused unless this says it is wanted.
    cfg.INPUT.ALLOW_UNNORMALIZED = False
    return cfg


def coerce_int_opts(cfg, opts):
    """``opts`` with an integer written for a float key turned into a float (``2`` -> ``2.0``).

    yacs refuses ``TRAINER.SAR.WEIGHT 2`` with a raw type mismatch, although nobody means
    anything but 2.0; every other type check of yacs is kept as it is.
    """
    out = list(opts)
    for i in range(0, len(out) - 1, 2):
        node, *path = out[i].split(".")
        current = cfg.get(node)
        for part in path:
            current = current.get(part) if isinstance(current, dict) else None
        if not isinstance(current, float) or not isinstance(out[i + 1], str):
            continue
        try:
            value = literal_eval(out[i + 1])
        except (ValueError, SyntaxError):
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            out[i + 1] = repr(float(value))
    return out


def trainer_nodes(trainer_class):
    """The ``TRAINER.<NODE>`` sections a trainer reads: its method node (``cfg_node``), the
    ones its mixins add (``extra_cfg_nodes``, e.g. SAR) and the shared COMPILE node."""
    nodes = {"NAME", "COMPILE", getattr(trainer_class, "cfg_node", "COOP")}
    for klass in trainer_class.__mro__:
        nodes.update(vars(klass).get("extra_cfg_nodes", ()))
    return nodes


def unread_trainer_nodes(config_file, trainer_class):
    """The ``TRAINER.<NODE>`` sections ``config_file`` sets that the trainer never reads: a
    MaPLe YAML given to ``--trainer CoOp`` would otherwise train CoOp on CoOp's defaults."""
    import yaml

    from trainers.yaml_config import load_yaml

    try:
        data = load_yaml(config_file)
    except (OSError, ValueError, yaml.YAMLError):
        return []  # the merge reports an unreadable file
    trainer = data.get("TRAINER") if isinstance(data, dict) else None
    if not isinstance(trainer, dict):
        return []
    return sorted(set(trainer) - trainer_nodes(trainer_class))


def unread_opt_keys(opts, trainer_class):
    """The ``TRAINER.<NODE>.<KEY>`` opts of a command line whose node the trainer never reads:
    ``--trainer CoOp ... TRAINER.SAR.WEIGHT 2.0`` would otherwise train plain CoOp in silence."""
    read = trainer_nodes(trainer_class)
    keys = [str(key) for key in list(opts or [])[0::2]]
    return [key for key in keys
            if key.count(".") >= 2 and key.startswith("TRAINER.") and key.split(".")[1] not in read]


def all_keys(cfg, prefix=""):
    """Every leaf key of a config, dotted (``OPTIM.LR``): what a KEY VALUE opt may name."""
    for key, value in cfg.items():
        full = f"{prefix}{key}"
        if hasattr(value, "items"):
            yield from all_keys(value, full + ".")
        else:
            yield full
