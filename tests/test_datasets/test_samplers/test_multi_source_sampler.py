from typing import List

import pytest
import torch
from mmengine.dataset import BaseDataset, ConcatDataset
from mmengine.model import BaseModel
from mmengine.runner import Runner

from mmseg_csl.datasets.samplers import MultiSourceSampler
from mmseg_csl.datasets.samplers import multi_source_sampler as sampler_module
from mmseg_csl.datasets.samplers.multi_source_sampler import split_batch


class ToySource(BaseDataset):
    """``size`` samples whose ``data_samples`` is ``'<name>/<index>'``."""

    def __init__(self, name: str, size: int) -> None:
        self.name, self.size = name, size
        super().__init__(pipeline=[self.pack], serialize_data=False)

    def load_data_list(self) -> List[dict]:
        return [{'tag': f'{self.name}/{i}'} for i in range(self.size)]

    @staticmethod
    def pack(info: dict) -> dict:
        return {'inputs': torch.zeros(1), 'data_samples': info['tag']}


class RecordingModel(BaseModel):
    """Remembers the ``data_samples`` of every training batch."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.batches: List[List[str]] = []

    def forward(self, inputs, data_samples=None, mode='tensor'):
        self.batches.append(list(data_samples))
        return {'loss': self.weight.square().sum()}


def sources(labeled: int = 5, unlabeled: int = 12) -> ConcatDataset:
    return ConcatDataset(
        [ToySource('labeled', labeled), ToySource('unlabeled', unlabeled)])


def batches(sampler: MultiSourceSampler) -> List[List[int]]:
    indices = list(sampler)
    assert len(indices) == len(sampler)
    size = sampler.batch_size
    return [indices[i:i + size] for i in range(0, len(indices), size)]


def on_rank(monkeypatch, rank: int, world_size: int, **kwargs):
    monkeypatch.setattr(sampler_module, 'get_dist_info',
                        lambda: (rank, world_size))
    return MultiSourceSampler(**kwargs)


@pytest.mark.parametrize('batch_size, ratio, expected', [
    (3, [1, 2], [1, 2]),
    (6, [1, 2], [2, 4]),
    (4, [1, 2], [1, 3]),
    (5, [1, 1, 1], [1, 2, 2]),
    (8, [0.5, 0.25, 0.25], [4, 2, 2]),
])
def test_split_batch(batch_size, ratio, expected):
    assert split_batch(batch_size, ratio) == expected


def test_every_batch_holds_fixed_counts_source_0_first():
    dataset = sources()
    sampler = MultiSourceSampler(dataset, batch_size=6, source_ratio=[1, 2])
    for batch in batches(sampler):
        assert all(index < 5 for index in batch[:2])
        assert all(5 <= index < 17 for index in batch[2:])


def test_epoch_covers_the_epoch_source_once():
    sampler = MultiSourceSampler(
        sources(), batch_size=3, source_ratio=[1, 2], seed=0)
    assert len(sampler) == 6 * 3  # 12 unlabeled, 2 per batch
    unlabeled = [i for batch in batches(sampler) for i in batch[1:]]
    assert sorted(unlabeled) == list(range(5, 17))
    labeled = [batch[0] for batch in batches(sampler)]
    assert set(labeled) == set(range(5))  # 6 draws cycle through all 5

    by_labeled = MultiSourceSampler(
        sources(), batch_size=3, source_ratio=[1, 2], seed=0, epoch_source=0)
    assert len(by_labeled) == 5 * 3
    assert sorted(batch[0] for batch in batches(by_labeled)) == list(range(5))


def test_seed_and_epoch_fix_the_order():
    def make(seed):
        return MultiSourceSampler(
            sources(), batch_size=3, source_ratio=[1, 2], seed=seed)

    sampler = make(7)
    first = list(sampler)
    assert first == list(make(7))
    assert first != list(make(8))
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first
    sampler.set_epoch(0)
    assert list(sampler) == first


def test_without_shuffle_sources_cycle_in_order():
    sampler = MultiSourceSampler(
        sources(3, 4), batch_size=3, source_ratio=[1, 2], shuffle=False)
    assert batches(sampler) == [[0, 3, 4], [1, 5, 6]]


def test_ranks_take_disjoint_slices_of_one_stream(monkeypatch):
    kwargs = {'dataset': sources(), 'batch_size': 3, 'source_ratio': [1, 2],
              'seed': 3}
    per_rank = [
        batches(on_rank(monkeypatch, rank, 2, **kwargs)) for rank in range(2)
    ]
    assert len(per_rank[0]) == len(per_rank[1]) == 3  # 12 / 2 ranks / 2
    unlabeled = [{i for batch in rank for i in batch[1:]} for rank in per_rank]
    assert not unlabeled[0] & unlabeled[1]
    assert unlabeled[0] | unlabeled[1] == set(range(5, 17))
    # interleaving the ranks' labeled draws gives back the shared stream,
    # whose first 5 elements are a permutation of source 0
    labeled = [[batch[0] for batch in rank] for rank in per_rank]
    stream = [index for pair in zip(*labeled) for index in pair]
    assert sorted(stream[:5]) == list(range(5))


def test_iter_based_loop_reiterates_with_new_epochs(tmp_path, monkeypatch):
    monkeypatch.setattr('mmengine.runner.loops.time.sleep', lambda s: None)
    model = run_training(tmp_path, 'iter', {'by_epoch': False, 'max_iters': 7})
    expected = expected_batches(epochs=3)
    assert model.batches == expected[:7]


def test_epoch_based_loop_runs_one_sampler_epoch_per_epoch(tmp_path):
    model = run_training(tmp_path, 'epoch', {'by_epoch': True, 'max_epochs': 2})
    assert model.batches == expected_batches(epochs=2)


def run_training(tmp_path, name: str, train_cfg: dict) -> RecordingModel:
    model = RecordingModel()
    runner = Runner(
        model=model,
        work_dir=str(tmp_path),
        experiment_name=f'multi_source_{name}',
        train_dataloader={
            'dataset': sources(4, 6),
            'sampler': {'type': 'MultiSourceSampler', 'batch_size': 3,
                        'source_ratio': [1, 2]},
            'batch_size': 3,
            'num_workers': 0
        },
        train_cfg=train_cfg,
        optim_wrapper={'optimizer': {'type': 'SGD', 'lr': 0.1}},
        default_hooks={'checkpoint': None},
        default_scope='mmseg',
        randomness={'seed': 11})
    runner.train()
    return model


def expected_batches(epochs: int) -> List[List[str]]:
    """Batches of 1 labeled + 2 unlabeled tags, 3 per epoch, seed 11."""
    dataset = sources(4, 6)
    sampler = MultiSourceSampler(
        dataset, batch_size=3, source_ratio=[1, 2], seed=11)
    tags = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for batch in batches(sampler):
            tags.append([dataset[i]['data_samples'] for i in batch])
    assert all(tag.startswith('labeled') for tag, *_ in tags)
    assert tags[:3] != tags[3:6]
    return tags


def test_rejects_a_dataset_that_is_not_a_concat_dataset():
    with pytest.raises(TypeError, match='ConcatDataset'):
        MultiSourceSampler(ToySource('a', 3), batch_size=2, source_ratio=[1])


@pytest.mark.parametrize('kwargs, message', [
    ({'source_ratio': [1, 2, 3]}, 'has 3 entries but the ConcatDataset has 2'),
    ({'source_ratio': [1, 0]}, 'must be positive'),
    ({'batch_size': 0}, 'batch_size must be a positive int'),
    ({'epoch_source': 2}, 'epoch_source=2'),
])
def test_rejects_bad_arguments(kwargs, message):
    arguments = {'dataset': sources(), 'batch_size': 3, 'source_ratio': [1, 2]}
    with pytest.raises(ValueError, match=message):
        MultiSourceSampler(**{**arguments, **kwargs})


def test_rejects_an_empty_source():
    dataset = ConcatDataset([ToySource('a', 3), ToySource('b', 0)])
    with pytest.raises(ValueError, match='source 1 of the ConcatDataset is empty'):
        MultiSourceSampler(dataset, batch_size=2, source_ratio=[1, 1])


@pytest.mark.parametrize('batch_size, ratio, message', [
    (2, [1, 3], r'batch_size=2 with source_ratio=\[1, 3\] gives source 0 0 '
     r'samples per batch .*batch_size=3 would work'),
    (4, [8, 1], r'batch_size=4 with source_ratio=\[8, 1\] gives source 1 0 '
     r'samples per batch .*batch_size=5 would work'),
])
def test_rejects_a_batch_that_starves_a_source(batch_size, ratio, message):
    with pytest.raises(ValueError, match=message):
        MultiSourceSampler(sources(), batch_size=batch_size, source_ratio=ratio)
