"""tools/analysis_tools/selection_quality.py on a tiny model trained here, its
checkpoint saved plain and as a SemiSegmentor's."""
import importlib.util
import json
import math

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, MODELS

from mmseg_csl.datasets.synthetic_shapes import write_shapes_dataset
from mmseg_csl.engine import CheckpointMismatchError
from tests.tool_utils import REPO_ROOT

DEMO = REPO_ROOT / 'configs' / 'demo'
PLAIN = DEMO / 'supervised_tiny-deeplabv3plus_1xb4-800it_shapes-64x64.py'
SEMI = DEMO / 'csl_tiny-deeplabv3plus_1xb12-400it_shapes-64x64.py'


def load_tool():
    path = REPO_ROOT / 'tools' / 'analysis_tools' / 'selection_quality.py'
    spec = importlib.util.spec_from_file_location('selection_quality_tool', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A tiny plain segmentor trained 5 steps on shapes; its checkpoint saved
    plain and with SemiSegmentor's ``segmentor.`` keys."""
    root = tmp_path_factory.mktemp('selection')
    write_shapes_dataset(str(root / 'shapes'), {'val': 6})
    cfg = Config.fromfile(str(PLAIN))
    init_default_scope('mmseg')
    dataset_cfg = cfg.test_dataloader.dataset.copy()
    dataset_cfg.data_root = str(root / 'shapes')
    dataset = DATASETS.build(dataset_cfg)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.05))
    model.train()
    for step in range(5):
        model.train_step(pseudo_collate([dataset[step % 6], dataset[(step + 1) % 6]]),
                         optim)
    state = model.state_dict()
    torch.save(dict(state_dict=state, meta={}), root / 'plain.pth')
    torch.save(dict(state_dict={f'segmentor.{k}': v for k, v in state.items()},
                    meta={}), root / 'semi.pth')
    return root


@pytest.mark.parametrize('config,checkpoint', [(PLAIN, 'plain.pth'),
                                               (PLAIN, 'semi.pth'),
                                               (SEMI, 'plain.pth')])
def test_tool_reports_csl_and_thresholds(trained, config, checkpoint, capsys):
    out = trained / f'out_{config.stem[:4]}_{checkpoint}'
    quality = load_tool().main([
        str(config), str(trained / checkpoint), '--out', str(out), '--split', 'val',
        '--images', '4', '--selectors', 'csl', 'csl-masking', '0', '0.9',
        '--cfg-options', f'test_dataloader.dataset.data_root={trained}/shapes',
        f'val_dataloader.dataset.data_root={trained}/shapes'])

    assert quality['images'] == 4 and quality['pixels'] == 4 * 64 * 64
    assert list(quality['rules']) == ['CSL release', 'CSL masking version',
                                      'confidence >= 0.00', 'confidence >= 0.90']
    everything = quality['rules']['confidence >= 0.00']
    assert everything['coverage'] == 1 and everything['recall'] == 1
    assert everything['precision'] == pytest.approx(quality['pseudo_label_accuracy'])
    for version in ('csl', 'csl-masking'):
        stats = quality['csl'][version]
        assert 0 < stats['coverage'] <= 1 and 0 <= stats['precision'] <= 1
        assert 0 <= stats['threshold_precision_at_coverage'] <= 1
        assert math.isnan(stats['auroc_weight']) or 0 <= stats['auroc_weight'] <= 1
    saved = json.loads((out / 'selection_quality.json').read_text())
    assert saved['rules'].keys() == quality['rules'].keys()
    for name in ('curves.png', 'scatter_csl.png', 'scatter_csl-masking.png'):
        assert (out / name).stat().st_size > 0
    assert '| CSL release |' in (out / 'selection_quality.md').read_text()
    assert 'threshold precision at that coverage' in capsys.readouterr().out


def test_same_weights_give_the_same_report_plain_or_semi(trained):
    tool = load_tool()
    results = [tool.main([str(PLAIN), str(trained / name), '--out',
                          str(trained / f'same_{name}'), '--split', 'val',
                          '--no-progress', '--selectors', 'csl', '0.5',
                          '--cfg-options',
                          f'val_dataloader.dataset.data_root={trained}/shapes'])
               for name in ('plain.pth', 'semi.pth')]
    # json: NaN (nothing selected) compares equal as text
    assert json.dumps(results[0]['rules']) == json.dumps(results[1]['rules'])
    assert results[0]['pseudo_label_accuracy'] == results[1]['pseudo_label_accuracy']


def test_unknown_selector_is_refused(capsys):
    with pytest.raises(SystemExit):
        load_tool().parse_args(['c.py', 'k.pth', '--selectors', 'fixmatch'])
    assert "expected one of ['csl', 'csl-masking'] or a threshold" in (
        capsys.readouterr().err)


def test_a_checkpoint_of_another_model_is_refused(trained, tmp_path):
    checkpoint = torch.load(trained / 'plain.pth', weights_only=True)
    state = checkpoint['state_dict']
    state['decode_head.conv_seg.weight'] = state['decode_head.conv_seg.weight'][:3]
    state['decode_head.conv_seg.bias'] = state['decode_head.conv_seg.bias'][:3]
    torch.save(checkpoint, tmp_path / 'three_classes.pth')
    with pytest.raises(CheckpointMismatchError) as error:
        load_tool().main([
            str(PLAIN), str(tmp_path / 'three_classes.pth'), '--out',
            str(tmp_path / 'out'), '--split', 'val', '--no-progress',
            '--cfg-options', f'val_dataloader.dataset.data_root={trained}/shapes'])
    assert 'decode_head.conv_seg.bias (checkpoint (3,), model (4,))' in str(
        error.value)
    assert not (tmp_path / 'out').exists()
