"""A semi-supervised wrapper around any mmseg encoder-decoder segmentor."""
import copy
import logging
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
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
from ..selectors import NonFiniteProbabilitiesError, SelectionRecord, SelectionResult
from ..utils import (
    ReliableBlockMasking,
    TrainingDivergedError,
    apply_cutmix,
    check_cutmix_params,
    divergence_message,
    generate_cutmix_masks,
    has_spatial_tensor,
    map_tensors,
    running_stats_kept,
    slice_batch,
    step_phase,
)
from ..utils.precision import at_least_float32
from .decode_adapters import build_decode_adapter
from .semi_checkpoint_keys import wrap_segmentor_keys
from .zoo_dependencies import check_zoo_dependencies

SUP_BRANCH = 'sup'
UNSUP_BRANCHES = ('unsup_weak', 'unsup_strong1', 'unsup_strong2')
# Names of the two strong views in ``semi_train_cfg.cutmix.views``.
STRONG_VIEWS = ('strong1', 'strong2')
# ``semi_train_cfg.bn_running_stats``: which forwards update the running
# statistics of the normalisation layers (see SemiSegmentor).
BN_RUNNING_STATS = ('weak_forward', 'unimatch')

_DEFAULT_SEMI_TRAIN_CFG = {
    'teacher': 'self',
    'selector': {'type': 'CSLSelector'},
    'fp': {'enabled': True, 'drop_prob': 0.5},
    'cutmix': {
        'views': STRONG_VIEWS,
        'source_view': None,
        'prob': 0.5,
        'area': (0.02, 0.4),
        'aspect': (0.3, 1 / 0.3)
    },
    'masking': {'block_size': 32, 'ratio': 0.7},
    'bn_running_stats': 'weak_forward',
    'sup_weight': 0.5,
    'strong_weights': (0.125, 0.125),
    'fp_weight': 0.25,
}
# Sub-configs merged key by key with their defaults (the selector config is
# replaced as a whole: its keys belong to the chosen selector).
_MERGED_SUBCONFIGS = ('fp', 'cutmix', 'masking')
_DEFAULT_SEMI_TEST_CFG = {'predict_on': 'student'}


class UnlabeledBatch(NamedTuple):
    """The unlabeled branches of one batch: 2n samples each, the first n
    trained, the last n the CutMix sources u'; (H, W) the padded size.

    Attributes:
        weak (Tensor): (2n, C, H, W) weak views.
        strong (tuple[Tensor, Tensor]): the two strong views, (2n, C, H, W).
        valid (Tensor): (2n, H, W) bool, False on padding.
        masked (Tensor): (n,) bool, trained samples whose second strong view
            is a masked view (``masked_view=True`` in its metainfo).
        weak_samples (list[SegDataSample]): data samples of the weak views.
    """
    weak: Tensor
    strong: Tuple[Tensor, Tensor]
    valid: Tensor
    masked: Tensor
    weak_samples: SampleList

    @property
    def num_trained(self) -> int:
        return len(self.weak) // 2


class PseudoLabels(NamedTuple):
    """Pseudo-labels of the weak views: the selection of the trained half and
    per-pixel targets ``(pseudo_label, weight, valid)``, each (n, H, W), of
    the trained half and of the CutMix sources."""
    selection: SelectionResult
    targets: Tuple[Tensor, Tensor, Tensor]
    source_targets: Tuple[Tensor, Tensor, Tensor]


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


def _has_masked_view_marks(data_samples: SampleList) -> bool:
    """Whether the samples come from a masked-view branch: its samples carry
    ``masked_view`` (True or False) in their metainfo."""
    return any('masked_view' in sample.metainfo for sample in data_samples)


