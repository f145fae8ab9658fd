from mmengine.config import Config
from mmengine.config.utils import MODULE2PACKAGE
from mmengine.registry import VISUALIZERS
from mmseg.visualization import SegLocalVisualizer

import mmseg_csl  # noqa: F401


def test_config_prefix_resolves_package_configs(tmp_path):
    assert 'mmseg_csl' in MODULE2PACKAGE
    config = tmp_path / 'inherits.py'
    config.write_text("_base_ = ['mmseg_csl::_base_/default_runtime.py']\n")

    cfg = Config.fromfile(str(config))
    assert cfg.default_scope == 'mmseg'
    assert cfg.custom_imports == {'imports': ['mmseg_csl'],
                                  'allow_failed_imports': False}
    # mmengine scopes what a `mmseg_csl::` base defines ...
    assert cfg.visualizer._scope_ == 'mmseg_csl'
    # ... and the mmseg_csl registries resolve it through mmseg's.
    visualizer = VISUALIZERS.build(
        dict(cfg.visualizer, name='test_registry', save_dir=str(tmp_path)))
    assert isinstance(visualizer, SegLocalVisualizer)
