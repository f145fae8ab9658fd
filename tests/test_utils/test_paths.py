from mmseg_csl.utils import is_local_path


def test_local_paths_have_no_scheme():
    assert is_local_path('work_dirs/pretrained/resnet101_mmseg.pth')
    assert is_local_path('/abs/iter_20.pth')
    assert not is_local_path('open-mmlab://resnet101_v1c')
    assert not is_local_path('https://example.org/weights.pth')
