"""The ImageNet start of the paper configs' backbone: the ResNet-101 weights of
UniMatch's release (which both CSL releases load), converted to mmseg's names."""
import os
import os.path as osp

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit, update_init_info
from mmengine.runner.checkpoint import load_checkpoint
from mmseg.registry import WEIGHT_INITIALIZERS

from ...utils import is_local_path

# Where UniMatch's README links its ImageNet ResNet-101 (a Google Drive file).
DOWNLOAD_ID = '1Rx0legsMolCWENpfvE2jUScT3ogalMO8'
DOWNLOAD_PAGE = f'https://drive.google.com/file/d/{DOWNLOAD_ID}/view?usp=sharing'
DOWNLOADED = 'work_dirs/pretrained/resnet101.pth'
CONVERTER = 'tools/model_converters/unimatch_resnet2mmseg.py'
ENV_VARIABLE = 'RESNET101_WEIGHTS'


def missing_weights_message(checkpoint: str) -> str:
    """What a user reads when ``checkpoint`` does not exist: the file, the two
    commands that make it and how to point the config at another file."""
    return (
        f'The ImageNet weights of the backbone, {checkpoint} (resolved against '
        f'the working directory {os.getcwd()}), do not exist. The configs start '
        "ResNet-101 from the weights of UniMatch's release, as the reference "
        'code does; make the file with (docs/weights.md):\n'
        f'  mkdir -p {osp.dirname(DOWNLOADED)} && gdown {DOWNLOAD_ID} -O {DOWNLOADED}\n'
        f'  python {CONVERTER} {DOWNLOADED} {checkpoint}\n'
        f'(gdown: pip install gdown; or save {DOWNLOAD_PAGE} from a browser as '
        f'{DOWNLOADED}). '
        f'A file elsewhere: set the environment variable {ENV_VARIABLE} to it, or '
        'pass --cfg-options model.segmentor.backbone.init_cfg.checkpoint=PATH '
        '(model.backbone.init_cfg.checkpoint=PATH for the supervised configs).')


@WEIGHT_INITIALIZERS.register_module(name='UniMatchResNetPretrained')
class UniMatchResNetPretrainedInit(PretrainedInit):
    """``Pretrained`` for the converted reference weights: a missing file and a
    file of other keys are errors, not a backbone trained from random weights.

    mmengine's ``Pretrained`` loads with ``strict=False``: given the
    unconverted download, or the weights of another network, it logs a
    warning and training goes on with layers left at their random start.
    This initializer loads with ``strict=True`` (the error names the keys),
    and a local ``checkpoint`` that is not a file raises
    ``FileNotFoundError`` with the commands that make it
    (:func:`missing_weights_message`). The runner initialises the weights at
    the start of ``train()`` (its ``_init_model_weights``), before the first
    iteration; testing loads a trained checkpoint instead and never gets here.

    mmengine applies an initializer of another type than ``Pretrained`` before
    the ``init_weights`` of the module's children: meant for a backbone whose
    children initialise nothing themselves, as mmseg's ResNet given an
    ``init_cfg``.

    Args:
        checkpoint (str): the converted state dict
            (``tools/model_converters/unimatch_resnet2mmseg.py``), a local path
            or any scheme mmengine's ``CheckpointLoader`` reads.
        map_location (str): where the tensors are loaded. Defaults to 'cpu'.
    """

    def __init__(self, checkpoint: str, map_location: str = 'cpu') -> None:
        super().__init__(checkpoint, prefix=None, map_location=map_location)

    def __call__(self, module: nn.Module) -> None:
        if is_local_path(self.checkpoint) and not osp.isfile(
                osp.expanduser(self.checkpoint)):
            raise FileNotFoundError(missing_weights_message(self.checkpoint))
        print_log(f'load model from: {self.checkpoint}', logger='current')
        load_checkpoint(module, self.checkpoint, map_location=self.map_location,
                        strict=True, logger='current')
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())
