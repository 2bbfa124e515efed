"""L_SAR as a pure function, the novel-class sampler and the knob checks (no model needed)."""

import math

import pytest
import torch

from dassl.config import get_cfg_default
from trainers.config import SAR_DEFAULTS, extend_cfg
from trainers.sar import LossJump, SARRegularizer, StepGuard, check_sar_cfg, sample_novel, sar_loss


def unit_rows(n, d, seed):
    x = torch.randn(n, d, generator=torch.Generator().manual_seed(seed))
    return x / x.norm(dim=-1, keepdim=True)


# ---- a 3-class example small enough to do by hand --------------------------------------------
# H: h1 = e1, h2 = e2, h3 = 0.6 e2 + 0.8 e3  ->  S^h: s12 = 0, s13 = 0, s23 = 0.6
# G: g1 = e1, g2 = e2, g3 = 0.6 e1 + 0.8 e3  ->  S^g: s12 = 0, s13 = 0.6, s23 = 0
H3 = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.6, 0.8]])
G3 = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.6, 0.0, 0.8]])
TAU = 0.5


def softmax2(a, b):
    """Softmax of two logits, written out."""
    return math.exp(a) / (math.exp(a) + math.exp(b)), math.exp(b) / (math.exp(a) + math.exp(b))


def kl2(p, q):
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))


def hand_kl_rows():
    """KL(P^h_i || P^g_i) of each row, the diagonal left out (two entries per row)."""
    c = 0.6 / TAU
    row1 = kl2(softmax2(0, 0), softmax2(0, c))  # j = 2, 3: h (0, 0), g (0, 0.6)
    row2 = kl2(softmax2(0, c), softmax2(0, 0))  # j = 1, 3: h (0, 0.6), g (0, 0)
    row3 = kl2(softmax2(0, c), softmax2(c, 0))  # j = 1, 2: h (0, 0.6), g (0.6, 0)
    return row1, row2, row3


def test_hand_computed_kl_on_three_classes():
    row1, row2, row3 = hand_kl_rows()
    # on paper, with q = 1 / (1 + e^1.2) = 0.2315: row 1 = 0.5 ln(0.5 / q) + 0.5 ln(0.5 / (1 - q)),
    # row 2 = q ln(2q) + (1 - q) ln(2 (1 - q)), row 3 = (1 - 2q) * 1.2
    assert (row1, row2, row3) == pytest.approx((0.1701, 0.1520, 0.6444), abs=1e-4)
    expected = (row1 + row2 + row3) / 3
    loss = sar_loss(G3, H3, n_base=2, temperature=TAU, divergence="kl")
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_hand_computed_mse_on_three_classes():
    # off-diagonal differences: (1,3) and (3,1) are 0.6 - 0, (2,3) and (3,2) are 0 - 0.6
    expected = 4 * 0.6**2 / 6
    loss = sar_loss(G3, H3, n_base=2, divergence="mse")
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(0.24)


def test_rows_select_the_rows_they_name():
    row1, row2, row3 = hand_kl_rows()
    loss = {rows: sar_loss(G3, H3, 2, TAU, "kl", rows).item() for rows in ("all", "base", "novel")}
    assert loss["base"] == pytest.approx((row1 + row2) / 2, rel=1e-6)
    assert loss["novel"] == pytest.approx(row3, rel=1e-6)
    assert loss["all"] == pytest.approx((row1 + row2 + row3) / 3, rel=1e-6)
    mse = {rows: sar_loss(G3, H3, 1, TAU, "mse", rows).item() for rows in ("base", "novel")}
    assert mse["base"] == pytest.approx(0.6**2 / 2, rel=1e-6)  # row 1: (1,3) differs
    assert mse["novel"] == pytest.approx((0.6**2 / 2 + 2 * 0.6**2 / 2) / 2, rel=1e-6)


@pytest.mark.parametrize("divergence", ["kl", "mse"])
@pytest.mark.parametrize("rows", ["all", "base", "novel"])
def test_zero_when_learned_equals_hand_crafted_and_positive_otherwise(divergence, rows):
    H = unit_rows(12, 16, seed=0)
    assert sar_loss(H.clone(), H, 5, 0.01, divergence, rows).item() == 0
    batched = H.unsqueeze(0).repeat(3, 1, 1)
    assert sar_loss(batched, H, 5, 0.01, divergence, rows).item() == 0
    G = unit_rows(12, 16, seed=1)
    assert sar_loss(G, H, 5, 0.01, divergence, rows).item() > 0


