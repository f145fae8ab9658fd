"""Turn a SemiSegmentor checkpoint into one that the plain mmseg model loads.

    python tools/model_converters/semi_to_mmseg.py SRC DST [--use-teacher]

Keeps the wrapped segmentor's weights (``segmentor.*``, or the EMA teacher's
``teacher.*`` with ``--use-teacher``) without their prefix, plus the
checkpoint's ``meta`` (dataset classes and palette for mmseg's inference
API); optimizer and training state are dropped. The result loads strictly
into the model of the ``segmentor`` config, e.g. with ``tools/test.py`` of
mmseg or ``mmseg.apis.init_model``.
"""
import argparse
import os
import os.path as osp
from typing import List, Optional

import torch
from mmengine.runner import CheckpointLoader

from mmseg_csl.engine import safe_checkpoint_loading
from mmseg_csl.models.segmentors.semi_checkpoint_keys import (
    STUDENT_PREFIX,
    TEACHER_PREFIX,
    unwrap_segmentor_keys,
)


def convert(checkpoint: dict, use_teacher: bool = False) -> dict:
    """The plain-model checkpoint ``dict(meta=..., state_dict=...)``."""
    state_dict = checkpoint.get('state_dict', checkpoint)
    weights = unwrap_segmentor_keys(state_dict, use_teacher)
    if not weights:
        prefix = TEACHER_PREFIX if use_teacher else STUDENT_PREFIX
        hint = (" (was it trained with semi_train_cfg.teacher='ema'?)"
                if use_teacher else ' (is it a SemiSegmentor checkpoint?)')
        raise ValueError(f"the checkpoint has no '{prefix}*' weights{hint}")
    return {'meta': checkpoint.get('meta', {}), 'state_dict': weights}


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='SemiSegmentor checkpoint')
    parser.add_argument('dst', help='output checkpoint for the plain model')
    parser.add_argument(
        '--use-teacher',
        action='store_true',
        help='export the EMA teacher instead of the student')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    # weights-only, with what mmengine's checkpoints hold allowed
    with safe_checkpoint_loading():
        checkpoint = CheckpointLoader.load_checkpoint(args.src, map_location='cpu')
    converted = convert(checkpoint, args.use_teacher)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save(converted, args.dst)
    print(f"{len(converted['state_dict'])} tensors written to {args.dst}")


if __name__ == '__main__':
    main()
