"""``CheckSegMap`` after every ``LoadAnnotations`` of a config's dataloaders.

This package's dataset configs list ``CheckSegMap`` in their pipelines; a
config of one's own, or one of mmseg's model zoo, gets it from
:func:`add_seg_map_checks`, which ``tools/train.py``, ``tools/test.py`` and
:func:`~mmseg_csl.engine.expand_semi_config` apply. The class count and the
ignore index come from the model's decode head, the numbers the loss uses
(``ClassCountCheckHook`` compares them with the datasets' classes).
"""
from typing import Any, List, Optional, Tuple

from mmengine.config import Config

from ..utils import config_dicts
from .registry_lookup import type_name

CHECK = 'CheckSegMap'
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# Keys under which dataset wrappers hold their datasets (ConcatDataset,
# RepeatDataset, SemiSupervisedDataset).
INNER_DATASET_KEYS = ('dataset', 'datasets', 'labeled', 'unlabeled')


def head_classes(model: Optional[dict]) -> Optional[Tuple[int, int]]:
    """(number of classes, ignore index) of a segmentor config's final
    decode head (inside ``SemiSegmentor``'s ``segmentor`` too; the last head
    of a cascade); a binary head (``out_channels=1``) has 2 classes. None
    for a config without a decode head that sets ``num_classes``."""
    model = model or {}
    if isinstance(model.get('segmentor'), dict):
        model = model['segmentor']
    head = model.get('decode_head')
    if isinstance(head, (list, tuple)):
        head = head[-1] if head else None
    if not isinstance(head, dict) or 'num_classes' not in head:
        return None
    num_classes = 2 if head.get('out_channels') == 1 else head['num_classes']
    return num_classes, head.get('ignore_index', 255)


def dataset_pipelines(dataset: Any) -> List[list]:
    """Every ``pipeline`` list of a dataset config and of the datasets it
    wraps, outermost first."""
    wrapped = config_dicts(dataset, enter=lambda key, _: key in INNER_DATASET_KEYS)
    return [config['pipeline'] for config in wrapped
            if isinstance(config.get('pipeline'), list)]


def add_seg_map_checks(cfg: Config) -> int:
    """Insert ``CheckSegMap`` with the model's class count and ignore index
    (:func:`head_classes`) right after every ``LoadAnnotations`` of the
    train, val and test dataloaders' pipelines that is not followed by one,
    in place. A config whose model has no such head is left as it is.

    Returns:
        int: the number of checks inserted.
    """
    classes = head_classes(cfg.get('model'))
    if classes is None:
        return 0
    num_classes, ignore_index = classes
    inserted = 0
    for loader in DATALOADERS:
        dataset = (cfg.get(loader) or {}).get('dataset')
        for pipeline in dataset_pipelines(dataset):
            for index in range(len(pipeline) - 1, -1, -1):
                followed = (index + 1 < len(pipeline)
                            and type_name(pipeline[index + 1]) == CHECK)
                if type_name(pipeline[index]) == 'LoadAnnotations' and not followed:
                    pipeline.insert(index + 1, dict(
                        type=CHECK, num_classes=num_classes,
                        ignore_index=ignore_index))
                    inserted += 1
    return inserted