def test_per_image_features_average_over_images():
    H = unit_rows(6, 8, seed=0)
    G = torch.stack([unit_rows(6, 8, seed=s) for s in (1, 2, 3)])
    for divergence in ("kl", "mse"):
        per_image = [sar_loss(g, H, 4, 0.1, divergence).item() for g in G]
        assert sar_loss(G, H, 4, 0.1, divergence).item() == pytest.approx(
            sum(per_image) / 3, rel=1e-6)


def test_no_gradient_into_the_teacher_and_finite_gradient_into_g():
    H = unit_rows(8, 8, seed=0).requires_grad_(True)
    G = unit_rows(8, 8, seed=1).requires_grad_(True)
    for divergence in ("kl", "mse"):
        sar_loss(G, H, 4, 0.01, divergence).backward()
        assert H.grad is None
        assert torch.isfinite(G.grad).all() and G.grad.abs().sum() > 0
        G.grad = None


def test_computed_in_fp32_under_autocast_and_half_inputs():
    H = unit_rows(10, 16, seed=0)
    G = unit_rows(10, 16, seed=1)
    reference = sar_loss(G, H, 5, 0.01)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = sar_loss(G, H, 5, 0.01)
    assert under_autocast.dtype == torch.float32
    assert under_autocast.item() == pytest.approx(reference.item(), rel=1e-6)
    assert sar_loss(G.half(), H.half(), 5, 0.01).dtype == torch.float32


def test_bad_arguments_are_refused():
    H = unit_rows(4, 4, seed=0)
    with pytest.raises(ValueError, match="divergence"):
        sar_loss(H, H, 2, divergence="js")
    with pytest.raises(ValueError, match="rows"):
        sar_loss(H, H, 2, rows="some")
    with pytest.raises(ValueError, match="temperature"):
        sar_loss(H, H, 2, temperature=0)
    with pytest.raises(ValueError, match="novel class"):
        sar_loss(H, H, 4, rows="novel")
    with pytest.raises(ValueError, match=r"\(n, D\)"):
        sar_loss(H[:3], H, 2)


# ---- sampling ----------------------------------------------------------------------------------


def test_num_novel_draws_that_many_distinct_indices():
    generator = torch.Generator().manual_seed(0)
    index = sample_novel(50, 7, generator)
    assert len(index) == 7 and len(set(index.tolist())) == 7
    assert 0 <= index.min() and index.max() < 50
    assert sample_novel(50, -1, generator).tolist() == list(range(50))
    assert sample_novel(50, 80, generator).tolist() == list(range(50))
    assert len(sample_novel(50, 0, generator)) == 0


def make_regularizer(seed, num_novel=3, **knobs):
    cfg = extend_cfg(get_cfg_default()).TRAINER.SAR
    cfg.NUM_NOVEL = num_novel
    cfg.update(knobs)
    return SARRegularizer(unit_rows(2 + 20, 8, seed=0), n_base=2, sar_cfg=cfg, seed=seed)


def test_sampling_is_fresh_each_step_and_reproducible_from_the_seed():
    first, again, other = (make_regularizer(s) for s in (1, 1, 2))
    steps = [first.sample().tolist() for _ in range(5)]
    assert steps == [again.sample().tolist() for _ in range(5)]
    assert len({tuple(s) for s in steps}) > 1
    assert steps != [other.sample().tolist() for _ in range(5)]


def test_teacher_rows_are_base_then_the_sampled_bank_rows():
    sar = make_regularizer(0)
    index = torch.tensor([4, 0, 19])
    assert torch.equal(sar.teacher(index), sar.features[[0, 1, 6, 2, 21]])


def test_regularizer_weights_the_loss_with_its_knobs():
    sar = make_regularizer(0, WEIGHT=2.5, TEMPERATURE=0.2, DIVERGENCE="kl", ROWS="novel")
    index = sar.sample()
    G = unit_rows(2 + len(index), 8, seed=5)
    expected = 2.5 * sar_loss(G, sar.teacher(index), 2, 0.2, "kl", "novel")
    assert sar.loss(G, index).item() == pytest.approx(expected.item(), rel=1e-6)


# ---- knob checks -------------------------------------------------------------------------------


