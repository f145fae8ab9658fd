import itertools
import math
from typing import Iterator, List, Optional, Sequence

import torch
from mmengine.dist import get_dist_info, sync_random_seed
from mmseg.registry import DATA_SAMPLERS
from torch.utils.data import ConcatDataset, Sampler

from ..empty_dataset_check import describe_data_source


def split_batch(batch_size: int, source_ratio: Sequence[float]) -> List[int]:
    """Samples of each source in a batch: ``batch_size * r_i / sum(r)``
    rounded (half up) for every source but the first, which takes the rest."""
    total = sum(source_ratio)
    rest = [int(batch_size * ratio / total + 0.5) for ratio in source_ratio[1:]]
    return [batch_size - sum(rest)] + rest


@DATA_SAMPLERS.register_module()
class MultiSourceSampler(Sampler):
    """Batches that mix the datasets of a ``ConcatDataset`` in fixed proportions.

    Every batch (per rank) holds ``split_batch(batch_size, source_ratio)[i]``
    samples of source ``i``, emitted as consecutive indices, source 0 first
    (for semi-supervised training: the labeled dataset, then the unlabeled
    one). The dataloader must use the same ``batch_size`` and no shuffling.

    Each source is a stream of random permutations of its samples, shared by
    all ranks; rank ``r`` of ``w`` takes the elements ``r, r + w, ...`` (as
    mmengine's ``InfiniteSampler`` does), so ranks draw different samples. One
    ``__iter__`` yields one finite epoch: enough batches for this rank to see
    its share of ``epoch_source`` once. The streams are seeded by
    ``seed + epoch``, so ``set_epoch`` reshuffles. Hence both mmengine's
    ``EpochBasedTrainLoop`` and ``IterBasedTrainLoop`` (which iterates the
    dataloader again after each epoch, calling ``set_epoch``) work.

    Args:
        dataset (ConcatDataset): The sources, in batch order.
        batch_size (int): Samples per batch on each rank.
        source_ratio (Sequence[float]): Positive share of each source.
        shuffle (bool): Draw random permutations; False cycles through each
            source in order. Defaults to True.
        seed (int, optional): Shuffle seed, identical on all ranks. None draws
            one and shares it across ranks. Defaults to None.
        epoch_source (int, optional): Index of the source that sets the epoch
            length. Defaults to the largest source.
    """

    def __init__(self,
                 dataset: ConcatDataset,
                 batch_size: int,
                 source_ratio: Sequence[float],
                 shuffle: bool = True,
                 seed: Optional[int] = None,
                 epoch_source: Optional[int] = None) -> None:
        if not isinstance(dataset, ConcatDataset):
            raise TypeError('MultiSourceSampler needs a ConcatDataset of the '
                            f'sources, got {type(dataset).__name__}')
        self.dataset = dataset
        self.source_sizes = [len(source) for source in dataset.datasets]
        self._check_sources(batch_size, source_ratio)
        self.source_batch_sizes = self._split_without_starving(
            batch_size, source_ratio)
        if epoch_source is None:
            epoch_source = self.source_sizes.index(max(self.source_sizes))
        if not 0 <= epoch_source < len(self.source_sizes):
            raise ValueError(f'epoch_source={epoch_source} is not the index of '
                             f'one of the {len(self.source_sizes)} sources')

        self.rank, self.world_size = get_dist_info()
        self.batch_size = batch_size
        self.source_ratio = list(source_ratio)
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch_source = epoch_source
        self.epoch = 0
        self.source_offsets = [0] + list(
            itertools.accumulate(self.source_sizes))[:-1]
        share_of_rank = math.ceil(self.source_sizes[epoch_source] /
                                  self.world_size)
        self.num_batches = math.ceil(share_of_rank /
                                     self.source_batch_sizes[epoch_source])

    def _check_sources(self, batch_size: int,
                       source_ratio: Sequence[float]) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(
                f'batch_size must be a positive int, got {batch_size!r}')
        if len(source_ratio) != len(self.source_sizes):
            raise ValueError(
                f'source_ratio={list(source_ratio)} has {len(source_ratio)} '
                f'entries but the ConcatDataset has {len(self.source_sizes)} '
                'datasets')
        if any(ratio <= 0 for ratio in source_ratio):
            raise ValueError('every source_ratio entry must be positive, got '
                             f'{list(source_ratio)}')
        for index, size in enumerate(self.source_sizes):
            if size == 0:
                source = describe_data_source(self.dataset.datasets[index])
                raise ValueError(f'source {index} of the ConcatDataset is '
                                 f'empty ({source}): there is nothing to '
                                 'sample from it')

    @staticmethod
    def _split_without_starving(batch_size: int,
                                source_ratio: Sequence[float]) -> List[int]:
        """``split_batch``, refusing a split that leaves a source out."""
        counts = split_batch(batch_size, source_ratio)
        for index, count in enumerate(counts):
            if count < 1:
                working = next(
                    size for size in itertools.count(batch_size + 1)
                    if min(split_batch(size, source_ratio)) >= 1)
                raise ValueError(
                    f'batch_size={batch_size} with source_ratio='
                    f'{list(source_ratio)} gives source {index} {count} '
                    f'samples per batch ({counts} in all); every source needs '
                    f'one. batch_size={working} would work.')
        return counts

    def _indices_of_rank(self, size: int, count: int,
                         generator: torch.Generator) -> List[int]:
        """This rank's first ``count`` elements of the shared stream of
        permutations of ``range(size)``."""
        needed = count * self.world_size
        stream: List[int] = []
        while len(stream) < needed:
            order = (torch.randperm(size, generator=generator)
                     if self.shuffle else torch.arange(size))
            stream.extend(order.tolist())
        return stream[self.rank:needed:self.world_size]

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator()
        generator.manual_seed(self.seed + self.epoch)
        streams = [
            self._indices_of_rank(size, count * self.num_batches, generator)
            for size, count in zip(self.source_sizes, self.source_batch_sizes)
        ]
        for batch in range(self.num_batches):
            for stream, count, offset in zip(streams, self.source_batch_sizes,
                                             self.source_offsets):
                for index in stream[batch * count:(batch + 1) * count]:
                    yield offset + index

    def __len__(self) -> int:
        """Indices in one epoch on this rank."""
        return self.num_batches * self.batch_size

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle: the next epoch's streams are seeded by ``seed + epoch``."""
        self.epoch = epoch
