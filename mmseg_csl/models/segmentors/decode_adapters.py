"""What SemiSegmentor trains in the decode head(s) of a wrapped segmentor.

For every segmentor the semi-supervised step needs two things from its
decode head(s):

- the supervised loss: always the wrapped model's own loss, every head with
  its own loss functions (auxiliary heads are handled by SemiSegmentor);
- dense logits (B, K, h, w) of what inference predicts, computed in the
  current mode (training, with gradient, for the unsupervised losses; or
  without gradient for the pseudo-labels): the pseudo-labels come from
  them, and the unsupervised losses (strong views and perturbed features)
  apply to them, so that the consistency targets train the output that
  makes the prediction.

Three adapters cover mmseg's segmentors:

- :class:`SingleHeadAdapter`, an ``EncoderDecoder`` with one decode head.
  Heads whose training forward returns several outputs get the unsupervised
  loss on the output inference predicts (:data:`PREDICTED_OUTPUT`); the
  other outputs are deep supervision or side tasks trained by the head's own
  loss only, and need no pseudo-labels of their own: DANet's PAM+CAM fusion
  (not the PAM-only and CAM-only maps), EncNet's segmentation map (not the
  class-presence vector of its SE loss), DDRNet's final map (not the
  stage-3 auxiliary map), PIDNet's integral branch (not the P branch nor
  the 1-channel boundary map D), K-Net's last stage (the earlier stages feed
  the last one through their kernels, so they receive its gradient).
- :class:`CascadeAdapter`, a ``CascadeEncoderDecoder`` (OCRNet, PointRend):
  the unsupervised loss applies to the final stage's prediction, computed
  as at inference, and reaches the earlier stages through it (OCR's object
  regions are the softmax of the first stage; PointRend's refined map is
  the upsampled first stage with the point head's logits at the most
  uncertain points). PointRend's point head is trained without pseudo-labels
  of its own points: in the unsupervised term it learns at the points
  inference refines (:meth:`PointHead.predict`), which keeps the prediction
  and the loss on one map.
- :class:`MaskClassificationAdapter`, MaskFormer and Mask2Former (they
  need mmdet): the supervised loss is the head's own matching loss; the
  semantic inference (class probabilities times mask probabilities, summed
  over queries) gives non-negative scores S (B, K, H, W), whose per-pixel
  normalisation is the predicted class distribution. Their logarithm
  ``log(S + eps)`` serves as logits (its softmax is S / sum(S)), so the
  selector and the per-pixel pseudo-label loss apply unchanged, and the
  gradient reaches the classes and masks of the last decoder layer.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Type

import torch
import torch.nn as nn
from mmseg.models.decode_heads import (
    DAHead,
    DDRHead,
    EncHead,
    IterativeDecodeHead,
    Mask2FormerHead,
    MaskFormerHead,
    PIDHead,
)
from mmseg.models.segmentors import BaseSegmentor, DepthEstimator, EncoderDecoder
from mmseg.utils import SampleList, add_prefix
from torch import Tensor

from ..utils import batch_size, map_tensors, slice_batch
from ..utils.precision import at_least_float32

# Head type -> index, in its training forward's outputs, of the output that
# inference predicts (see the module docstring for why only that one).
PREDICTED_OUTPUT: Dict[Type[nn.Module], int] = {
    DAHead: 0,
    EncHead: 0,
    DDRHead: 0,
    PIDHead: 1,
    IterativeDecodeHead: -1,
}
MASK_CLASSIFICATION_HEADS = (MaskFormerHead, Mask2FormerHead)
# Added to the semantic scores of mask classification before the logarithm.
MASK_SCORE_EPS = 1e-6


def register_predicted_output(head_type: Type[nn.Module], index: int) -> None:
    """Declare which output of ``head_type``'s training forward (a tuple or
    list) inference predicts, so that SemiSegmentor can train it."""
    PREDICTED_OUTPUT[head_type] = index


def predicted_output(head: nn.Module, outputs) -> Tensor:
    """The (B, K, h, w) logits inference predicts among the outputs of
    ``head.forward``: the tensor itself, or the registered output of a
    multi-output head."""
    if isinstance(outputs, Tensor):
        return outputs
    for head_type, index in PREDICTED_OUTPUT.items():
        if isinstance(head, head_type):
            return outputs[index]
    raise TypeError(
        f'{type(head).__name__}.forward returned {type(outputs).__name__} '
        'in training and SemiSegmentor does not know which of its outputs '
        'inference predicts; declare it with mmseg_csl.models.segmentors.'
        f'register_predicted_output({type(head).__name__}, index)')


def _img_metas(size: Sequence[int], num: int) -> List[dict]:
    """Metainfo of ``num`` unpadded images of ``size``, for heads whose
    prediction resizes to the input size."""
    return [dict(img_shape=tuple(size), pad_shape=tuple(size))
            for _ in range(num)]


class DecodeAdapter:
    """The decode-head side of SemiSegmentor for one kind of segmentor.

    Adapters are stateless: every method takes the segmentor (student or
    EMA teacher) it works on.
    """

    def final_head(self, segmentor: BaseSegmentor) -> nn.Module:
        """The head whose prediction is the segmentor's (its
        ``ignore_index`` and ``align_corners`` are the step's)."""
        return segmentor.decode_head

    def loss_and_predict(self, segmentor: BaseSegmentor, feats,
                         num_sup: int, data_samples: SampleList,
                         size: Sequence[int]
                         ) -> Tuple[Dict[str, Tensor], Optional[Tensor]]:
        """Supervised losses of the first ``num_sup`` samples of ``feats``
        and prediction logits (B - num_sup, K, h, w) of the others (None if
        there are none), from one pass through the decode head(s).

        Args:
            segmentor (BaseSegmentor): the wrapped segmentor.
            feats: its backbone (and neck) output on B images.
            num_sup (int): number of labeled samples, first in the batch.
            data_samples (list[SegDataSample]): their data samples.
            size (Sequence[int]): (H, W) of the images.

        Returns:
            The decode losses (names ``decode.*``, or ``decode_<i>.*`` for a
            cascade; not yet weighted) and the logits.
        """
        raise NotImplementedError

    def predict(self, segmentor: BaseSegmentor, feats,
                size: Sequence[int]) -> Tensor:
        """(B, K, h, w) logits of what inference predicts, computed from
        ``feats`` in the segmentor's current mode."""
        raise NotImplementedError