@pytest.mark.parametrize("key,value,pattern", [
    ("DIVERGENCE", "js", "TRAINER.SAR.DIVERGENCE must be one of kl, mse"),
    ("ROWS", "some", "TRAINER.SAR.ROWS must be one of all, novel, base"),
    ("TEMPLATE", "mine", "TRAINER.SAR.TEMPLATE must be one of dataset, ensemble"),
    ("TEMPERATURE", 0.0, "TRAINER.SAR.TEMPERATURE must be > 0"),
    ("TEMPERATURE", "hot", "TRAINER.SAR.TEMPERATURE must be > 0 or auto"),
    ("WEIGHT", -1.0, "TRAINER.SAR.WEIGHT must be >= 0"),
    ("NUM_NOVEL", -2, "TRAINER.SAR.NUM_NOVEL must be an integer >= -1"),
    ("GRAD_CLIP", -1.0, "TRAINER.SAR.GRAD_CLIP must be 0"),
    ("GRAD_CLIP", 0.5, "TRAINER.SAR.GRAD_CLIP must be 0"),
    ("BOUND", "gradient", "TRAINER.SAR.BOUND must be one of step, update, both"),
    ("ROLLBACK", 0.5, "TRAINER.SAR.ROLLBACK must be 0"),
    ("ROLLBACK", -2.0, "TRAINER.SAR.ROLLBACK must be 0"),
])
def test_bad_knobs_are_one_line_errors_naming_the_key(key, value, pattern):
    cfg = extend_cfg(get_cfg_default())
    cfg.TRAINER.SAR[key] = value
    with pytest.raises(ValueError, match=pattern.replace(".", r"\.")) as error:
        check_sar_cfg(cfg, "COOP")
    assert "\n" not in str(error.value)


def test_class_specific_context_is_refused():
    cfg = extend_cfg(get_cfg_default())
    cfg.TRAINER.COOP.CSC = True
    with pytest.raises(ValueError, match=r"TRAINER\.COOP\.CSC"):
        check_sar_cfg(cfg, "COOP")
    check_sar_cfg(cfg, "COCOOP")  # another node's CSC is not this trainer's business


def test_an_epoch_draws_the_same_classes_whatever_came_before_it():
    fresh, resumed = make_regularizer(1), make_regularizer(1)
    for _ in range(7):
        resumed.sample()
    fresh.start_epoch(3)
    resumed.start_epoch(3)
    draws = [fresh.sample().tolist() for _ in range(4)]
    assert draws == [resumed.sample().tolist() for _ in range(4)]
    torch.manual_seed(1 * 1000 + 3)  # what the baseline seeds the global RNG with at epoch 3
    assert draws != [torch.randperm(20)[:3].sort().values.tolist() for _ in range(4)]


def test_auto_temperature_is_one_over_the_backbones_logit_scale():
    from trainers.sar import resolve_temperature

    assert resolve_temperature(None, 100.0) == pytest.approx(0.01)  # OpenAI's CLIP: as before
    assert resolve_temperature("auto", 19.35) == pytest.approx(1 / 19.35)
    assert resolve_temperature(0.05, 19.35) == 0.05


def test_an_auto_tau_past_clips_clamp_on_the_scale_is_named_in_one_line():
    from trainers.sar import temperature_warning

    assert temperature_warning(None, 100.00001) is None  # OpenAI's ln(100), stored in float32
    assert temperature_warning("auto", 29.9) is None
    assert temperature_warning(0.01, 300.0) is None  # a tau the user chose
    line = temperature_warning("auto", 300.0)
    assert "\n" not in line and "300.0" in line and "0.003333" in line
    assert "TRAINER.SAR.TEMPERATURE" in line
    sar = make_regularizer(0, TEMPERATURE=None)
    assert sar.temperature == pytest.approx(0.01)


def test_rounding_never_shows_a_negative_kl_and_leaves_the_gradient_alone():
    """Two equal rows give a KL of about -1e-8 in float32 (seed 1 below, on the old code),
    which the log printed as ``loss_sar -0.0000``: the value is clamped, the gradient is not."""
    H = unit_rows(8, 16, seed=1)
    G = torch.nn.functional.normalize(H * 3.0 + 1e-7, dim=-1).requires_grad_(True)
    loss = sar_loss(G, H, n_base=4, temperature=0.05)
    assert loss.item() >= 0.0 and f"{loss.item():.4f}" == "0.0000"
    loss.backward()
    clamped_grad, G.grad = G.grad.clone(), None
    S_h, S_g = H @ H.t(), G @ G.t()  # the same rows, written out without the clamp
    eye = torch.eye(8, dtype=torch.bool)
    log_h = torch.log_softmax((S_h / 0.05).masked_fill(eye, -math.inf), -1).masked_fill(eye, 0)
    log_g = torch.log_softmax((S_g / 0.05).masked_fill(eye, -math.inf), -1).masked_fill(eye, 0)
    raw = (log_h.exp() * (log_h - log_g)).masked_fill(eye, 0).sum(-1).mean()
    assert raw.item() < 0  # the rounding this guards against
    raw.backward()
    assert torch.equal(G.grad, clamped_grad)


