import pytest
import torch
import torch.nn as nn

from mmseg_csl.models.utils import running_stat_buffers, running_stats_kept


def _model(norm: type) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), norm(4), nn.ReLU(),
                         nn.Conv2d(4, 2, 1), norm(2)).train()


@pytest.mark.parametrize('norm', [nn.BatchNorm2d, nn.SyncBatchNorm])
def test_forward_and_backward_leave_the_running_statistics_as_they_were(norm):
    model = _model(norm)
    before = [buffer.clone() for buffer in running_stat_buffers(model)]
    assert len(before) == 6
    with running_stats_kept(model):
        out = model(torch.randn(2, 3, 8, 8))
    out.square().mean().backward()

    after = running_stat_buffers(model)
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.parameters())


def test_the_forward_inside_normalises_with_batch_statistics():
    model = _model(nn.BatchNorm2d)
    images = torch.randn(2, 3, 8, 8)
    with running_stats_kept(model):
        kept = model(images)
    assert torch.allclose(kept, model(images))


def test_without_keeping_the_statistics_update():
    model = _model(nn.BatchNorm2d)
    before = [buffer.clone() for buffer in running_stat_buffers(model)]
    with running_stats_kept(model, keep=False):
        model(torch.randn(2, 3, 8, 8))
    after = running_stat_buffers(model)
    assert not any(torch.equal(a, b) for a, b in zip(before, after))
