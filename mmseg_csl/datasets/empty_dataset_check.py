"""A clear error for a dataset that finds no samples.

An mmseg dataset whose split file (``ann_file``) has no lines, or whose image
folder has no image of its suffix, loads an empty sample list; mmengine's
``BaseDataset`` then serialises it with ``np.concatenate`` and fails with
"need at least one array to concatenate", naming neither the dataset nor the
file. For a semi-supervised config that is what an empty unlabeled split
gave. :func:`setup_empty_dataset_check` (run on ``import mmseg_csl``) makes
that step raise an error naming the source instead; it changes nothing else.
"""
import functools

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


def setup_empty_dataset_check() -> None:
    """Make mmengine's ``BaseDataset`` refuse an empty sample list with a
    ValueError naming the dataset's source (:func:`describe_data_source`),
    where it failed with numpy's error before. Calling it again changes
    nothing.

    Only datasets that serialise their samples (mmengine's default,
    ``serialize_data=True``) pass there; an empty source of a
    ``MultiSourceSampler`` is refused by the sampler, named the same way.
    """
    serialize = BaseDataset._serialize_data
    if getattr(serialize, 'refuses_empty_datasets', False):
        return

    @functools.wraps(serialize)
    def serialize_non_empty(self):
        if not self.data_list:
            raise ValueError(f'{describe_data_source(self)} has no samples')
        return serialize(self)

    serialize_non_empty.refuses_empty_datasets = True
    BaseDataset._serialize_data = serialize_non_empty