# ---- the step guard (TRAINER.SAR.GRAD_CLIP and BOUND, our reading) ----------------------------


def param_with_grad(*values):
    param = torch.nn.Parameter(torch.zeros(len(values)))
    param.grad = torch.tensor(values, dtype=torch.float32)
    return param


def guard_steps(guard, norms):
    """Run ``guard`` over steps whose gradient is (norm, 0): the gradient each step keeps."""
    kept = []
    for norm in norms:
        param = param_with_grad(norm, 0.0)
        guard.before_step([param], lr=1.0)
        kept.append(param.grad.clone())
    return kept


def test_guard_is_on_by_default_at_three_times_the_running_mean():
    assert SAR_DEFAULTS["GRAD_CLIP"] == 3.0 and SAR_DEFAULTS["BOUND"] == "step"
    assert make_regularizer(0).guard.ratio == 3.0 and make_regularizer(0).guard.kind == "step"


def test_a_spike_is_cut_to_its_bound_and_keeps_its_direction():
    guard = StepGuard(3.0)
    guard_steps(guard, [1.0] * 4)  # running mean 1
    spike = param_with_grad(60.0, 80.0)  # norm 100, 100x the mean (the traced jump was 13x)
    assert guard.before_step([spike], lr=1.0) == pytest.approx(3.0)
    assert spike.grad.norm().item() == pytest.approx(3.0, rel=1e-5)
    assert spike.grad.tolist() == pytest.approx([1.8, 2.4], rel=1e-5)
    assert guard.mean == pytest.approx(0.9 * 1.0 + 0.1 * 3.0)  # the cut norm enters the mean


def test_ordinary_steps_and_a_slow_rise_are_left_alone():
    norms = [1.0, 2.0, 0.5, 2.9, 3.5, 4.0]  # each within 3x the running mean before it
    kept = guard_steps(StepGuard(3.0), norms)
    assert [k[0].item() for k in kept] == pytest.approx(norms)


def test_the_bound_is_on_the_step_so_a_learning_rate_jump_is_ramped():
    """After a warm-up epoch at 1e-5, an ordinary gradient at 3.5e-3 (MaPLe's) is a step 350
    times longer than any before it: the guard cuts it to 3x, then lets the rate in over steps."""
    guard = StepGuard(3.0)
    for _ in range(20):
        guard.before_step([param_with_grad(30.0, 40.0)], lr=1e-5)  # norm 50: steps of 5e-4
    assert guard.mean == pytest.approx(5e-4)
    first = param_with_grad(30.0, 40.0)
    assert guard.before_step([first], lr=3.5e-3) == pytest.approx(3 * 5e-4 / 3.5e-3)
    assert first.grad.norm().item() * 3.5e-3 == pytest.approx(1.5e-3, rel=1e-5)
    kept = []
    for _ in range(40):
        param = param_with_grad(30.0, 40.0)
        guard.before_step([param], lr=3.5e-3)
        kept.append(param.grad.norm().item())
    assert kept == sorted(kept) and kept[10] < 50.0 and kept[-1] == pytest.approx(50.0)
    # the same gradients at a steady rate are never cut, whatever the rate
    steady = StepGuard(3.0)
    assert [steady.before_step([param_with_grad(30.0, 40.0)], lr=3.5e-3)
            for _ in range(5)] == pytest.approx([50.0] * 5)


def test_off_is_the_plain_sum_and_a_first_step_is_never_cut():
    assert [k[0].item() for k in guard_steps(StepGuard(0), [1.0, 500.0])] == [1.0, 500.0]
    assert guard_steps(StepGuard(3.0), [500.0])[0][0].item() == 500.0
    no_gradient = torch.nn.Parameter(torch.zeros(2))
    assert StepGuard(3.0).before_step([no_gradient], lr=1.0) is None  # no gradient yet
    assert StepGuard(3.0).before_step([param_with_grad(1.0)], lr=0.0) is None  # no optimizer


