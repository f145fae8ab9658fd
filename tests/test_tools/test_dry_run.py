import re

from tests.tool_utils import REPO_ROOT, run_tool

CSL_DEMO = 'configs/demo/csl_tiny-deeplabv3plus_1xb12-400it_shapes-64x64.py'
SUPERVISED_DEMO = ('configs/demo/'
                   'supervised_tiny-deeplabv3plus_1xb4-800it_shapes-64x64.py')
FCN_CITYSCAPES = 'mmseg::fcn/fcn_r50-d8_4xb2-40k_cityscapes-512x1024.py'


def report_of(output: str) -> str:
    """The report the tool prints at the end."""
    return output[output.rindex('\nDry run of '):]


def loss_terms(report: str) -> dict:
    [line] = [line for line in report.splitlines() if line.startswith('training:')]
    return {name: float(value) for name, value in re.findall(r'(\S+)=([-\d.]+)', line)}


def test_csl_demo_config(tmp_path):
    result = run_tool(['dry_run.py', CSL_DEMO, '--work-dir', tmp_path])
    report = report_of(result.stdout)

    assert f'Dry run of {CSL_DEMO}: OK' in report
    assert 'data: generated 64x64 images' in report
    assert 'training: 2 iterations' in report
    assert loss_terms(report).keys() == {
        'loss', 'sup.decode.loss_ce', 'unsup.loss_s1', 'unsup.loss_s2', 'unsup.loss_fp'}
    assert re.search(r'validation: aAcc=[\d.]+, mIoU=[\d.]+, mAcc=[\d.]+', report)
    assert re.search(r'wall time: [\d.]+ s', report)
    assert (tmp_path / 'iter_2.pth').is_file()


def test_supervised_demo_config():
    report = report_of(run_tool(['dry_run.py', SUPERVISED_DEMO, '--iters', '3']).stdout)

    assert f'Dry run of {SUPERVISED_DEMO}: OK' in report
    assert 'training: 3 iterations' in report
    assert loss_terms(report).keys() == {'loss', 'decode.loss_ce'}
    assert 'mIoU=' in report


def test_mmseg_config_shrunk(tmp_path):
    result = run_tool(['dry_run.py', FCN_CITYSCAPES, '--shrink', '--iters', '1'])
    report = report_of(result.stdout)

    assert f'Dry run of {FCN_CITYSCAPES}: OK' in report
    assert 'data: generated 128x256 images' in report
    assert 'training: 1 iterations' in report
    assert loss_terms(report).keys() == {'loss', 'decode.loss_ce', 'aux.loss_ce'}
    assert 'mIoU=' in report


def test_class_count_mismatch_fails_before_training():
    result = run_tool(['dry_run.py', CSL_DEMO, '--cfg-options',
                       'model.segmentor.decode_head.num_classes=5'], check=False)

    assert result.returncode != 0
    assert 'Iter(train)' not in result.stdout
    last_line = result.stdout.strip().splitlines()[-1]
    assert last_line.startswith(f'Dry run of {CSL_DEMO} FAILED: ValueError: the '
                                'training dataset (ConcatDataset) has 4 classes')
    assert ("'segmentor.decode_head' (DepthwiseSeparableASPPHead) predicts 5"
            in last_line)


def test_supervised_config_with_semi(tmp_path):
    """Two lines on a supervised config: both the labeled and the unlabeled
    data (a folder that does not exist here) are generated."""
    leaf = tmp_path / 'semi.py'
    leaf.write_text(f"_base_ = ['{REPO_ROOT / SUPERVISED_DEMO}']\n"
                    "semi = dict(unlabeled=dict(data_root='/cluster/my_images'))\n")
    report = report_of(run_tool(['dry_run.py', leaf]).stdout)

    assert f'Dry run of {leaf}: OK' in report
    assert 'data: generated 64x64 images' in report
    assert loss_terms(report).keys() == {
        'loss', 'sup.decode.loss_ce', 'unsup.loss_s1', 'unsup.loss_s2', 'unsup.loss_fp'}
    assert 'mIoU=' in report