class SingleHeadAdapter(DecodeAdapter):
    """An ``EncoderDecoder``: one forward of the decode head on the whole
    batch, the head's ``loss_by_feat`` on the labeled part of all its
    outputs, and the predicted output (:func:`predicted_output`) of the
    rest."""

    def loss_and_predict(self, segmentor, feats, num_sup, data_samples,
                         size):
        head = segmentor.decode_head
        outputs = head.forward(feats)
        losses = head.loss_by_feat(
            map_tensors(at_least_float32, slice_batch(outputs, 0, num_sup)),
            data_samples)
        logits = predicted_output(head, outputs)[num_sup:]
        return add_prefix(losses, 'decode'), logits if len(logits) else None

    def predict(self, segmentor, feats, size):
        head = segmentor.decode_head
        return predicted_output(head, head.forward(feats))


class CascadeAdapter(DecodeAdapter):
    """A ``CascadeEncoderDecoder``: the stages before the last run once on
    the whole batch; the labeled part gets each stage's own loss (as
    ``CascadeEncoderDecoder.loss``), the rest the last stage's ``predict``
    on the previous stage's output (as ``encode_decode``), in the current
    mode."""

    def final_head(self, segmentor):
        return segmentor.decode_head[-1]

    def loss_and_predict(self, segmentor, feats, num_sup, data_samples,
                         size):
        heads = segmentor.decode_head
        outputs = [heads[0].forward(feats)]
        for head in heads[1:-1]:
            outputs.append(head.forward(feats, outputs[-1]))
        sup_feats = slice_batch(feats, 0, num_sup)
        losses = add_prefix(
            heads[0].loss_by_feat(at_least_float32(outputs[0][:num_sup]),
                                  data_samples), 'decode_0')
        for index, head in enumerate(heads[1:], 1):
            losses.update(add_prefix(
                head.loss(sup_feats, outputs[index - 1][:num_sup],
                          data_samples, segmentor.train_cfg),
                f'decode_{index}'))
        num = len(outputs[0]) - num_sup
        if not num:
            return losses, None
        logits = heads[-1].predict(
            slice_batch(feats, num_sup, None), outputs[-1][num_sup:],
            _img_metas(size, num), segmentor.test_cfg)
        return losses, logits

    def predict(self, segmentor, feats, size):
        heads = segmentor.decode_head
        output = heads[0].forward(feats)
        for head in heads[1:-1]:
            output = head.forward(feats, output)
        return heads[-1].predict(feats, output, _img_metas(size, len(output)),
                                 segmentor.test_cfg)


class MaskClassificationAdapter(DecodeAdapter):
    """MaskFormer and Mask2Former: the head's own loss on the labeled part,
    ``log(S + eps)`` of the semantic scores S of its ``predict`` on the
    rest (see the module docstring)."""

    def loss_and_predict(self, segmentor, feats, num_sup, data_samples,
                         size):
        losses = segmentor.decode_head.loss(
            slice_batch(feats, 0, num_sup), data_samples, segmentor.train_cfg)
        logits = None
        if batch_size(feats) > num_sup:
            logits = self.predict(segmentor, slice_batch(feats, num_sup, None),
                                  size)
        return add_prefix(losses, 'decode'), logits

    def predict(self, segmentor, feats, size):
        scores = segmentor.decode_head.predict(
            feats, _img_metas(size, batch_size(feats)), segmentor.test_cfg)
        return torch.log(at_least_float32(scores) + MASK_SCORE_EPS)


def build_decode_adapter(segmentor: BaseSegmentor) -> DecodeAdapter:
    """The adapter of ``segmentor``'s decode head(s); a TypeError naming
    the segmentor for one SemiSegmentor cannot train: a depth estimator
    (no classes to pseudo-label) or a segmentor that is no
    ``EncoderDecoder`` (e.g. SAN's ``MultimodalEncoderDecoder``, whose head
    classifies against text embeddings of the class names)."""
    if isinstance(segmentor, DepthEstimator):
        raise TypeError(
            'SemiSegmentor trains semantic segmentation with class '
            'pseudo-labels; DepthEstimator predicts depth, to which they do '
            'not apply')
    if not isinstance(segmentor, EncoderDecoder):
        raise TypeError(
            f'SemiSegmentor wraps an EncoderDecoder or a CascadeEncoderDecoder '
            f'(one decode head or a cascade of them); '
            f'{type(segmentor).__name__} is neither: wrap a segmentor of '
            'those types')
    head = segmentor.decode_head
    if isinstance(head, nn.ModuleList):
        return CascadeAdapter()
    if isinstance(head, MASK_CLASSIFICATION_HEADS):
        return MaskClassificationAdapter()
    return SingleHeadAdapter()
