"""Scores of a trained model on its config's test split."""
from typing import Dict

import numpy as np
import torch
from mmengine.runner import Runner
from mmseg.evaluation import IoUMetric


@torch.no_grad()
def score_test_split(runner: Runner) -> Dict[str, object]:
    """mIoU, aAcc and per-class IoU (%) of ``runner.model`` on the split of
    ``runner.cfg.test_dataloader``, and the number of its frames.

    The areas are summed over the split as mmseg's ``IoUMetric`` sums them,
    without an evaluator, so that a finished training run (the benchmark's,
    the demo's) is scored the same way with any config.

    Returns:
        dict: ``test_frames``, ``mIoU``, ``aAcc`` and ``class_iou`` (class
        name -> IoU).
    """
    dataloader = Runner.build_dataloader(runner.cfg.test_dataloader)
    classes = dataloader.dataset.metainfo['classes']
    ignore_index = dataloader.dataset.ignore_index
    areas = torch.zeros(4, len(classes), dtype=torch.float64)
    runner.model.eval()
    for data in dataloader:
        for sample in runner.model.test_step(data):
            prediction = sample.pred_sem_seg.data.squeeze(0)
            label = sample.gt_sem_seg.data.squeeze(0).to(prediction)
            areas += torch.stack(IoUMetric.intersect_and_union(
                prediction, label, len(classes), ignore_index)).double()
    intersect, union, _, label_area = areas.numpy()
    with np.errstate(invalid='ignore', divide='ignore'):
        iou = intersect / union * 100
    return dict(test_frames=len(dataloader.dataset),
                mIoU=float(np.nanmean(iou)),
                aAcc=float(intersect.sum() / label_area.sum() * 100),
                class_iou=dict(zip(classes, iou.tolist())))
