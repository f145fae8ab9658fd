"""What a process observes of plain mmseg and mmengine, with or without
``import mmseg_csl`` first; for tests of import side effects.

    python -m tests.plain_mmseg_run OUT_DIR [--import-mmseg-csl]

Trains mmseg's FCN R18-D8 (its model zoo config, with 3 classes at 32x32, BN
for SyncBN, from scratch) for 2 iterations on generated images through a pipeline with
mmcv's ``RandomGrayscale``, saves a checkpoint, then loads it with mmengine's
loader and builds an mmseg dataset from an empty split file. Writes
``OUT_DIR/observed.json``: the losses, the outcome of the loading and of the
empty dataset, and, with ``--import-mmseg-csl``, the entries of mmseg's and
mmengine's registries that the import replaced, and the names it registered
that mmcv's (the root) registries already had.
"""
import json
import sys
from pathlib import Path


def registries() -> dict:
    """Name -> (mmseg registry, mmengine root registry) of every registry."""
    import mmengine.registry as root
    import mmseg.registry as mmseg_registry
    names = [name for name in dir(mmseg_registry) if name.isupper()]
    return {name: (getattr(mmseg_registry, name), getattr(root, name, None))
            for name in names}


def snapshot() -> dict:
    import mmcv.transforms  # noqa: F401  (mmcv's transforms, registered)
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    return {
        name: {
            'mmseg': dict(local.module_dict),
            'root': dict(parent.module_dict) if parent is not None else {}
        }
        for name, (local, parent) in registries().items()
    }


def registry_changes(before: dict) -> dict:
    """Entries of ``before`` that changed, and new mmseg entries under names
    the root registry has."""
    changed, shadowing = [], []
    for name, (local, parent) in registries().items():
        for scope, registry in (('mmseg', local), ('root', parent)):
            if registry is None:
                continue
            for key, value in before[name][scope].items():
                if registry.module_dict.get(key) is not value:
                    changed.append(f'{scope}.{name}.{key}')
        for key in set(local.module_dict) - set(before[name]['mmseg']):
            if key in before[name]['root']:
                shadowing.append(f'{name}.{key}')
    return {'changed': sorted(changed), 'shadowing': sorted(shadowing)}


def outcome(function) -> str:
    try:
        function()
    except Exception as error:  # noqa: BLE001  (the outcome is the subject)
        return f'{type(error).__name__}: {str(error).splitlines()[0]}'
    return 'ok'


def train(out_dir: Path) -> dict:
    from mmengine.config import Config
    from mmengine.hub import get_config
    from mmengine.runner import CheckpointLoader, Runner
    from mmseg.datasets import BaseSegDataset

    from tests.data_utils import make_tiny_seg_dataset
    from tests.tool_utils import tiny_experiment_config

    cfg = Config(tiny_experiment_config(out_dir / 'data', max_iters=2))
    model = get_config('mmseg::fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py').model
    for head in (model.decode_head, model.auxiliary_head):
        head.num_classes = 3
    model.backbone.norm_cfg = model.decode_head.norm_cfg = \
        model.auxiliary_head.norm_cfg = dict(type='BN', requires_grad=True)
    model.data_preprocessor = cfg.model.data_preprocessor
    model.test_cfg = dict(mode='whole')
    model.pretrained = None  # nothing downloaded: trained from scratch
    cfg.model = model
    cfg.train_dataloader.dataset.pipeline.insert(
        2, dict(type='RandomGrayscale', prob=1.0, keep_channels=True))
    cfg.merge_from_dict(dict(work_dir=str(out_dir / 'work'), log_level='WARNING',
                             custom_imports=None))
    runner = Runner.from_cfg(cfg)
    runner.train()
    losses = runner.message_hub.get_scalar('train/loss').data[0].tolist()

    checkpoint = str(out_dir / 'work' / 'iter_2.pth')
    empty = make_tiny_seg_dataset(out_dir / 'empty', num_images=1)
    (out_dir / 'empty' / 'split.txt').write_text('')
    return {
        'losses': losses,
        'load_checkpoint': outcome(
            lambda: CheckpointLoader.load_checkpoint(checkpoint)),
        'empty_split': outcome(lambda: BaseSegDataset(**empty, ann_file='split.txt')),
    }


def main() -> None:
    out_dir = Path(sys.argv[1])
    observed = {}
    if '--import-mmseg-csl' in sys.argv:
        before = snapshot()
        import mmseg_csl  # noqa: F401
        observed['registries'] = registry_changes(before)
    observed.update(train(out_dir))
    (out_dir / 'observed.json').write_text(json.dumps(observed, indent=1))


if __name__ == '__main__':
    main()
