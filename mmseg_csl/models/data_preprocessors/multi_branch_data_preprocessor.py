from typing import Dict

import torch
from mmengine.model import BaseDataPreprocessor
from mmseg.registry import MODELS
from mmseg.utils import SampleList
from torch import Tensor


@MODELS.register_module()
class MultiBranchDataPreProcessor(BaseDataPreprocessor):
    """Run a segmentation data preprocessor on each branch of a batch.

    A semi-supervised batch is what ``pseudo_collate`` makes of ``MultiBranch``
    samples: ``dict(inputs={branch: [Tensor (3, H, W) | None, ...]},
    data_samples={branch: [SegDataSample | None, ...]})``, None where a sample
    has no such branch (a labeled sample has no ``unsup_*`` views). Each branch
    drops its None entries and goes through the wrapped preprocessor on its own,
    giving ``dict(inputs={branch: Tensor (n, 3, H, W)},
    data_samples={branch: list of n SegDataSample})``; a branch with no sample
    is left out; ``training`` is passed on to every branch. A batch whose
    ``inputs`` is not a dict (validation, testing, supervised-only training)
    goes to the wrapped preprocessor unchanged.

    With mmseg's ``SegDataPreProcessor`` a branch is padded at the bottom and
    right to ``size`` (or a multiple of ``size_divisor``); each sample's
    ``img_shape`` stays the unpadded size, so the valid region of a view is
    ``[:img_shape[0], :img_shape[1]]``. Samples without a label map (unlabeled
    views) get ``pad_shape`` from the padded batch, as labeled ones get it
    from their padded label map.

    The wrapper keeps no device of its own: its device is the wrapped
    preprocessor's, so moving the model (``to``, ``cuda``, ``cpu``) moves both.

    Args:
        data_preprocessor (dict): Config of the wrapped preprocessor, e.g.
            ``dict(type='SegDataPreProcessor', mean=..., std=...,
            bgr_to_rgb=True, size=crop_size)``.
    """

    def __init__(self, data_preprocessor: dict) -> None:
        super().__init__()
        self.data_preprocessor = MODELS.build(data_preprocessor)
        if (hasattr(self.data_preprocessor, 'size')
                and self.data_preprocessor.size is None
                and self.data_preprocessor.size_divisor is None):
            raise ValueError(
                'MultiBranchDataPreProcessor needs the wrapped preprocessor to '
                'pad the views of a branch to one shape: set `size` (the crop '
                'size) or `size_divisor` in its config')

    @property
    def _device(self) -> torch.device:
        """The wrapped preprocessor's device, read by ``device`` and
        ``cast_data`` and set by every move of the model."""
        return self.data_preprocessor._device

    @_device.setter
    def _device(self, device: torch.device) -> None:
        # BaseDataPreprocessor.__init__ sets the CPU before the wrapped
        # preprocessor exists, which starts on the CPU too.
        if 'data_preprocessor' in self._modules:
            self.data_preprocessor._device = device

    def forward(self, data: dict, training: bool = False) -> dict:
        """Preprocess a multi-branch batch branch by branch, any other batch
        with the wrapped preprocessor."""
        if not isinstance(data['inputs'], dict):
            return self.data_preprocessor(data, training)
        inputs: Dict[str, Tensor] = {}
        data_samples: Dict[str, SampleList] = {}
        for branch, branch_inputs in data['inputs'].items():
            branch_samples = self._branch_samples(data, branch)
            present = [i for i, img in enumerate(branch_inputs) if img is not None]
            if not present:
                continue
            result = self.data_preprocessor(
                {
                    'inputs': [branch_inputs[i] for i in present],
                    'data_samples': [branch_samples[i] for i in present]
                }, training)
            inputs[branch] = result['inputs']
            data_samples[branch] = result['data_samples']
            _fill_missing_pad_shape(inputs[branch], data_samples[branch])
        return {'inputs': inputs, 'data_samples': data_samples}

    @staticmethod
    def _branch_samples(data: dict, branch: str) -> list:
        """The data samples of ``branch``, checked against its inputs."""
        branch_samples = (data.get('data_samples') or {}).get(branch)
        if branch_samples is None or len(branch_samples) != len(
                data['inputs'][branch]):
            raise ValueError(
                f'branch {branch!r} has {len(data["inputs"][branch])} inputs '
                'but data_samples holds '
                f'{None if branch_samples is None else len(branch_samples)} '
                'entries for it; a multi-branch batch needs one data sample '
                'per input in every branch')
        return branch_samples


def _fill_missing_pad_shape(inputs: Tensor, data_samples: SampleList) -> None:
    """Set ``pad_shape`` (H, W of the padded batch) where the preprocessor
    left it None: mmseg's ``stack_batch`` only takes it from label maps."""
    for data_sample in data_samples:
        if data_sample.metainfo.get('pad_shape') is None:
            data_sample.set_metainfo({'pad_shape': tuple(inputs.shape[-2:])})
