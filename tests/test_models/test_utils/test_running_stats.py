import copy

import pytest
import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode

from mmseg_csl.models.utils import running_stat_buffers, running_stats_kept


class MomentNorm(nn.Module):
    """A normalisation layer of its own kind: running statistics updated by
    its forward, which ``running_stats_kept`` can only keep by copies."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer('running_mean', torch.zeros(channels))
        self.register_buffer('running_var', torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False)
        self.running_mean.mul_(0.9).add_(0.1 * mean.detach())
        self.running_var.mul_(0.9).add_(0.1 * var.detach())
        return (x - mean[:, None, None]) / (var[:, None, None] + 1e-5).sqrt()


NORMS = [nn.BatchNorm2d, nn.SyncBatchNorm, MomentNorm]


def _model(norm: type) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), norm(4), nn.ReLU(),
                         nn.Conv2d(4, 2, 1), norm(2)).train()


@pytest.mark.parametrize('norm', NORMS)
def test_forward_and_backward_leave_the_running_statistics_as_they_were(norm):
    model = _model(norm)
    before = [buffer.clone() for buffer in running_stat_buffers(model)]
    assert len(before) == (4 if norm is MomentNorm else 6)
    with running_stats_kept(model):
        out = model(torch.randn(2, 3, 8, 8))
    out.square().mean().backward()

    after = running_stat_buffers(model)
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.parameters())


@pytest.mark.parametrize('norm', NORMS)
def test_the_forward_inside_is_the_train_forward_bit_for_bit(norm):
    kept_model = _model(norm)
    plain_model = copy.deepcopy(kept_model)
    images = torch.randn(2, 3, 8, 8)
    with running_stats_kept(kept_model):
        kept = kept_model(images)
    plain = plain_model(images)
    kept.square().mean().backward()
    plain.square().mean().backward()

    assert torch.equal(kept, plain)
    assert all(torch.equal(k.grad, p.grad) for k, p in
               zip(kept_model.parameters(), plain_model.parameters()))


class OperatorNames(TorchDispatchMode):

    def __init__(self) -> None:
        super().__init__()
        self.names = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(str(func.overloadpacket))
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize('norm', [nn.BatchNorm2d, nn.SyncBatchNorm])
def test_batch_norms_launch_nothing_for_their_statistics(norm):
    """No copy of the statistics, no num_batches_tracked increment: the
    operators of the kept forward are those of the plain one minus those."""
    model, images = _model(norm), torch.randn(2, 3, 8, 8)
    with OperatorNames() as plain:
        model(images)
    with OperatorNames() as kept:
        with running_stats_kept(model):
            model(images)
    increments = ['aten.add_'] * 2
    assert sorted(kept.names + increments) == sorted(plain.names)


def test_batch_norms_track_their_statistics_again_after_an_error():
    model = _model(nn.BatchNorm2d)
    with pytest.raises(RuntimeError, match='inside'):
        with running_stats_kept(model):
            raise RuntimeError('inside')
    assert all(layer.track_running_stats for layer in model
               if isinstance(layer, nn.BatchNorm2d))
    before = [buffer.clone() for buffer in running_stat_buffers(model)]
    model(torch.randn(2, 3, 8, 8))
    after = running_stat_buffers(model)
    assert not any(torch.equal(a, b) for a, b in zip(before, after))


def test_layers_in_eval_mode_normalise_with_their_running_statistics():
    model = _model(nn.BatchNorm2d)
    model[1].eval()
    images = torch.randn(2, 3, 8, 8)
    with running_stats_kept(model):
        kept = model(images)
    assert torch.equal(kept, model(images))


def test_without_keeping_the_statistics_update():
    model = _model(nn.BatchNorm2d)
    before = [buffer.clone() for buffer in running_stat_buffers(model)]
    with running_stats_kept(model, keep=False):
        model(torch.randn(2, 3, 8, 8))
    after = running_stat_buffers(model)
    assert not any(torch.equal(a, b) for a, b in zip(before, after))
