import copy
from typing import Callable, Dict, List, Optional, Union

from mmcv.transforms import BaseTransform, Compose
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class MultiBranch(BaseTransform):
    """Turn one sample into several views ("branches"), each packed for the model.

    Every branch pipeline runs on its own deep copy of the results, so branches
    share what came before ``MultiBranch`` (the geometry: resize, crop, flip) and
    nothing after it. Each branch pipeline must end with ``PackSegInputs``.

    Output: ``dict(inputs={branch: Tensor (3, H, W) | None},
    data_samples={branch: SegDataSample | None})`` with one key per name in
    ``branch_field``; branches of ``branch_field`` that this dataset does not
    produce are None, so that samples of a labeled and of an unlabeled dataset
    share the same keys and ``pseudo_collate`` can batch them together.

    Args:
        branch_field (list[str]): Every branch name of the training batch,
            e.g. ``['sup', 'unsup_weak', 'unsup_strong1', 'unsup_strong2']``.
        **branch_pipelines (list[dict | callable]): The pipeline of each
            branch this dataset produces, keyed by branch name.

    Example:
        >>> dict(type='MultiBranch', branch_field=['sup', 'unsup_weak'],
        ...      sup=[dict(type='PackSegInputs')])
    """

    def __init__(self, branch_field: List[str],
                 **branch_pipelines: List[Union[dict, Callable]]) -> None:
        if not branch_pipelines:
            raise ValueError('MultiBranch needs at least one branch pipeline, '
                             'e.g. sup=[dict(type="PackSegInputs")]')
        unknown = sorted(set(branch_pipelines) - set(branch_field))
        if unknown:
            raise ValueError(f'MultiBranch branches {unknown} are not in '
                             f'branch_field={list(branch_field)}')
        self.branch_field = list(branch_field)
        self.branch_pipelines = {
            branch: Compose(pipeline)
            for branch, pipeline in branch_pipelines.items()
        }

    def transform(self, results: dict) -> Optional[Dict[str, dict]]:
        """Run every branch pipeline on a copy of ``results``; None if any
        branch drops the sample (the dataset then fetches another one)."""
        inputs = dict.fromkeys(self.branch_field)
        data_samples = dict.fromkeys(self.branch_field)
        for branch, pipeline in self.branch_pipelines.items():
            packed = pipeline(copy.deepcopy(results))
            if packed is None:
                return None
            if not (isinstance(packed, dict) and 'inputs' in packed
                    and 'data_samples' in packed):
                raise ValueError(
                    f'MultiBranch branch {branch!r} must end with PackSegInputs '
                    "(a dict with 'inputs' and 'data_samples'), but it "
                    f'returned {packed!r:.200}')
            inputs[branch] = packed['inputs']
            data_samples[branch] = packed['data_samples']
        return {'inputs': inputs, 'data_samples': data_samples}

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(branch_field={self.branch_field}, '
                f'branch_pipelines={self.branch_pipelines})')
