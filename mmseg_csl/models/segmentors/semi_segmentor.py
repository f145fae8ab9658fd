"""A semi-supervised wrapper around any mmseg encoder-decoder segmentor."""
import copy
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.segmentors import BaseSegmentor
from mmseg.registry import MODELS, TASK_UTILS
from mmseg.utils import (
    ConfigType,
    OptConfigType,
    OptMultiConfig,
    OptSampleList,
    SampleList,
    add_prefix,
)
from torch import Tensor

from ..losses import PseudoLabelCrossEntropyLoss
from ..selectors import SelectionResult
from ..utils import (
    ReliableBlockMasking,
    apply_cutmix,
    check_cutmix_params,
    generate_cutmix_masks,
)

SUP_BRANCH = 'sup'
UNSUP_BRANCHES = ('unsup_weak', 'unsup_strong1', 'unsup_strong2')

_DEFAULT_SEMI_TRAIN_CFG = {
    'teacher': 'self',
    'selector': {'type': 'CSLSelector'},
    'fp': {'enabled': True, 'drop_prob': 0.5},
    'cutmix': {'prob': 0.5, 'area': (0.02, 0.4), 'aspect': (0.3, 1 / 0.3)},
    'masking': {'enabled': True, 'block_size': 32, 'ratio': 0.7},
    'sup_weight': 0.5,
    'strong_weights': (0.125, 0.125),
    'fp_weight': 0.25,
}
# Sub-configs merged key by key with their defaults (the selector config is
# replaced as a whole: its keys belong to the chosen selector).
_MERGED_SUBCONFIGS = ('fp', 'cutmix', 'masking')
_DEFAULT_SEMI_TEST_CFG = {'predict_on': 'student'}


class SelectionRecord(NamedTuple):
    """Detached record of the last training step's pseudo-label selection.

    Kept by :class:`SemiSegmentor` for ``CSLSelectorHook``; n is the number of
    trained unlabeled samples and (H, W) the padded input size.

    Attributes:
        result (SelectionResult): the selector's output, fields (n, H, W).
        valid (Tensor): (n, H, W) bool, False on padding.
        gt_sem_seg (Tensor, optional): (n, H, W) int64 ground truth of the
            weak views when their data samples carry ``gt_sem_seg``.
        ignore_index (int): label value of unannotated ground-truth pixels.
    """
    result: SelectionResult
    valid: Tensor
    gt_sem_seg: Optional[Tensor]
    ignore_index: int


def _merge_cfg(name: str, defaults: dict, cfg: Optional[dict]) -> dict:
    """Defaults updated by ``cfg``; an unknown key is an error naming it."""
    cfg = dict(cfg or {})
    unknown = sorted(set(cfg) - set(defaults))
    if unknown:
        raise KeyError(f'{name} has unknown key(s) {unknown}; '
                       f'known keys: {sorted(defaults)}')
    merged = copy.deepcopy(defaults)
    for key, value in cfg.items():
        if key in _MERGED_SUBCONFIGS:
            value = _merge_cfg(f'{name}.{key}', defaults[key], value)
        merged[key] = value
    return merged


def _valid_mask(data_samples: SampleList, size: Sequence[int],
                device: torch.device) -> Tensor:
    """(B, H, W) bool mask of the unpadded region given by ``img_shape``."""
    try:
        shapes = [sample.metainfo['img_shape'][:2] for sample in data_samples]
    except KeyError as error:
        raise KeyError('unlabeled data samples need metainfo "img_shape" '
                       '(the unpadded image size) to mask padding') from error
    shapes = torch.tensor(shapes, device=device)
    rows = torch.arange(size[0], device=device)
    cols = torch.arange(size[1], device=device)
    return (rows[None, :, None] < shapes[:, 0, None, None]) & \
        (cols[None, None, :] < shapes[:, 1, None, None])


