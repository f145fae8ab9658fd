"""The configs that the GPU check trains and that benchmarks/step_op_counts.py
counts, and the small model that stands in for their R101 on a CPU."""
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = {
    'csl': 'configs/csl/csl_deeplabv3plus-r101-d8_4xb2-80e_voc12-321x321_92.py',
    'csl-masking':
    'configs/csl/csl-masking_deeplabv3plus-r101-d8_4xb2-80e_voc12-321x321_92.py',
    'unimatch':
    'configs/unimatch/unimatch_deeplabv3plus-r101-d8_4xb2-80e_voc12-321x321_92.py',
    'supervised':
    'configs/supervised/supervised_deeplabv3plus-r101-d8_4xb4-80e_voc12-321x321_92.py',
}
# --smoke: a backbone and head small enough for a CPU (tests' TINY_* of
# test_benchmark_configs), 64 px crops; ``model_update`` of
# mmseg_csl.engine.dry_run.shrink_config.
SMOKE_MODEL = dict(
    backbone=dict(depth=18, stem_channels=16, base_channels=16),
    decode_head=dict(in_channels=128, channels=32, c1_in_channels=16, c1_channels=8))
SMOKE_SIZE = 64
