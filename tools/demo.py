"""The embedded demo: CSL against a supervised-only baseline on generated data.

    python tools/demo.py [--work-dir work_dirs/demo] [--iters 400]
                         [--num-labeled 16] [--num-unlabeled 384] [--num-val 64]

Writes the synthetic shapes dataset (mmseg_csl.datasets.synthetic_shapes) under
``<work-dir>/shapes`` unless it is there already, trains the demo's two configs
(``configs/demo/``) the same way on CPU, evaluates both on the validation split and
prints the table, then says where logs, checkpoints and plots went. Nothing is
downloaded.
"""
import argparse
import json
import os
import os.path as osp
import time
from typing import Dict, List

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

import mmseg_csl  # noqa: E402,F401  (registers the package's components)
from mmseg_csl.datasets.synthetic_shapes import write_shapes_dataset  # noqa: E402

CONFIGS = {
    'supervised-only': 'configs/demo/supervised_tiny-deeplabv3plus_1xb4-400it_'
                       'shapes-64x64.py',
    'CSL': 'configs/demo/csl_tiny-deeplabv3plus_1xb12-400it_shapes-64x64.py',
}
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--iters', type=int, default=400,
                        help='training iterations of each run')
    parser.add_argument('--num-labeled', type=int, default=16)
    parser.add_argument('--num-unlabeled', type=int, default=384)
    parser.add_argument('--num-val', type=int, default=64)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    for name in ('iters', 'num_labeled', 'num_unlabeled', 'num_val'):
        if getattr(args, name) < 1:
            parser.error(f'--{name.replace("_", "-")} must be at least 1')
    return args


def prepare_data(root: str, num_labeled: int, num_unlabeled: int, num_val: int,
                 seed: int) -> None:
    """Write the dataset and its labeled/unlabeled split files once; a
    ``dataset.json`` records the arguments so that changed ones rewrite it."""
    spec = dict(train=num_labeled + num_unlabeled, val=num_val, seed=seed,
                size=[64, 64])
    spec_file = osp.join(root, 'dataset.json')
    if osp.exists(spec_file):
        with open(spec_file) as f:
            if json.load(f) == spec:
                return
    write_shapes_dataset(root, dict(train=spec['train'], val=num_val), seed=seed)
    names = [f'{index:05d}' for index in range(spec['train'])]
    os.makedirs(osp.join(root, 'splits'), exist_ok=True)
    for split, members in (('labeled', names[:num_labeled]),
                           ('unlabeled', names[num_labeled:])):
        with open(osp.join(root, 'splits', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(members) + '\n')
    with open(spec_file, 'w') as f:
        json.dump(spec, f)


def point_at(cfg, key: str, value) -> None:
    """Set ``key`` to ``value`` in every dict of the config tree that has it."""
    if isinstance(cfg, dict):
        if key in cfg:
            cfg[key] = value
        for child in cfg.values():
            point_at(child, key, value)
    elif isinstance(cfg, (list, tuple)):
        for child in cfg:
            point_at(child, key, value)


def demo_config(path: str, name: str, work_dir: str, data_root: str,
                iters: int) -> Config:
    cfg = Config.fromfile(osp.join(REPO_ROOT, path))
    point_at(cfg._cfg_dict, 'data_root', data_root)
    cfg.work_dir = osp.join(work_dir, name)
    cfg.experiment_name = name
    cfg.visualizer.name = f'visualizer_{name}'
    cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = iters
    cfg.param_scheduler[0].end = iters
    cfg.default_hooks.checkpoint.interval = iters
    for hook in cfg.get('custom_hooks', []):
        if hook.type == 'CSLSelectorHook':
            hook.plot_interval = iters
    return cfg


def train_and_evaluate(cfg: Config) -> Dict[str, float]:
    start = time.perf_counter()
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = dict(runner.val_loop.run())
    metrics['wall_s'] = time.perf_counter() - start
    metrics['log_dir'] = runner.log_dir
    return metrics


def plot_curves(results: Dict[str, dict], out_file: str) -> None:
    """Training loss of each run and the CSL selection ratio, from mmengine's
    ``vis_data/scalars.json`` logs."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for name, metrics in results.items():
        records = read_scalars(metrics['log_dir'])
        steps = [r['step'] for r in records if 'loss' in r]
        axes[0].plot(steps, [r['loss'] for r in records if 'loss' in r], label=name)
        ratio = [(r['step'], r['csl/selected_ratio']) for r in records
                 if 'csl/selected_ratio' in r]
        if ratio:
            axes[1].plot(*zip(*ratio), label=f'{name}: selected / valid pixels')
    axes[0].set(title='training loss', xlabel='iteration')
    axes[1].set(title='CSL pseudo-label selection', xlabel='iteration', ylim=(0, 1))
    for axis in axes:
        axis.legend()
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)


def read_scalars(log_dir: str) -> List[dict]:
    with open(osp.join(log_dir, 'vis_data', 'scalars.json')) as f:
        return [json.loads(line) for line in f if line.strip()]


def main() -> None:
    args = parse_args()
    work_dir = osp.abspath(args.work_dir)
    data_root = osp.join(work_dir, 'shapes')
    prepare_data(data_root, args.num_labeled, args.num_unlabeled, args.num_val,
                 args.seed)
    results = {}
    for name, path in CONFIGS.items():
        tag = name.replace('-only', '').lower()
        cfg = demo_config(path, tag, work_dir, data_root, args.iters)
        results[name] = train_and_evaluate(cfg)
    curves = osp.join(work_dir, 'curves.png')
    plot_curves(results, curves)
    with open(osp.join(work_dir, 'results.json'), 'w') as f:
        json.dump(results, f, indent=2, default=float)
    print(f'\nDemo: synthetic shapes, {args.num_labeled} labeled + '
          f'{args.num_unlabeled} unlabeled training images, {args.num_val} '
          f'validation images, {args.iters} iterations each.\n')
    print('| model | mIoU | mAcc | aAcc | wall time |')
    print('|---|---|---|---|---|')
    for name, m in results.items():
        print(f'| {name} | {m["mIoU"]:.2f} | {m["mAcc"]:.2f} | {m["aAcc"]:.2f} '
              f'| {m["wall_s"]:.0f} s |')
    print(f'\nlogs and checkpoints: {work_dir}/<run>/ (iter_{args.iters}.pth)')
    print(f'training curves:      {curves}')
    print(f'selection plot:       {results["CSL"]["log_dir"]}/vis_data/vis_image/')
    print(f'results:              {osp.join(work_dir, "results.json")}')


if __name__ == '__main__':
    main()