@MODELS.register_module()
class SemiSegmentor(BaseSegmentor):
    """Weak-to-strong consistency training of a wrapped mmseg segmentor.

    One training step (CSL_SPEC section 5) on a batch of branches ``sup``
    (labeled, n_x samples) and ``unsup_weak``, ``unsup_strong1``,
    ``unsup_strong2`` (2n samples: the first n are trained, the last n are
    the CutMix sources u'), all padded to one size (H, W):

    1. one forward of [x; u_w] through backbone (and neck); the decode head
       also sees Dropout2d-perturbed features of u_w (feature perturbation,
       ``fp``);
    2. pseudo-labels and weights of u_w and u' from the selector, applied to
       the softmax of the weak logits resized to (H, W) and detached; padding
       is invalid. u' is predicted without gradient in eval mode (or, with
       ``teacher='ema'``, both come from the EMA teacher);
    3. CutMix of each strong view with the matching strong view of u',
       targets and weights pasted with the pixels; a strong-2 view whose
       metainfo has ``masked_view=True`` (masking enabled) gets no CutMix but
       reliable-pixel block masking, and keeps the un-mixed targets;
    4. one forward of both strong views; the loss is
       ``sup_weight * L_x + w1 * L_s1 + w2 * L_s2 + fp_weight * L_fp``.

    Every term is returned under its own name (``sup.decode.loss_ce``,
    ``sup.aux.loss_ce``, ``unsup.loss_s1``, ``unsup.loss_s2``,
    ``unsup.loss_fp``); the supervised terms are the heads' own losses scaled
    by ``sup_weight``. A batch without unlabeled branches trains the
    supervised term only. The selection of the trained unlabeled half is
    kept in :attr:`last_selection` (a :class:`SelectionRecord`).

    Inference (``predict``, ``_forward``, ``extract_feat``,
    ``encode_decode``) is the wrapped segmentor's, or the teacher's with
    ``semi_test_cfg=dict(predict_on='teacher')``.

    Args:
        segmentor (dict): Config of the wrapped segmentor, e.g. an
            ``EncoderDecoder`` with a single decode head.
        semi_train_cfg (dict): Training options, merged with the defaults:
            ``teacher`` ('self' or 'ema'; 'ema' keeps a gradient-free copy
            of the segmentor, updated by ``MeanTeacherHook``, that produces
            the pseudo-labels), ``selector`` (TASK_UTILS config,
            default ``dict(type='CSLSelector')``),
            ``fp=dict(enabled=True, drop_prob=0.5)``,
            ``cutmix=dict(prob=0.5, area=(0.02, 0.4), aspect=(0.3, 1/0.3))``,
            ``masking=dict(enabled=True, block_size=32, ratio=0.7)``,
            ``sup_weight=0.5``, ``strong_weights=(0.125, 0.125)``,
            ``fp_weight=0.25``.
        data_preprocessor (dict): Config of the data preprocessor, normally
            ``MultiBranchDataPreProcessor``.
        semi_test_cfg (dict, optional): ``predict_on`` ('student' or
            'teacher'). Defaults to predicting with the student.
        train_cfg, pretrained: Accepted only because
            ``mmseg.apis.init_model`` sets both to None on the config it
            builds; they must be None (set them inside ``segmentor``).
        init_cfg (dict, optional): Initialisation config of the wrapper.

    A plain mmseg state dict (keys ``backbone.*``, ``decode_head.*``, ...)
    loads into this wrapper: its keys are mapped onto the wrapped segmentor
    (and the teacher), so ``load_from`` a supervised checkpoint works.
    """

    def __init__(self,
                 segmentor: ConfigType,
                 semi_train_cfg: ConfigType,
                 data_preprocessor: ConfigType,
                 semi_test_cfg: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 pretrained: Optional[str] = None,
                 init_cfg: OptMultiConfig = None):
        if train_cfg is not None or pretrained is not None:
            raise ValueError('SemiSegmentor takes train_cfg and pretrained '
                             'only inside its `segmentor` config')
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        cfg = _merge_cfg('semi_train_cfg', _DEFAULT_SEMI_TRAIN_CFG,
                         semi_train_cfg)
        test_cfg = _merge_cfg('semi_test_cfg', _DEFAULT_SEMI_TEST_CFG,
                              semi_test_cfg)
        self._check_cfg(cfg, test_cfg)

        self.segmentor = MODELS.build(segmentor)
        if isinstance(self.segmentor.decode_head, nn.ModuleList):
            raise TypeError('SemiSegmentor needs a segmentor with a single '
                            'decode head, got a list of decode heads')
        self.teacher = None
        if cfg['teacher'] == 'ema':
            self.teacher = copy.deepcopy(self.segmentor).requires_grad_(False)
        self.predict_on = test_cfg['predict_on']

        self.selector = TASK_UTILS.build(cfg['selector'])
        self.fp_enabled = cfg['fp']['enabled']
        self.feature_dropout = nn.Dropout2d(cfg['fp']['drop_prob'])
        self.cutmix_cfg = cfg['cutmix']
        check_cutmix_params(**self.cutmix_cfg)
        self.masking_enabled = cfg['masking']['enabled']
        self.masking = ReliableBlockMasking(
            block_size=cfg['masking']['block_size'],
            ratio=cfg['masking']['ratio'])
        self.unsup_loss = PseudoLabelCrossEntropyLoss()
        self.sup_weight = cfg['sup_weight']
        self.strong_weights = tuple(cfg['strong_weights'])
        self.fp_weight = cfg['fp_weight']
        self.last_selection: Optional[SelectionRecord] = None

    @staticmethod
    def _check_cfg(cfg: dict, test_cfg: dict) -> None:
        if cfg['teacher'] not in ('self', 'ema'):
            raise ValueError(f"semi_train_cfg.teacher must be 'self' or "
                             f"'ema', got {cfg['teacher']!r}")
        if len(cfg['strong_weights']) != 2:
            raise ValueError('semi_train_cfg.strong_weights needs one weight '
                             f"per strong view, got {cfg['strong_weights']}")
        if test_cfg['predict_on'] not in ('student', 'teacher'):
            raise ValueError(f"semi_test_cfg.predict_on must be 'student' or "
                             f"'teacher', got {test_cfg['predict_on']!r}")
        if test_cfg['predict_on'] == 'teacher' and cfg['teacher'] != 'ema':
            raise ValueError("semi_test_cfg.predict_on='teacher' needs "
                             "semi_train_cfg.teacher='ema'")

    # ------------------------------------------------------------------
    # inference: delegated to the wrapped segmentor (or the teacher)
    # ------------------------------------------------------------------
    @property
    def inference_segmentor(self) -> BaseSegmentor:
        """The segmentor that serves ``predict`` and ``_forward``."""
        return self.teacher if self.predict_on == 'teacher' else self.segmentor

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        return self.inference_segmentor.extract_feat(inputs)

    def encode_decode(self, inputs: Tensor,
                      batch_img_metas: List[dict]) -> Tensor:
        return self.inference_segmentor.encode_decode(inputs, batch_img_metas)

    def predict(self,
                inputs: Tensor,
                data_samples: OptSampleList = None) -> SampleList:
        return self.inference_segmentor.predict(inputs, data_samples)

    def _forward(self,
                 inputs: Tensor,
                 data_samples: OptSampleList = None) -> Tensor:
        return self.inference_segmentor._forward(inputs, data_samples)

    def train(self, mode: bool = True) -> 'SemiSegmentor':
        """Set the training mode; the teacher always stays in eval mode."""
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args,
                              **kwargs) -> None:
        """Map a plain segmentor's keys onto ``segmentor.`` (and
        ``teacher.``) before loading, so supervised checkpoints load."""
        own_keys = [key for key in state_dict if key.startswith(prefix)]
        wrapped = (f'{prefix}segmentor.', f'{prefix}teacher.')
        if own_keys and not any(key.startswith(wrapped) for key in own_keys):
            for key in own_keys:
                value = state_dict.pop(key)
                name = key[len(prefix):]
                state_dict[f'{prefix}segmentor.{name}'] = value
                if self.teacher is not None:
                    state_dict[f'{prefix}teacher.{name}'] = value
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ------------------------------------------------------------------
    # training
    # ------------------------------------------------------------------
    def loss(self, inputs: Dict[str, Tensor],
             data_samples: Dict[str, SampleList]) -> Dict[str, Tensor]:
        """Losses of one multi-branch batch (see the class docstring).

        Args:
            inputs (dict[str, Tensor]): branch name -> (B, 3, H, W) images;
                a plain tensor is taken as the ``sup`` branch.
            data_samples (dict[str, list[SegDataSample]]): branch name ->
                data samples with ``img_shape`` metainfo (and ``gt_sem_seg``
                for ``sup``).

        Returns:
            dict[str, Tensor]: named loss terms and the heads' accuracies.
        """
        if isinstance(inputs, Tensor):
            inputs, data_samples = {SUP_BRANCH: inputs}, \
                {SUP_BRANCH: data_samples}
        self._check_branches(inputs, data_samples)
        self.last_selection = None
        if UNSUP_BRANCHES[0] not in inputs:
            feats = self.segmentor.extract_feat(inputs[SUP_BRANCH])
            logits = self._decode(self.segmentor, feats)
            return self._sup_losses(feats, logits, data_samples[SUP_BRANCH])
        return self._semi_losses(inputs, data_samples)

    @staticmethod
    def _check_branches(inputs: Dict[str, Tensor],
                        data_samples: Dict[str, SampleList]) -> None:
        if SUP_BRANCH not in inputs:
            raise KeyError(f"SemiSegmentor.loss needs a '{SUP_BRANCH}' "
                           f'branch, got branches {sorted(inputs)}')
        present = [branch for branch in UNSUP_BRANCHES if branch in inputs]
        if present and len(present) != len(UNSUP_BRANCHES):
            missing = sorted(set(UNSUP_BRANCHES) - set(present))
            raise KeyError(f'unlabeled branches {missing} are missing; '
                           f'a semi-supervised batch needs {UNSUP_BRANCHES}')
        for branch, images in inputs.items():
            if len(data_samples[branch]) != len(images):
                raise ValueError(
                    f"branch '{branch}' has {len(images)} images but "
                    f'{len(data_samples[branch])} data samples')
        if not present:
            return
        weak = inputs[UNSUP_BRANCHES[0]]
        if len(weak) % 2:
            raise ValueError(
                f'unlabeled branches hold {len(weak)} samples; they need an '
                'even number (n trained + n CutMix sources), e.g. '
                'MultiSourceSampler(source_ratio=[1, 2])')
        for branch in (SUP_BRANCH, ) + UNSUP_BRANCHES[1:]:
            shape = inputs[branch].shape
            if shape[1:] != weak.shape[1:] or (branch != SUP_BRANCH
                                               and shape != weak.shape):
                raise ValueError(
                    f"branch '{branch}' has images of shape {tuple(shape)} "
                    f"but 'unsup_weak' has {tuple(weak.shape)}; pad all "
                    'branches to one size (the data preprocessor\'s `size`)')

    def _semi_losses(self, inputs: Dict[str, Tensor],
                     data_samples: Dict[str, SampleList]) -> Dict[str, Tensor]:
        sup_images, sup_samples = inputs[SUP_BRANCH], data_samples[SUP_BRANCH]
        weak, strong1, strong2 = (inputs[b] for b in UNSUP_BRANCHES)
        weak_samples = data_samples[UNSUP_BRANCHES[0]]
        num_sup, num_u = len(sup_images), len(weak) // 2
        size = weak.shape[2:]
        valid = _valid_mask(weak_samples, size, weak.device)

        feats = self.segmentor.extract_feat(
            torch.cat([sup_images, weak[:num_u]]))
        head_inputs = feats
        if self.fp_enabled:
            head_inputs = [
                torch.cat([feat, self.feature_dropout(feat[num_sup:])])
                for feat in feats
            ]
        logits = self._decode(self.segmentor, head_inputs)
        losses = self._sup_losses([feat[:num_sup] for feat in feats],
                                  logits[:num_sup], sup_samples)

        train_probs, source_probs = self._weak_probs(
            weak, logits[num_sup:num_sup + num_u])
        selection = self.selector(train_probs, valid[:num_u])
        source_selection = self.selector(source_probs, valid[num_u:])
        targets = (selection.pseudo_label, selection.weight, valid[:num_u])
        source_targets = (source_selection.pseudo_label,
                          source_selection.weight, valid[num_u:])

        masked = self._masked_views(data_samples[UNSUP_BRANCHES[2]][:num_u],
                                    weak.device)
        strong1, targets1 = self._cutmix(strong1, None, targets,
                                         source_targets)
        strong2, targets2 = self._cutmix(strong2, ~masked, targets,
                                         source_targets)
        if masked.any():
            strong2[masked] = self.masking(strong2[masked],
                                           selection.reliable[masked])[0]

        strong_logits = self._resize(
            self._decode(self.segmentor,
                         self.segmentor.extract_feat(
                             torch.cat([strong1, strong2]))), size)
        weight1, weight2 = self.strong_weights
        losses['unsup.loss_s1'] = weight1 * self.unsup_loss(
            strong_logits[:num_u], *targets1)
        losses['unsup.loss_s2'] = weight2 * self.unsup_loss(
            strong_logits[num_u:], *targets2)
        if self.fp_enabled:
            fp_logits = self._resize(logits[num_sup + num_u:], size)
            losses['unsup.loss_fp'] = self.fp_weight * self.unsup_loss(
                fp_logits, *targets)

        self.last_selection = SelectionRecord(
            result=selection,
            valid=valid[:num_u],
            gt_sem_seg=self._stack_gt(weak_samples[:num_u], size),
            ignore_index=self.segmentor.decode_head.ignore_index)
        return losses

    def _sup_losses(self, feats: Sequence[Tensor], logits: Tensor,
                    data_samples: SampleList) -> Dict[str, Tensor]:
        """Decode and auxiliary head losses of labeled features, named
        ``sup.<head>.<name>``; loss terms are scaled by ``sup_weight``."""
        segmentor = self.segmentor
        losses = add_prefix(
            segmentor.decode_head.loss_by_feat(logits, data_samples),
            'decode')
        if segmentor.with_auxiliary_head:
            heads = segmentor.auxiliary_head
            if isinstance(heads, nn.ModuleList):
                names = [f'aux_{idx}' for idx in range(len(heads))]
            else:
                heads, names = [heads], ['aux']
            for head, name in zip(heads, names):
                losses.update(
                    add_prefix(
                        head.loss(feats, data_samples, segmentor.train_cfg),
                        name))
        return {
            f'{SUP_BRANCH}.{name}':
            value * self.sup_weight if 'loss' in name else value
            for name, value in losses.items()
        }

    def _weak_probs(self, weak: Tensor,
                    train_logits: Tensor) -> Tuple[Tensor, Tensor]:
        """Detached softmax of the weak view at input size, (n, K, H, W)
        for the trained half and for the CutMix sources."""
        num_u = len(weak) // 2
        if self.teacher is not None:
            logits = self._eval_logits(self.teacher, weak)
            train_logits, source_logits = logits[:num_u], logits[num_u:]
        else:
            source_logits = self._eval_logits(self.segmentor, weak[num_u:])
        return tuple(
            self._resize(logits.detach(), weak.shape[2:]).float().softmax(1)
            for logits in (train_logits, source_logits))

    @torch.no_grad()
    def _eval_logits(self, segmentor: BaseSegmentor, images: Tensor) -> Tensor:
        """Logits of ``images`` in eval mode, without gradient."""
        was_training = segmentor.training
        segmentor.eval()
        try:
            return self._decode(segmentor, segmentor.extract_feat(images))
        finally:
            segmentor.train(was_training)

    def _masked_views(self, data_samples: SampleList,
                      device: torch.device) -> Tensor:
        """(n,) bool: strong-2 views to block-mask instead of CutMix."""
        flags = [
            self.masking_enabled and bool(sample.metainfo.get(
                'masked_view', False)) for sample in data_samples
        ]
        return torch.tensor(flags, dtype=torch.bool, device=device)

    def _cutmix(self, images: Tensor, eligible: Optional[Tensor],
                targets: Sequence[Tensor], source_targets: Sequence[Tensor]
                ) -> Tuple[Tensor, Tuple[Tensor, ...]]:
        """CutMix of the first half of ``images`` (2n, C, H, W) with the
        second half; only ``eligible`` samples (n,) bool (None: all) can get
        a box."""
        num_u = len(images) // 2
        boxes = generate_cutmix_masks(
            num_u, images.shape[2:], device=images.device, **self.cutmix_cfg)
        if eligible is not None:
            boxes &= eligible[:, None, None]
        return apply_cutmix(boxes, images[:num_u], images[num_u:], targets,
                            source_targets)

    def _stack_gt(self, data_samples: SampleList,
                  size: Sequence[int]) -> Optional[Tensor]:
        """(n, H, W) ground truth of the weak views, if all carry one."""
        if not all('gt_sem_seg' in sample for sample in data_samples):
            return None
        gt = torch.stack(
            [sample.gt_sem_seg.data[0] for sample in data_samples]).long()
        if gt.shape[1:] != tuple(size):
            raise ValueError(f'gt_sem_seg of the weak views has size '
                             f'{tuple(gt.shape[1:])}, images {tuple(size)}')
        return gt

    @staticmethod
    def _decode(segmentor: BaseSegmentor, feats: Sequence[Tensor]) -> Tensor:
        logits = segmentor.decode_head.forward(feats)
        if not isinstance(logits, Tensor):
            raise TypeError(
                f'{type(segmentor.decode_head).__name__}.forward returned '
                f'{type(logits).__name__}; SemiSegmentor needs a decode head '
                'whose forward returns one logits tensor')
        return logits

    def _resize(self, logits: Tensor, size: Sequence[int]) -> Tensor:
        """Bilinear resize of (B, K, h, w) logits to ``size``."""
        if tuple(logits.shape[2:]) == tuple(size):
            return logits
        return F.interpolate(
            logits,
            size=tuple(size),
            mode='bilinear',
            align_corners=self.segmentor.decode_head.align_corners)
