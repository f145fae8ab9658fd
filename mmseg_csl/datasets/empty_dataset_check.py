"""A clear error for a dataset of this package that finds no samples.

An mmseg dataset whose split file (``ann_file``) has no lines, or whose image
folder has no image of its suffix, loads an empty sample list; mmengine's
``BaseDataset`` then serialises it with ``np.concatenate`` and fails with
"need at least one array to concatenate", naming neither the dataset nor the
file. The datasets of this package (``CamVidDataset``, ``COCOObjectDataset``,
``UniMatchSplitDataset``) take :class:`NonEmptyDatasetMixin`, which raises an
error naming the source instead. mmseg's and mmengine's own datasets raise
the same error while :func:`empty_datasets_named` is active, as it is during
``tools/train.py``; elsewhere they are left as they are.
"""
import contextlib
from typing import Iterator

from mmengine.dataset import BaseDataset


def describe_data_source(dataset) -> str:
    """Where ``dataset`` reads its samples from, for error messages: its
    ``ann_file`` if it has one, else its image folder and suffix."""
    name = type(dataset).__name__
    ann_file = getattr(dataset, 'ann_file', '')
    if ann_file:
        return f"{name} with ann_file '{ann_file}'"
    image_dir = getattr(dataset, 'data_prefix', {}).get('img_path')
    if image_dir is not None:
        suffix = getattr(dataset, 'img_suffix', '')
        return f"{name} reading images '*{suffix}' in '{image_dir}'"
    return name


class NonEmptyDatasetMixin:
    """Refuse an empty sample list with a ValueError naming the dataset's
    source (:func:`describe_data_source`), where mmengine fails with numpy's
    error. Put it before the dataset base class::

        class CamVidDataset(NonEmptyDatasetMixin, BaseSegDataset): ...

    Only datasets that serialise their samples (mmengine's default,
    ``serialize_data=True``) pass there; an empty source of a
    ``MultiSourceSampler`` is refused by the sampler, named the same way.
    """

    def _serialize_data(self):
        if not self.data_list:
            raise ValueError(f'{describe_data_source(self)} has no samples')
        return super()._serialize_data()


@contextlib.contextmanager
def empty_datasets_named() -> Iterator[None]:
    """Within the block, every mmengine ``BaseDataset`` (mmseg's datasets
    among them) that serialises an empty sample list raises the ValueError of
    :class:`NonEmptyDatasetMixin`, naming its source, where numpy's
    "need at least one array to concatenate" would come; a dataset with
    samples serialises as before."""
    serialize = BaseDataset._serialize_data

    def serialize_non_empty(dataset: BaseDataset):
        if not dataset.data_list:
            raise ValueError(f'{describe_data_source(dataset)} has no samples')
        return serialize(dataset)

    BaseDataset._serialize_data = serialize_non_empty
    try:
        yield
    finally:
        BaseDataset._serialize_data = serialize
