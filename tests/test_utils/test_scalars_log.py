import json

from mmseg_csl.utils import read_log_scalars, read_scalars


def write_log(log_dir, records):
    (log_dir / 'vis_data').mkdir(parents=True)
    (log_dir / 'vis_data' / 'scalars.json').write_text(
        ''.join(json.dumps(record) + '\n\n' for record in records))


def test_one_log_folder_in_its_order(tmp_path):
    write_log(tmp_path / 'run', [dict(step=2, loss=1.0), dict(step=1, mIoU=5.0)])
    assert read_log_scalars(str(tmp_path / 'run')) == [
        dict(step=2, loss=1.0), dict(step=1, mIoU=5.0)]


def test_every_start_of_a_resumed_run_by_step(tmp_path):
    write_log(tmp_path / '20260101_000000', [dict(step=1, loss=3.0),
                                             dict(step=3, loss=2.0)])
    write_log(tmp_path / '20260101_010000', [dict(step=2, loss=2.5), dict(loss=9.0)])
    (tmp_path / 'iter_2.pth').write_text('')
    assert [record['loss'] for record in read_scalars(str(tmp_path))] == [
        9.0, 3.0, 2.5, 2.0]