def test_a_non_finite_step_passes_through_and_leaves_the_mean_alone():
    guard = StepGuard(3.0)
    guard_steps(guard, [2.0])
    bad = param_with_grad(float("inf"), 0.0)
    assert guard.before_step([bad], lr=1.0) == float("inf")  # amp's scaler skips that step itself
    assert guard.mean == 2.0 and bad.grad[0].item() == float("inf")


def sgd_run(guard, param, steps, velocity=True):
    """SGD with momentum 0.9 over ``steps`` (lr, gradient) pairs, ``guard`` around each step as
    the SAR mixin puts it (``velocity``: handing it the optimizer); returns each update's
    length."""
    optimizer = torch.optim.SGD([param], lr=1.0, momentum=0.9)
    lengths = []
    for lr, gradient in steps:
        guard.mean_before_last = guard.mean
        optimizer.param_groups[0]["lr"] = lr
        param.grad = torch.tensor(gradient)
        old = param.detach().clone()
        guard.before_step([param], lr=lr)
        optimizer.step()
        guard.after_step([optimizer] if velocity else ())
        lengths.append((param.detach() - old).norm().item())
    return lengths


def test_the_update_bound_holds_the_momentum_a_warm_up_filled():
    """At the end of a warm-up, SGD applies its momentum (a sum of the warm-up's gradients) at
    the new rate: the step bound cuts the new gradient only, the update bound the whole move."""
    warm_up = [(1e-5, [30.0, 40.0])] * 50
    jump = [(3.5e-3, [30.0, 40.0])]
    free = sgd_run(StepGuard(0), torch.nn.Parameter(torch.zeros(2)), warm_up + jump)
    step = sgd_run(StepGuard(3.0, "step"), torch.nn.Parameter(torch.zeros(2)), warm_up + jump)
    guard = StepGuard(3.0, "update")
    update = sgd_run(guard, torch.nn.Parameter(torch.zeros(2)), warm_up + jump)
    mean = guard.mean_before_last
    assert free[-1] == pytest.approx(3.5e-3 * (0.9 * 500 * (1 - 0.9 ** 50) + 50), rel=1e-3)
    assert step[-1] > 100 * free[-2]  # the momentum still moves it 300-fold further
    assert update[-1] == pytest.approx(3 * mean, rel=1e-5)  # the whole move: 3x the mean
    assert update[:-1] == pytest.approx(free[:-1], rel=1e-5)  # steady moves are never touched


def test_the_update_bound_shortens_the_velocity_with_the_move():
    """MaPLe_SAR on stress100: with the velocity left whole, every move after the warm-up is cut
    to the bound again and the bound grows 1.2x a step, so the warm-up's stale momentum still
    carries the prompts away; shortened with the move, it decays as SGD's momentum does."""
    steps = [(1e-5, [30.0, 40.0])] * 50 + [(3.5e-3, [30.0, 40.0])] + [(3.5e-3, [0.0, 0.0])] * 30
    kept = sgd_run(StepGuard(3.0, "update"), torch.nn.Parameter(torch.zeros(2)), steps)
    whole = sgd_run(StepGuard(3.0, "update"), torch.nn.Parameter(torch.zeros(2)), steps,
                    velocity=False)
    after = kept[51:]
    assert after == pytest.approx([after[0] * 0.9 ** k for k in range(30)], rel=1e-4)
    rising = whole[50:68]  # each cut to the bound, which grows 1.2x a step, for 17 steps
    assert rising == sorted(rising) and max(whole) > 15 * kept[50]
    assert sum(kept[50:]) < sum(whole[50:]) / 20


def test_both_bounds_cover_each_others_blind_spot():
    """A gradient spike (13x, the traced CE jump) enters SGD's momentum whole under the update
    bound: its first move is only about 2x the mean, and the rest comes over the next steps. The
    warm-up's momentum is not a gradient, so the step bound lets it through. ``both`` holds
    the two."""
    spike = [(0.1, [0.6, 0.8])] * 50 + [(0.1, [7.8, 10.4])] + [(0.1, [0.6, 0.8])] * 10
    warm_up = [(1e-5, [30.0, 40.0])] * 50 + [(3.5e-3, [30.0, 40.0])] + [(3.5e-3, [0.0, 0.0])] * 30

    def moved_after(kind, steps):
        guard = StepGuard(0) if kind == "off" else StepGuard(3.0, kind)
        return sum(sgd_run(guard, torch.nn.Parameter(torch.zeros(2)), steps)[50:])

    off = {name: moved_after("off", steps) for name, steps in (("spike", spike),
                                                                ("warm", warm_up))}
    assert moved_after("update", spike) == pytest.approx(off["spike"])  # unseen
    assert moved_after("both", spike) == pytest.approx(moved_after("step", spike))
    assert moved_after("both", spike) < 0.7 * off["spike"]
    assert moved_after("step", warm_up) > 0.8 * off["warm"]  # unseen, nearly
    assert moved_after("both", warm_up) == pytest.approx(moved_after("update", warm_up))
    assert moved_after("both", warm_up) < off["warm"] / 100


