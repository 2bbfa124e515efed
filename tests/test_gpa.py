"""GPA: Gaussian weights over epochs and the running weighted average of the prompts."""

import math

import pytest
import torch
import torch.nn as nn

from trainers.gpa import GaussianPromptAverage, gaussian_epoch_weights


def test_weights_are_a_normalised_gaussian_over_epochs_1_to_n():
    weights = gaussian_epoch_weights(20, mean=15, std=1)
    assert len(weights) == 20 and sum(weights) == pytest.approx(1.0)
    assert max(range(20), key=weights.__getitem__) == 14  # epoch 15
    assert weights[13] / weights[14] == pytest.approx(math.exp(-0.5))
    assert weights[13] == pytest.approx(weights[15])


def test_far_means_never_divide_zero_by_zero():
    weights = gaussian_epoch_weights(3, mean=1000, std=1)
    assert all(math.isfinite(w) for w in weights) and weights[-1] == pytest.approx(1.0)


@pytest.mark.parametrize("std", [0, -1])
def test_bad_std_names_the_key(std):
    with pytest.raises(ValueError, match="TRAINER.PROMPTSRC.GPA_STD"):
        gaussian_epoch_weights(5, 3, std)


class Prompts(nn.Module):
    def __init__(self):
        super().__init__()
        self.ctx = nn.Parameter(torch.zeros(2, 3))
        self.deep = nn.ParameterList([nn.Parameter(torch.zeros(1, 3))])


def test_average_is_the_weighted_sum_of_the_epoch_ends():
    prompts, weights = Prompts(), [0.2, 0.3, 0.5]
    average = GaussianPromptAverage(list(prompts.named_parameters()), weights)
    seen = []
    for epoch in range(3):
        with torch.no_grad():
            for param in prompts.parameters():
                param.normal_()
        seen.append({n: p.detach().clone() for n, p in prompts.named_parameters()})
        average.accumulate(epoch, prompts)
    average.load_into(prompts)
    for name, param in prompts.named_parameters():
        expected = sum(w * s[name] for w, s in zip(weights, seen))
        assert torch.allclose(param, expected, atol=1e-6), name


def test_running_sum_survives_a_state_dict_round_trip():
    prompts, weights = Prompts(), [0.5, 0.5]
    first = GaussianPromptAverage(list(prompts.named_parameters()), weights)
    with torch.no_grad():
        prompts.ctx.fill_(2.0)
    first.accumulate(0, prompts)
    assert set(first.state_dict()) == {"ctx", "deep_0"}
    resumed = GaussianPromptAverage(list(prompts.named_parameters()), weights)
    resumed.load_state_dict(first.state_dict())
    with torch.no_grad():
        prompts.ctx.fill_(4.0)
    resumed.accumulate(1, prompts)
    resumed.load_into(prompts)
    assert torch.equal(prompts.ctx, torch.full((2, 3), 3.0))
