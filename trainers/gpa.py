"""Gaussian-weighted prompt aggregation (GPA, PromptSRC): the deployed prompts are a weighted
average of the prompts at the end of every epoch, with weights from a Gaussian over epochs.

The running sum lives in buffers of the prompt learner, so it is saved with every checkpoint
and a resumed run ends with the same average as an uninterrupted one.
"""

import torch
import torch.nn as nn


def gaussian_epoch_weights(max_epoch, mean, std, key="TRAINER.PROMPTSRC.GPA_STD"):
    """w_e proportional to N(e; mean, std) for epochs e = 1..max_epoch, summing to 1.

    Normalised in log space, so epochs far from ``mean`` give tiny weights, never 0/0.
    """
    if not std > 0:
        raise ValueError(f"{key} must be > 0, got {std}")
    epochs = torch.arange(1, max_epoch + 1, dtype=torch.float64)
    return torch.softmax(-0.5 * ((epochs - mean) / std) ** 2, dim=0).tolist()


def _buffer_name(param_name):
    return param_name.replace(".", "_")


class GaussianPromptAverage(nn.Module):
    """Running sum of ``weights[epoch] * parameters`` over the epochs seen so far."""

    def __init__(self, named_parameters, weights):
        super().__init__()
        self.weights = list(weights)
        self.names = [name for name, _ in named_parameters]
        for name, param in named_parameters:
            self.register_buffer(_buffer_name(name), torch.zeros_like(param, dtype=torch.float32))

    @torch.no_grad()
    def accumulate(self, epoch, module):
        """Add ``module``'s parameters at the end of 0-based ``epoch`` with that epoch's weight."""
        params = dict(module.named_parameters())
        for name in self.names:
            getattr(self, _buffer_name(name)).add_(params[name].float(), alpha=self.weights[epoch])

    @torch.no_grad()
    def load_into(self, module):
        """Replace ``module``'s parameters by the average (complete after the last epoch)."""
        params = dict(module.named_parameters())
        for name in self.names:
            params[name].copy_(getattr(self, _buffer_name(name)))