def test_only_the_guarded_parameters_velocity_is_touched():
    from trainers.sar import shorten_velocity

    guarded, other = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    sgd = torch.optim.SGD([guarded, other], lr=1.0, momentum=0.9)
    adam = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=1.0)
    for param in (guarded, other, *adam.param_groups[0]["params"]):
        param.grad = torch.ones(2)
    sgd.step()
    adam.step()
    shorten_velocity([guarded, *adam.param_groups[0]["params"]], [sgd, adam], 0.25)
    assert sgd.state[guarded]["momentum_buffer"].tolist() == [0.25, 0.25]
    assert sgd.state[other]["momentum_buffer"].tolist() == [1.0, 1.0]
    adam_state = adam.state[adam.param_groups[0]["params"][0]]
    assert adam_state["exp_avg"].tolist() == pytest.approx([0.025, 0.025])
    assert adam_state["exp_avg_sq"].tolist() == pytest.approx([0.001, 0.001])  # a scale, kept


def test_the_update_bound_keeps_the_direction_and_the_optimizer_state():
    guard = StepGuard(3.0, "update")
    param = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([param], lr=1.0)
    for gradient in ([-0.6, -0.8], [-0.6, -0.8], [-60.0, -80.0]):  # moves of 1, 1, then 100
        param.grad = torch.tensor(gradient)
        guard.before_step([param], lr=1.0)
        optimizer.step()
        assert guard.after_step() <= 3.0
    assert param.tolist() == pytest.approx([0.6 + 0.6 + 1.8, 0.8 + 0.8 + 2.4], rel=1e-5)
    assert StepGuard(3.0, "update").after_step() is None  # no step under way
    with pytest.raises(ValueError, match="TRAINER.SAR.BOUND"):
        StepGuard(3.0, "gradient")


def test_a_loss_jump_needs_the_ratio_and_the_floor_and_stays_out_of_the_mean():
    jump = LossJump(10.0)
    jump.snapshot = [object()]
    for value in (0.001, 0.002, 0.001):
        jump.see(value)
    jump.see(0.5)  # 300x a mean near 0 but below 1 nat: CoOp's first moves from the teacher
    assert not jump.jumped
    mean = jump.mean
    jump.see(24.3)  # the traced cliff
    assert jump.jumped and jump.mean == mean
    jump.see(0.03)
    assert not jump.jumped
    off = LossJump(0.0)
    off.snapshot = [object()]
    off.see(0.01)
    off.see(100.0)
    assert not off.jumped


def test_after_a_jump_the_last_update_is_undone_and_the_velocity_zeroed():
    param = torch.nn.Parameter(torch.zeros(2))
    optimizer = torch.optim.SGD([param], lr=1.0, momentum=0.9)
    jump = LossJump(10.0)
    jump.see(0.2)
    for loss in (0.2, 0.2, 30.0):  # two ordinary steps, then the next loss has jumped
        jump.see(loss)
        param.grad = torch.tensor([1.0, 1.0])
        undone = jump.before_step([param], [optimizer])
        optimizer.step()
    assert undone and param.tolist() == pytest.approx([-1.0, -1.0])  # step 2 (to -2.9) undone
    assert optimizer.state[param]["momentum_buffer"].tolist() == [0.0, 0.0]
    assert LossJump(0.0).before_step([param], [optimizer]) is False


def test_the_snapshot_is_taken_every_step_into_the_same_buffers():
    param = torch.nn.Parameter(torch.zeros(2))
    jump = LossJump(10.0)
    jump.before_step([param], [])
    buffer = jump.snapshot[0][1]
    with torch.no_grad():
        param.add_(1.0)
    jump.before_step([param], [])
    assert jump.snapshot[0][1] is buffer and buffer.tolist() == [1.0, 1.0]
    other = torch.nn.Parameter(torch.ones(3))  # other parameters: a snapshot of their own
    jump.before_step([other], [])
    assert jump.snapshot[0][0] is other and jump.snapshot[0][1].tolist() == [1.0, 1.0, 1.0]
