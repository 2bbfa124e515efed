"""SAR, Similarity Alignment Regularization (our reading of Jung & Lee, arXiv 2502.11969).

Prompts tuned on the base classes fit those classes and bend the similarity structure that
CLIP's text space has among the classes it was never tuned on. SAR keeps that structure: over
K = base classes + M novel class names drawn afresh each step from a bank, every class's
distribution of similarities to the other classes under the learned prompts must match the one
under the hand-crafted prompt of the frozen CLIP.

Everything frozen -- the bank's token embeddings and the hand-crafted features of base + bank --
is built once, when training starts. A step only draws M indices and runs the baseline's own
text path once over base + those M classes. SAR is a training-time regularizer: evaluation
never builds it, so evaluating a checkpoint never needs the bank.
"""

import math

import torch

from trainers.novel_bank import load_novel_bank
from trainers.progress import Progress
from trainers.prompts import PromptIds, hand_crafted_texts
from trainers.text_encoder import hand_crafted_features

DIVERGENCES = ("kl", "mse")
ROW_SETS = ("all", "novel", "base")
TEMPLATES = ("dataset", "ensemble")
SAMPLER_STREAM = 0x9E3779B1  # odd 32-bit multiplier: SAR's seeds differ from the global RNG's


def sar_loss(G, H, n_base, temperature=0.01, divergence="kl", rows="all"):
    """L_SAR between the learned features ``G`` and the hand-crafted features ``H`` of K.

    ``H`` is (n, D), the frozen teacher (no gradient flows into it); ``G`` is (n, D), or
    (B, n, D) for per-image prompts, in which case the loss is averaged over images. Both are
    L2-normalized, so their Gram matrices are cosine similarities. Classes ``0 .. n_base - 1``
    are the base classes, the rest novel; ``rows`` picks which rows i enter the mean.

    ``kl``: mean_i KL(P^h_i || P^g_i), P_i = softmax over j != i of S_ij / temperature.
    ``mse``: mean over those rows of (S^g_ij - S^h_ij)^2, j != i.

    Always computed in fp32, autocast or not: logits up to 1 / temperature = 100 are too coarse
    in half precision for a loss that compares two nearly equal distributions.
    """
    if divergence not in DIVERGENCES:
        raise ValueError(f"divergence must be one of {DIVERGENCES}, got {divergence!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    n = H.shape[0]
    if H.dim() != 2 or tuple(G.shape[-2:]) != tuple(H.shape) or G.dim() not in (2, 3):
        raise ValueError(f"G must be (n, D) or (B, n, D) with H (n, D); got {tuple(G.shape)} "
                         f"and {tuple(H.shape)}")
    selected = _row_slice(rows, n_base, n)
    with torch.autocast(device_type=G.device.type, enabled=False):
        G, H = G.float(), H.detach().float().to(G.device)
        S_g = G @ G.transpose(-1, -2)
        S_h = H @ H.t()
        diagonal = torch.eye(n, dtype=torch.bool, device=G.device)
        if divergence == "kl":
            log_p_h = _log_softmax_off_diagonal(S_h, diagonal, temperature)
            log_p_g = _log_softmax_off_diagonal(S_g, diagonal, temperature)
            per_row = (log_p_h.exp() * (log_p_h - log_p_g)).masked_fill(diagonal, 0).sum(-1)
        else:
            per_row = (S_g - S_h).pow(2).masked_fill(diagonal, 0).sum(-1) / (n - 1)
        return _never_below_zero(per_row[..., selected].mean())


def _never_below_zero(loss):
    """A divergence is >= 0, but rounding makes a KL of two equal rows about -1e-8, which the
    log prints as ``loss_sar -0.0000`` and the report as a negative KL. The value is clamped
    at 0; the gradient is left exactly as computed, so training does not change."""
    return loss + (loss.clamp_min(0) - loss).detach()


def _log_softmax_off_diagonal(S, diagonal, temperature):
    """Row-wise log-softmax of S / temperature over j != i (0 on the diagonal, never NaN)."""
    logits = (S / temperature).masked_fill(diagonal, float("-inf"))
    return torch.log_softmax(logits, dim=-1).masked_fill(diagonal, 0)


def _row_slice(rows, n_base, n):
    if n < 2:
        raise ValueError(f"SAR needs at least 2 classes to compare, got {n}")
    if not 0 < n_base <= n:
        raise ValueError(f"n_base must be in 1..{n}, got {n_base}")
    if rows == "all":
        return slice(None)
    if rows == "base":
        return slice(0, n_base)
    if rows == "novel":
        if n_base == n:
            raise ValueError("rows 'novel' needs at least one novel class")
        return slice(n_base, None)
    raise ValueError(f"rows must be one of {ROW_SETS}, got {rows!r}")


def _is_auto(value):
    return value is None or (isinstance(value, str) and value.lower() == "auto")


def resolve_temperature(value, logit_scale):
    """tau for TRAINER.SAR.TEMPERATURE: a number as given, or (None / ``auto``) 1 / the
    backbone's logit scale.

    CLIP turns cosines into class probabilities at its own learned scale (100 for OpenAI's
    checkpoints, so auto gives 0.01 there). A smaller model learns a smaller scale over a wider
    spread of cosines: 1 / 100 would make every teacher row nearly one-hot and L_SAR a hard,
    spiky nearest-neighbour match (docs/toy_world.md).
    """
    if _is_auto(value):
        return 1.0 / float(logit_scale)
    return float(value)


CLIP_MAX_SCALE = 100.0  # CLIP clamps its learned logit scale here (OpenAI's and open_clip's)


def temperature_warning(value, logit_scale):
    """One line when an auto tau follows a stored scale above CLIP's clamp, else None.

    Why: no CLIP learned its features under such a scale, and on the faithful toy CLIP with
    300 written in, tau 1/300 cost CoOp_SAR 14 new-class points against CoOp, where 0.01 cost
    none (docs/toy_world.md, "Held-out worlds"). One world, so a warning, not a new default.
    """
    if not _is_auto(value) or logit_scale <= CLIP_MAX_SCALE * (1 + 1e-4):
        return None
    return (f"SAR: warning: the checkpoint's logit scale {logit_scale:.1f} is above CLIP's "
            f"clamp of {CLIP_MAX_SCALE:g}, so TEMPERATURE auto gives tau {1 / logit_scale:.4g}; "
            "on a toy CLIP with 300 written in, that tau cost CoOp_SAR 14 new-class points "
            "where 0.01 cost none (docs/toy_world.md); set TRAINER.SAR.TEMPERATURE to choose")


def sample_novel(bank_size, num_novel, generator):
    """``num_novel`` distinct bank indices (sorted); the whole bank for -1 or more than it holds."""
    if num_novel < 0 or num_novel >= bank_size:
        return torch.arange(bank_size)
    return torch.randperm(bank_size, generator=generator)[:num_novel].sort().values


def check_sar_cfg(cfg, cfg_node):
    """Refuse a SAR knob out of range with one line naming the key."""
    sar = cfg.TRAINER.SAR
    for key, choices in (("DIVERGENCE", DIVERGENCES), ("ROWS", ROW_SETS), ("TEMPLATE", TEMPLATES)):
        if sar[key] not in choices:
            raise ValueError(f"TRAINER.SAR.{key} must be one of {', '.join(choices)}, "
                             f"got {sar[key]!r}")
    if not _is_auto(sar.TEMPERATURE) and not (
            isinstance(sar.TEMPERATURE, (int, float)) and sar.TEMPERATURE > 0):
        raise ValueError(f"TRAINER.SAR.TEMPERATURE must be > 0 or auto, got {sar.TEMPERATURE!r}")
    if not float(sar.WEIGHT) >= 0:
        raise ValueError(f"TRAINER.SAR.WEIGHT must be >= 0, got {sar.WEIGHT!r}")
    if not float(sar.GRAD_CLIP) >= 0 or 0 < float(sar.GRAD_CLIP) <= 1:
        raise ValueError(f"TRAINER.SAR.GRAD_CLIP must be 0 (off) or > 1 (a multiple of the "
                         f"running mean move), got {sar.GRAD_CLIP!r}")
    if not float(sar.ROLLBACK) >= 0 or 0 < float(sar.ROLLBACK) <= 1:
        raise ValueError(f"TRAINER.SAR.ROLLBACK must be 0 (off) or > 1 (a multiple of L_SAR's "
                         f"running mean), got {sar.ROLLBACK!r}")
    if sar.BOUND not in StepGuard.KINDS:
        raise ValueError(f"TRAINER.SAR.BOUND must be one of {', '.join(StepGuard.KINDS)}, "
                         f"got {sar.BOUND!r}")
    if isinstance(sar.NUM_NOVEL, bool) or not isinstance(sar.NUM_NOVEL, int) or sar.NUM_NOVEL < -1:
        raise ValueError(f"TRAINER.SAR.NUM_NOVEL must be an integer >= -1 (-1 = the whole bank), "
                         f"got {sar.NUM_NOVEL!r}")
    if sar.ROWS == "novel" and sar.NUM_NOVEL == 0:
        raise ValueError("TRAINER.SAR.ROWS novel needs novel classes; TRAINER.SAR.NUM_NOVEL is 0")
    if cfg.TRAINER[cfg_node].get("CSC", False):
        raise ValueError(f"TRAINER.{cfg_node}.CSC True learns a context per training class only, "
                         "so SAR's novel classes have none: set it False")


RUNNING_SHARE = 0.1  # weight of the newest value in the guards' running means (about ten)


def running_mean(mean, value):
    """The guards' running mean with ``value`` taken in (``mean`` None: the first value)."""
    return value if mean is None else (1 - RUNNING_SHARE) * mean + RUNNING_SHARE * value


class RunningBound:
    """No length above ``ratio`` times the running mean of the lengths before it."""

    def __init__(self, ratio):
        self.ratio = ratio
        self.mean = None

    def admit(self, length):
        """The length a move may keep, and the running mean updated with it (None: no move)."""
        if not math.isfinite(length) or length == 0.0:
            return None  # amp's scaler skips this step, or nothing moves: keep the mean clean
        if self.mean is not None and length > self.ratio * self.mean:
            length = self.ratio * self.mean
        self.mean = running_mean(self.mean, length)
        return length


class StepGuard:
    """TRAINER.SAR.GRAD_CLIP and BOUND, our reading (the paper has none): no move of the prompt
    parameters may be longer than GRAD_CLIP times the running mean of the moves before it.

    ``BOUND step`` (default) measures a move as learning rate x gradient norm, before the
    optimizer step, and scales the gradient down; ``BOUND update`` measures the change the step
    actually made (momentum included), after it, and shortens that change; ``BOUND both``
    applies the two, each with its own running mean. Each is blind where the other sees: a
    gradient spike enters the momentum whole under ``update`` (a move of about 2x the mean, the
    rest spread over the next steps), and the momentum a warm-up filled is not a gradient, so
    ``step`` lets it through.

    Why: the traced collapses (docs/toy_world.md, "SAR stability") each start with one move
    far longer than those before it, which throws the prompts into a corner that L_SAR at
    lambda 1 does not pull them back from: cross-entropy's gradient jumping 13-fold in one batch
    (a checkpoint whose logit scale exceeds the one it learned), and MaPLe's first full-rate
    step after its warm-up (learning rate 1e-5 -> 3.5e-3). The bound is relative to the run's
    own moves, so it needs no value per model; after a warm-up the new rate arrives over some
    tens of steps instead of one. A move within it is never touched; ``BOUND update`` shortens the
    optimizer's velocity with a move it shortens (``shorten_velocity``). The mean restarts with
    the process (a resumed run's first move is free).
    """

    KINDS = ("step", "update", "both")

    def __init__(self, ratio, kind="step"):
        if kind not in self.KINDS:
            raise ValueError(f"TRAINER.SAR.BOUND must be one of {', '.join(self.KINDS)}, "
                             f"got {kind!r}")
        self.ratio = float(ratio)
        self.kind = kind
        self.steps = RunningBound(self.ratio) if kind in ("step", "both") else None
        self.updates = RunningBound(self.ratio) if kind in ("update", "both") else None
        self.before = None  # the update bound: (param, its value before the step under way)

    @property
    def mean(self):
        """The running mean of the first bound applied (the step's, under ``both``)."""
        return (self.steps or self.updates).mean

    @torch.no_grad()
    def before_step(self, params, lr):
        """The step bound: scale the gradients in place so that lr x their norm is in bounds.
        The update bound: remember the parameters. Returns the gradient norm kept (step bound
        only)."""
        params = [p for p in params if p.grad is not None] if self.ratio else []
        if self.updates is not None:
            self.before = [(p, p.detach().clone()) for p in params]
        if self.steps is None or not params or not lr > 0:
            return None
        norm = float(torch.sqrt(sum(p.grad.float().pow(2).sum() for p in params)))
        kept = self.steps.admit(lr * norm)
        if kept is None:
            return norm if not math.isfinite(norm) else None
        if kept < lr * norm:
            torch.nn.utils.clip_grad_norm_(params, kept / lr)
        return kept / lr

    @torch.no_grad()
    def after_step(self, optimizers=()):
        """BOUND update: shorten the change the step made to its bound, keeping its direction,
        and the optimizers' velocity by the same factor (see ``VELOCITY_STATE``). Returns the
        change's length as kept (None for BOUND step, when off or nothing moved)."""
        before, self.before = self.before, None
        if not before:
            return None
        deltas = [p.detach() - old for p, old in before]
        length = float(torch.sqrt(sum(d.float().pow(2).sum() for d in deltas)))
        kept = self.updates.admit(length)
        if kept is not None and kept < length:
            factor = kept / length
            for (p, old), delta in zip(before, deltas):
                p.copy_(old + delta * factor)
            shorten_velocity([p for p, _ in before], optimizers, factor)
        return kept


VELOCITY_STATE = ("momentum_buffer", "exp_avg")  # SGD's velocity; Adam's and AdamW's first moment


def shorten_velocity(params, optimizers, factor):
    """Scale the optimizers' running direction of ``params`` by ``factor``.

    Why: a shortened move with its velocity left whole is shortened again at every later step,
    while the velocity keeps pushing the same way. MaPLe_SAR on stress100 showed it: warm-up
    gradients of 400-500 fill SGD's momentum, and once the full rate arrives the bound holds the
    first moves but the stale velocity wins later in the epoch (docs/toy_world.md). Scaling it
    keeps the optimizer's state the one that would have produced the move actually taken."""
    wanted = {id(p) for p in params}
    for optimizer in optimizers:
        for param, state in optimizer.state.items():
            if id(param) not in wanted:
                continue
            for key in VELOCITY_STATE:
                if torch.is_tensor(state.get(key)):
                    state[key].mul_(factor)


class LossJump:
    """TRAINER.SAR.ROLLBACK, our reading (the paper has none): has L_SAR jumped past ``ratio``
    times its running mean, and past ``FLOOR`` nats?

    Why: MaPLe_SAR on stress100 (seed 1) fell off a cliff on a move every step bound admitted:
    L_SAR 0.027 -> 24 in one step, then a flat plateau neither term leads out of
    (docs/toy_world.md). Where the bound cannot see the cliff coming, SAR can still see that it
    was crossed: the step that follows such a jump puts the prompts back where they were before
    the last update, zeroes the optimizer's velocity and makes no move of its own. The floor
    keeps a run whose L_SAR starts near 0 (CoOp from the hand-crafted prompt) from tripping on
    its first moves. L_SAR is read in ``before_step``, after the step's log values have
    synced, so it adds no host sync of its own.
    """

    FLOOR = 1.0  # nats: a jump must reach this too

    def __init__(self, ratio):
        self.ratio = ratio
        self.mean = None
        self.jumped = False
        self.latest = None  # this step's L_SAR, a detached tensor read in before_step
        self.snapshot = None  # [(param, its value before the last update)]

    def see(self, value):
        """Record this step's L_SAR; a jump is not taken into the mean."""
        self.jumped = bool(self.ratio and self.mean is not None and self.snapshot
                           and value > max(self.ratio * self.mean, self.FLOOR))
        if not self.jumped and math.isfinite(value):
            self.mean = running_mean(self.mean, value)

    @torch.no_grad()
    def before_step(self, params, optimizers):
        """After a jump: restore the snapshot, zero the gradients and the velocity (returns
        True). Otherwise: take the snapshot this step's update starts from."""
        if not self.ratio:
            return False
        if self.latest is not None:
            self.see(float(self.latest))
            self.latest = None
        if not self.jumped:
            self._take_snapshot(params)
            return False
        for param, old in self.snapshot:
            param.copy_(old)
            if param.grad is not None:
                param.grad.zero_()
        shorten_velocity([p for p, _ in self.snapshot], optimizers, 0.0)
        return True

    def _take_snapshot(self, params):
        """The prompts before this step's update. It runs every step, so the last snapshot's
        buffers are written over in place when the parameters are the same ones."""
        same = (self.snapshot is not None and len(self.snapshot) == len(params)
                and all(p is q for (p, _), q in zip(self.snapshot, params)))
        if same:
            for param, old in self.snapshot:
                old.copy_(param.detach())
        else:
            self.snapshot = [(p, p.detach().clone()) for p in params]


def trace_line(epoch, batch, terms, params):
    """TRAINER.SAR.TRACE: one line per step with each term, the gradient norm it alone sends
    into the prompt parameters, and their norm: how a collapse is read (docs/toy_world.md).
    It costs one extra backward pass per term, so it is off by default."""
    params = [p for p in params if p.requires_grad]
    fields = [f"SAR trace: epoch {epoch + 1} batch {batch + 1}"]
    for name, term in terms.items():
        grads = torch.autograd.grad(term, params, retain_graph=True, allow_unused=True)
        norm = math.sqrt(sum(float(g.float().pow(2).sum()) for g in grads if g is not None))
        fields.append(f"{name} {term.item():.4g} grad {norm:.4g}")
    prompt_norm = math.sqrt(sum(float(p.detach().float().pow(2).sum()) for p in params))
    return " | ".join(fields + [f"prompt norm {prompt_norm:.4g}"])


class SARRegularizer:
    """The frozen side of SAR for one run: teacher features of base + bank, sampler and knobs.

    ``features`` rows are the base classes (in label order) followed by the bank. The sampler's
    generator is its own, seeded from ``cfg.SEED`` and the epoch: runs are reproducible, resumed
    runs included, and SAR draws nothing from the global RNG, so a SAR run sees the same batches
    and augmentations as its baseline.
    """

    def __init__(self, features, n_base, sar_cfg, seed, logit_scale=100.0):
        self.features = features
        self.n_base = n_base
        self.bank_size = features.shape[0] - n_base
        self.num_novel = int(sar_cfg.NUM_NOVEL)
        self.weight = float(sar_cfg.WEIGHT)
        self.temperature = resolve_temperature(sar_cfg.TEMPERATURE, logit_scale)
        self.divergence = sar_cfg.DIVERGENCE
        self.rows = sar_cfg.ROWS
        self.guard = StepGuard(sar_cfg.GRAD_CLIP, sar_cfg.BOUND)
        self.trace = bool(sar_cfg.TRACE)
        self.rollback = LossJump(float(sar_cfg.ROLLBACK))
        self.seed = seed
        self.generator = torch.Generator()
        self.start_epoch(0)

    def start_epoch(self, epoch):
        """Re-seed from (seed, epoch), as the baseline does: a resumed run draws the same N_t.

        The baseline seeds the global RNG with SEED * 1000 + epoch; the odd multiplier keeps this
        stream from being that same one (torch keeps only the low 32 bits of a seed).
        """
        self.generator.manual_seed((self.seed * 1000 + epoch) * SAMPLER_STREAM % 2**32)

    def sample(self):
        """Bank indices of this step's novel classes N_t."""
        return sample_novel(self.bank_size, self.num_novel, self.generator)

    def teacher(self, index):
        """H: hand-crafted features of the base classes followed by the sampled novel ones."""
        novel = self.features[self.n_base:].index_select(0, index.to(self.features.device))
        return torch.cat([self.features[: self.n_base], novel])

    def loss(self, text_features, index):
        """lambda * L_SAR for the learned features of base + ``index`` (one text pass)."""
        return self.weight * sar_loss(text_features, self.teacher(index), self.n_base,
                                      self.temperature, self.divergence, self.rows)


class SARMixin:
    """Adds ``loss_sar`` = lambda * L_SAR to any PromptTrainer: ``class X_SAR(SARMixin, X)``.

    Checkpoints keep the baseline's layout: the bank's tokens are non-persistent buffers and the
    teacher features live on the trainer, so a SAR checkpoint loads into the baseline and back.
    """

    sar = None
    sar_bank = None  # the bank's PromptIds
    extra_cfg_nodes = ("SAR",)  # read by trainers.config.trainer_nodes

    def check_cfg(self, cfg):
        super().check_cfg(cfg)
        check_sar_cfg(cfg, self.cfg_node)

    def before_train(self):
        self.build_sar()
        super().before_train()

    def before_epoch(self):
        super().before_epoch()
        self.sar.start_epoch(self.epoch)

    @torch.no_grad()
    def build_sar(self):
        """Load the bank, embed its prompts and compute the frozen teacher once."""
        cfg, dataset = self.cfg, self.dm.dataset
        sar_cfg = cfg.TRAINER.SAR
        base = list(dataset.classnames)
        all_classnames = getattr(dataset, "all_classnames", None)
        if all_classnames is None:
            print(f"Warning: {type(dataset).__name__} has no all_classnames; the SAR leak guard "
                  "only sees the classes of this split, not the held-out ones")
            all_classnames = base
        bank = load_novel_bank(sar_cfg.NOVEL_SOURCE, cfg.DATASET.NAME, all_classnames,
                               seed=max(cfg.SEED, 0), logger=print)
        model = self.model
        learner = getattr(model, self.learnable_module)
        # the learner's own prompt text: MaPLe's keeps words after the context ("of a {}."),
        # ATPrompt's puts its attribute blocks before it. Token ids only: a step embeds the
        # names it draws (memory O(bank), not O(bank x 77 x D))
        self.sar_bank = PromptIds.build(bank, *learner.prompt_layout(),
                                        Progress("SAR bank: tokenizing prompts", 2 * len(bank)))
        table = self.hand_crafted_table(cfg)  # the method's own: KgCoOp's for KgCoOp_SAR
        texts = hand_crafted_texts(base + bank, cfg.DATASET.NAME, sar_cfg.TEMPLATE, table)
        template = sar_cfg.TEMPLATE + (f" ({table} table)" if sar_cfg.TEMPLATE == "dataset" else "")
        count = sum(map(len, texts))
        progress = (Progress("SAR bank: tokenizing hand-crafted prompts", count),
                    Progress("SAR bank: embedding hand-crafted prompts", count))
        features = hand_crafted_features(model.text_encoder, texts, progress=progress)
        features = features.to(self.device)
        seed = cfg.SEED if cfg.SEED >= 0 else torch.Generator().seed()
        logit_scale = model.logit_scale.exp().item()
        self.sar = SARRegularizer(features, len(base), sar_cfg, seed, logit_scale=logit_scale)
        per_step = "all" if sar_cfg.NUM_NOVEL < 0 else min(sar_cfg.NUM_NOVEL, len(bank))
        print(f"SAR: bank of {len(bank)} novel classes (NOVEL_SOURCE {sar_cfg.NOVEL_SOURCE}), "
              f"M = {per_step} per step (NUM_NOVEL {sar_cfg.NUM_NOVEL}, sampler seed {seed}), "
              f"lambda = {self.sar.weight}, tau = {self.sar.temperature:.4g} "
              f"(TEMPERATURE {sar_cfg.TEMPERATURE}; logit scale {logit_scale:.1f}), "
              f"divergence {self.sar.divergence}, rows {self.sar.rows}, "
              f"{self.sar.guard.kind} bound {self.sar.guard.ratio:g}x running mean "
              f"(GRAD_CLIP; 0 = off), rollback {self.sar.rollback.ratio:g}x (ROLLBACK; 0 = off), "
              f"template {template}, {len(base)} base classes")
        warning = temperature_warning(sar_cfg.TEMPERATURE, logit_scale)
        if warning:
            print(warning)

    def before_update(self):
        """Undo the last update if L_SAR has jumped (LossJump), then bound the step or remember
        the prompts to bound the update (StepGuard), once the gradients are in place (unscaled
        under amp)."""
        super().before_update()
        params = list(getattr(self.model, self.learnable_module).parameters())
        if self.sar.rollback.before_step(params, self._optims.values()):
            print(f"SAR rollback: epoch {self.epoch + 1} batch {self.batch_idx + 1}, L_SAR jumped "
                  f"past {self.sar.rollback.ratio:g}x its running mean; the last update undone")
        self.sar.guard.before_step(params, lr=self.get_current_lr())

    def after_update(self):
        """BOUND update: shorten the change the optimizer step made, and its velocity
        (StepGuard)."""
        super().after_update()
        self.sar.guard.after_step(self._optims.values())

    def compute_loss(self, image, label, extra_classes=None):
        if extra_classes is not None:
            raise TypeError("SARMixin supplies extra_classes itself; list it first among the bases")
        if self.sar is None:
            raise RuntimeError("SAR is not built: train() builds it (or call build_sar())")
        index = self.sar.sample()
        text_encoder = self.model.text_encoder
        learner = getattr(self.model, self.learnable_module)
        novel = (learner.with_lead(self.sar_bank.embedded(text_encoder, index))
                 if len(index) else None)
        terms, output = super().compute_loss(image, label, extra_classes=novel)
        terms["loss_sar"] = self.sar.loss(output.text_features, index)
        if self.sar.rollback.ratio:
            self.sar.rollback.latest = terms["loss_sar"].detach()
        if self.sar.trace:
            print(trace_line(self.epoch, self.batch_idx, terms, learner.parameters()))
        return terms, output