@MODELS.register_module()
class SemiSegmentor(BaseSegmentor):
    """Weak-to-strong consistency training of a wrapped mmseg segmentor.

    One training step (``docs/method.md``, "The training step") on a batch of
    branches ``sup`` (labeled, n_x samples) and ``unsup_weak``,
    ``unsup_strong1``, ``unsup_strong2`` (2n samples: the first n are
    trained, the last n are the CutMix sources u'), all padded to one size
    (H, W). :meth:`loss` runs it as four named steps:

    1. :meth:`supervised_loss`, on the labeled part of one forward of
       [x; u_w] through backbone (and neck) and decode head; the head also
       sees Dropout2d-perturbed features of [x; u_w], of which the u_w part
       is trained (feature perturbation,
       ``fp``: every (B, C, h, w) leaf of the backbone output, whatever its
       nesting; switched off with a warning for a backbone without one).
       With ``bn_running_stats='weak_forward'`` this is the only forward
       that updates the running statistics of the normalisation layers.
    2. :meth:`pseudo_labels`: the selector turns the softmax of the weak
       logits (resized to (H, W), detached) of u_w and of u' into
       pseudo-labels and weights; padding is invalid. u' is predicted
       without gradient: in train mode with the running statistics kept
       (``'weak_forward'``, the CSL authors' code) or in eval mode
       (``'unimatch'``); with ``teacher='ema'`` the EMA teacher predicts
       both in eval mode.
    3. :meth:`strong_views`: each strong view named in ``cutmix.views``
       gets a CutMix box from the matching view of u' (or from the view of
       u' that ``cutmix.source_view`` names), targets and weights pasted
       with the pixels; a second strong view whose metainfo has
       ``masked_view=True`` gets random blocks of its reliable pixels set to
       0 (``masking``) and keeps the un-mixed targets. A masked view is
       never mixed: masked views with ``'strong2'`` in ``cutmix.views`` are
       an error.
    4. :meth:`unsupervised_losses`: one forward of both strong views (in
       train mode; with ``'weak_forward'`` the running statistics are
       restored afterwards, with ``'unimatch'`` it updates them) and the
       weighted pseudo-label losses of the strong views and of the
       perturbed-feature prediction.

    Under mixed precision (``torch.autocast``, mmengine's
    ``AmpOptimWrapper``) the networks run in the autocast dtype, and the
    losses and the selection in float32: logits are cast to float32 before
    they are resized to the label size, and the selector runs outside
    autocast on float32 probabilities.

    The total is ``sup_weight * L_x + w1 * L_s1 + w2 * L_s2 + fp_weight *
    L_fp``; every term is returned under its own name
    (``sup.decode.loss_ce``, ``sup.aux.loss_ce``, ``unsup.loss_s1``,
    ``unsup.loss_s2``, ``unsup.loss_fp``), the supervised terms being the
    heads' own losses scaled by ``sup_weight``. A batch without unlabeled
    branches trains the supervised term only. The selection of the trained
    unlabeled half is kept in :attr:`last_selection` (a
    :class:`SelectionRecord`). A prediction that is not finite where it
    reaches the selector (NaN probabilities, found by the selector's input
    check) raises :class:`TrainingDivergedError` with the iteration, the last
    finite loss terms and what to try (:func:`divergence_message`).

    Inference (``predict``, ``_forward``, ``extract_feat``,
    ``encode_decode``) is the wrapped segmentor's, or the teacher's with
    ``semi_test_cfg=dict(predict_on='teacher')``.

    Args:
        segmentor (dict): Config of the wrapped segmentor: an
            ``EncoderDecoder`` (any decode head, multi-output heads and
            MaskFormer/Mask2Former included) or a ``CascadeEncoderDecoder``.
            The unsupervised losses train the output its inference predicts
            (:mod:`.decode_adapters` says which, per head kind); a model
            built from mmdet or mmpretrain without that package installed is
            an ImportError naming it, before the build.
        semi_train_cfg (dict): Training options, merged with the defaults:

            - ``teacher`` ('self' or 'ema'; 'ema' keeps a gradient-free copy
              of the segmentor, updated by ``MeanTeacherHook``, that
              produces the pseudo-labels);
            - ``selector``: TASK_UTILS config, default
              ``dict(type='CSLSelector')`` (the CSL release);
            - ``fp=dict(enabled=True, drop_prob=0.5)``;
            - ``cutmix=dict(views=('strong1', 'strong2'), source_view=None,
              prob=0.5, area=(0.02, 0.4), aspect=(0.3, 1/0.3))``: ``views``
              names the strong views that get CutMix (both in the CSL
              release, ``('strong1',)`` in the masking version);
              ``source_view`` the strong view of u' that all of them paste
              from, None for each its own (UniMatch; the CSL release pastes
              both from ``'strong1'``);
            - ``masking=dict(block_size=32, ratio=0.7)``: the block mask of
              masked views. Whether there are masked views is the data
              pipeline's choice (its ``masked_view`` metainfo), so that the
              switch exists once;
            - ``bn_running_stats``: ``'weak_forward'`` (the CSL authors'
              code: only the [x; u_w] forward updates the running
              statistics) or ``'unimatch'`` (u' predicted in eval mode, the
              strong forward updates them);
            - ``sup_weight=0.5``, ``strong_weights=(0.125, 0.125)``,
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

        check_zoo_dependencies(segmentor)
        self.segmentor = MODELS.build(segmentor)
        self.decode_adapter = build_decode_adapter(self.segmentor)
        self.teacher = None
        if cfg['teacher'] == 'ema':
            self.teacher = copy.deepcopy(self.segmentor).requires_grad_(False)
        self.predict_on = test_cfg['predict_on']

        self.selector = TASK_UTILS.build(cfg['selector'])
        self.fp_enabled = cfg['fp']['enabled']
        self.feature_dropout = nn.Dropout2d(cfg['fp']['drop_prob'])
        cutmix = dict(cfg['cutmix'])
        self.cutmix_views = tuple(cutmix.pop('views'))
        self.cutmix_source_view = cutmix.pop('source_view')
        self.cutmix_cfg = cutmix
        check_cutmix_params(**self.cutmix_cfg)
        self.masking = ReliableBlockMasking(**cfg['masking'])
        self.keep_running_stats = cfg['bn_running_stats'] == 'weak_forward'
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
        views = tuple(cfg['cutmix']['views'])
        if not set(views) <= set(STRONG_VIEWS) or len(set(views)) != len(views):
            raise ValueError(f'semi_train_cfg.cutmix.views must name distinct '
                             f'strong views of {STRONG_VIEWS}, got {views}')
        source_view = cfg['cutmix']['source_view']
        if source_view is not None and source_view not in STRONG_VIEWS:
            raise ValueError(f'semi_train_cfg.cutmix.source_view must be None '
                             f'or one of {STRONG_VIEWS}, got {source_view!r}')
        if cfg['bn_running_stats'] not in BN_RUNNING_STATS:
            raise ValueError(f'semi_train_cfg.bn_running_stats must be one of '
                             f"{BN_RUNNING_STATS}, got {cfg['bn_running_stats']!r}")
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
        wrap_segmentor_keys(state_dict, prefix, self.teacher is not None)
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
        sup_images, sup_samples = inputs[SUP_BRANCH], data_samples[SUP_BRANCH]
        if UNSUP_BRANCHES[0] not in inputs:
            feats = self.segmentor.extract_feat(sup_images)
            decode_losses, _ = self.decode_adapter.loss_and_predict(
                self.segmentor, feats, len(sup_images), sup_samples,
                sup_images.shape[2:])
            return self.supervised_loss(feats, decode_losses, sup_samples)

        batch = self._unlabeled_batch(inputs, data_samples)
        losses, weak_logits, fp_logits = self._labeled_and_weak_forward(
            sup_images, sup_samples, batch)
        try:
            pseudo = self.pseudo_labels(batch, weak_logits)
        except NonFiniteProbabilitiesError as error:
            raise TrainingDivergedError(divergence_message(
                'the prediction on the unlabeled weak views, whose softmax '
                'makes the pseudo-labels, is not finite (NaN reached the '
                'selector)')) from error
        views, view_targets = self.strong_views(batch, pseudo)
        losses.update(
            self.unsupervised_losses(views, view_targets, fp_logits, pseudo))
        self.last_selection = SelectionRecord(
            result=pseudo.selection,
            valid=pseudo.targets[2],
            gt_sem_seg=self._stack_gt(batch.weak_samples[:batch.num_trained],
                                      batch.weak.shape[2:]),
            ignore_index=self._final_head.ignore_index)
        return losses

    def supervised_loss(self, feats, decode_losses: Dict[str, Tensor],
                        data_samples: SampleList) -> Dict[str, Tensor]:
        """The wrapped segmentor's own losses on labeled features: its
        decode losses (computed by the decode adapter, see
        :mod:`.decode_adapters`) and its auxiliary heads' losses.

        Args:
            feats: backbone (and neck) features of the labeled images, for
                the auxiliary heads.
            decode_losses (dict[str, Tensor]): the decode head(s)' losses of
                the same, named ``decode.*`` (``decode_<i>.*`` for each stage
                of a cascade).
            data_samples (list[SegDataSample]): with ``gt_sem_seg``.

        Returns:
            dict[str, Tensor]: decode and auxiliary head losses, named
            ``sup.<head>.<name>``, loss terms scaled by ``sup_weight``.
        """
        segmentor = self.segmentor
        losses = dict(decode_losses)
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

    @step_phase('pseudo_labels')
    def pseudo_labels(self, batch: UnlabeledBatch,
                      weak_logits: Tensor) -> PseudoLabels:
        """Pseudo-labels and weights of the trained weak views and of the
        CutMix sources.

        Args:
            batch (UnlabeledBatch): the unlabeled branches.
            weak_logits (Tensor): (n, K, h, w) logits of the trained weak
                views from the [x; u_w] forward.
        """
        num_u = batch.num_trained
        if self.teacher is not None:
            logits = self._eval_logits(self.teacher, batch.weak)
            weak_logits, source_logits = logits[:num_u], logits[num_u:]
        else:
            source_logits = self._source_logits(batch.weak[num_u:])
        size = batch.weak.shape[2:]
        valid, source_valid = batch.valid[:num_u], batch.valid[num_u:]
        # float32 probabilities, and no autocast inside the selector, whose
        # sums (e.g. torch.linalg.vecdot on CPU) autocast would lower.
        with torch.autocast(weak_logits.device.type, enabled=False):
            probs, source_probs = (
                self._resize(at_least_float32(logits.detach()), size).softmax(1)
                for logits in (weak_logits, source_logits))
            selection = self.selector(probs, valid)
            source = self.selector(source_probs, source_valid)
        return PseudoLabels(
            selection=selection,
            targets=(selection.pseudo_label, selection.weight, valid),
            source_targets=(source.pseudo_label, source.weight, source_valid))

    @step_phase('strong_views')
    def strong_views(
        self, batch: UnlabeledBatch, pseudo: PseudoLabels
    ) -> Tuple[List[Tensor], List[Tuple[Tensor, Tensor, Tensor]]]:
        """The two trained strong views, each (n, C, H, W), and their
        targets ``(pseudo_label, weight, valid)``: CutMix on the views named
        in ``cutmix.views``, reliable-pixel block masking on masked views."""
        num_u = batch.num_trained
        views, targets = [], []
        for name, images in zip(STRONG_VIEWS, batch.strong):
            if name in self.cutmix_views:
                source_view = self.cutmix_source_view or name
                sources = batch.strong[STRONG_VIEWS.index(source_view)][num_u:]
                mixed, mixed_targets = self._cutmix(images[:num_u], sources,
                                                    pseudo)
            else:
                mixed, mixed_targets = images[:num_u], pseudo.targets
            views.append(mixed)
            targets.append(mixed_targets)
        if batch.masked.any():
            reliable = pseudo.selection.reliable & batch.masked[:, None, None]
            views[1] = self.masking(views[1], reliable)[0]
        return views, targets

    @step_phase('unsupervised_losses')
    def unsupervised_losses(self, views: Sequence[Tensor],
                            targets: Sequence[Tuple[Tensor, Tensor, Tensor]],
                            fp_logits: Optional[Tensor],
                            pseudo: PseudoLabels) -> Dict[str, Tensor]:
        """Weighted pseudo-label losses of the strong views (one forward of
        both) and of the perturbed-feature logits (n, K, h, w), if any."""
        size = views[0].shape[2:]
        with running_stats_kept(self.segmentor, self.keep_running_stats):
            strong_logits = self.decode_adapter.predict(
                self.segmentor,
                self.segmentor.extract_feat(torch.cat(list(views))), size)
        strong_logits = self._resize(at_least_float32(strong_logits),
                                     size).chunk(len(views))
        losses = {
            f'unsup.loss_s{index + 1}':
            weight * self.unsup_loss(logits, *view_targets)
            for index, (logits, view_targets, weight) in enumerate(
                zip(strong_logits, targets, self.strong_weights))
        }
        if fp_logits is not None:
            losses['unsup.loss_fp'] = self.fp_weight * self.unsup_loss(
                self._resize(at_least_float32(fp_logits), size), *pseudo.targets)
        return losses

    @step_phase('labeled_and_weak_forward')
    def _labeled_and_weak_forward(
            self, sup_images: Tensor, sup_samples: SampleList,
            batch: UnlabeledBatch
    ) -> Tuple[Dict[str, Tensor], Tensor, Optional[Tensor]]:
        """One forward of [x; u_w]: the supervised losses, the logits
        (n, K, h, w) of u_w and those of its perturbed features (None
        without ``fp``).

        Feature perturbation appends Dropout2d of every (B, C, h, w) feature
        leaf of [x; u_w] to the batch, whatever the backbone's output
        structure (lists, nested lists, (feature, cls token) pairs); other
        leaves (class tokens) are appended unperturbed. As in the reference
        code the decode head sees the perturbed features of x too (its batch
        statistics include them), and only those of u_w are trained.
        """
        num_sup, num_u = len(sup_images), batch.num_trained
        feats = self.segmentor.extract_feat(
            torch.cat([sup_images, batch.weak[:num_u]]))
        decode_feats = feats
        if self.fp_enabled and self._can_perturb(feats):
            decode_feats = map_tensors(
                lambda feat: torch.cat([feat, self._perturb(feat)]), feats)
        decode_losses, logits = self.decode_adapter.loss_and_predict(
            self.segmentor, decode_feats, num_sup, sup_samples,
            batch.weak.shape[2:])
        losses = self.supervised_loss(
            slice_batch(feats, 0, num_sup), decode_losses, sup_samples)
        fp_logits = logits[num_u + num_sup:] if len(logits) > num_u else None
        return losses, logits[:num_u], fp_logits

    def _perturb(self, feat: Tensor) -> Tensor:
        """Dropout2d of a (B, C, h, w) feature; other tensors unchanged."""
        return self.feature_dropout(feat) if feat.dim() == 4 else feat

    def _can_perturb(self, feats) -> bool:
        """Whether ``feats`` has a (B, C, h, w) leaf to perturb; if not,
        feature perturbation is switched off with a warning."""
        if has_spatial_tensor(feats):
            return True
        self.fp_enabled = False
        print_log(
            f'{type(self.segmentor.backbone).__name__} returns no (B, C, h, '
            'w) feature map, so feature perturbation (channel dropout) cannot '
            'apply: it is switched off and unsup.loss_fp is not computed; set '
            'semi_train_cfg.fp.enabled=False to silence this warning',
            logger='current', level=logging.WARNING)
        return False

    @torch.no_grad()
    def _source_logits(self, images: Tensor) -> Tensor:
        """Logits of the CutMix sources u', without gradient: in train mode
        with the running statistics kept (``'weak_forward'``) or in eval
        mode (``'unimatch'``)."""
        if not self.keep_running_stats:
            return self._eval_logits(self.segmentor, images)
        with running_stats_kept(self.segmentor):
            return self.decode_adapter.predict(
                self.segmentor, self.segmentor.extract_feat(images),
                images.shape[2:])

    @torch.no_grad()
    def _eval_logits(self, segmentor: BaseSegmentor, images: Tensor) -> Tensor:
        """Logits of ``images`` in eval mode, without gradient."""
        was_training = segmentor.training
        segmentor.eval()
        try:
            return self.decode_adapter.predict(
                segmentor, segmentor.extract_feat(images), images.shape[2:])
        finally:
            segmentor.train(was_training)

    def _cutmix(self, images: Tensor, sources: Tensor, pseudo: PseudoLabels
                ) -> Tuple[Tensor, Tuple[Tensor, ...]]:
        """CutMix of the trained views ``images`` (n, C, H, W) with the views
        ``sources`` (n, C, H, W) of u', the targets pasted with the pixels."""
        boxes = generate_cutmix_masks(
            len(images), images.shape[2:], device=images.device, **self.cutmix_cfg)
        return apply_cutmix(boxes, images, sources, pseudo.targets,
                            pseudo.source_targets)

    def _unlabeled_batch(self, inputs: Dict[str, Tensor],
                         data_samples: Dict[str, SampleList]) -> UnlabeledBatch:
        weak, strong1, strong2 = (inputs[b] for b in UNSUP_BRANCHES)
        weak_samples = data_samples[UNSUP_BRANCHES[0]]
        strong2_samples = data_samples[UNSUP_BRANCHES[2]]
        if _has_masked_view_marks(data_samples[UNSUP_BRANCHES[1]]):
            raise ValueError(
                f"'{UNSUP_BRANCHES[1]}' holds masked-view samples (metainfo "
                f"'masked_view'); only the second strong view, "
                f"'{UNSUP_BRANCHES[2]}', can be masked: check the unlabeled "
                'pipeline')
        if 'strong2' in self.cutmix_views and \
                _has_masked_view_marks(strong2_samples):
            raise ValueError(
                f"the unlabeled pipeline makes masked views in "
                f"'{UNSUP_BRANCHES[2]}' (metainfo 'masked_view') but "
                "semi_train_cfg.cutmix.views includes 'strong2': a masked view "
                "is never mixed; set cutmix.views=('strong1',) (the masking "
                'version) or use a pipeline without masked views (the CSL '
                'release)')
        num_u = len(weak) // 2
        masked = torch.tensor(
            [bool(sample.metainfo.get('masked_view', False))
             for sample in strong2_samples[:num_u]],
            dtype=torch.bool,
            device=weak.device)
        return UnlabeledBatch(
            weak=weak,
            strong=(strong1, strong2),
            valid=_valid_mask(weak_samples, weak.shape[2:], weak.device),
            masked=masked,
            weak_samples=weak_samples)

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

    @property
    def _final_head(self) -> nn.Module:
        """The decode head whose prediction is the segmentor's."""
        return self.decode_adapter.final_head(self.segmentor)

    def _resize(self, logits: Tensor, size: Sequence[int]) -> Tensor:
        """Bilinear resize of (B, K, h, w) logits to ``size``."""
        if tuple(logits.shape[2:]) == tuple(size):
            return logits
        return F.interpolate(
            logits,
            size=tuple(size),
            mode='bilinear',
            align_corners=self._final_head.align_corners)
