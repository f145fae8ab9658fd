"""SlideCutEncoderDecoder: the reference code's sliding-window evaluation
against a computation written here, its cut edge windows, mmseg's modes
unchanged, the test_cfg errors, and inside SemiSegmentor."""
import copy

import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_csl  # noqa: F401
from mmseg_csl.models.segmentors import (
    SingleHeadAdapter,
    SlideCutEncoderDecoder,
    needed_packages,
)
from tests.semi_utils import (
    NUM_CLASSES,
    make_semi_batch,
    semi_segmentor_cfg,
    tiny_segmentor_cfg,
)

# (image height, width), window (h, w), stride (h, w)
CASES = {
    'square': ((11, 17), (7, 7), (4, 4)),
    'lower_than_window': ((5, 17), (7, 7), (4, 4)),
    'narrower_than_window': ((11, 6), (7, 7), (4, 4)),
    'rectangular': ((11, 17), (7, 5), (4, 3)),
}


@pytest.fixture(autouse=True)
def mmseg_scope():
    init_default_scope('mmseg')


def segmentor_cfg(type_name='SlideCutEncoderDecoder', **test_cfg) -> ConfigDict:
    cfg = tiny_segmentor_cfg()
    cfg.type = type_name
    cfg.test_cfg = ConfigDict(test_cfg)
    return cfg


def build(type_name='SlideCutEncoderDecoder', **test_cfg):
    torch.manual_seed(0)
    return MODELS.build(segmentor_cfg(type_name, **test_cfg)).eval()


def slide_cut(crop=(7, 7), stride=(4, 4)) -> dict:
    return dict(mode='slide_cut', crop_size=crop, stride=stride)


def window_logits(window: torch.Tensor) -> torch.Tensor:
    """Logits of a (B, 3, h, w) window that depend on each pixel, on the
    window's mean and on its width."""
    scale = torch.tensor([1.0, -2.0, 3.0]).view(1, NUM_CLASSES, 1, 1)
    offset = torch.arange(NUM_CLASSES, dtype=torch.float32).view(1, -1, 1, 1)
    return (window * scale + 4 * window.mean((2, 3), keepdim=True)
            + 0.1 * window.shape[3] * offset)


class StubEncodeDecode:
    """``encode_decode`` by :func:`window_logits`, recording the shapes of
    the inputs and the ``img_shape`` of the first metainfo it sees."""

    def __init__(self):
        self.shapes, self.img_shapes = [], []

    def __call__(self, inputs, batch_img_metas):
        self.shapes.append(tuple(inputs.shape[2:]))
        self.img_shapes.append(batch_img_metas[0]['img_shape'])
        return window_logits(inputs)


def reference_sum(image, crop, stride, logits_of):
    """The summed softmax of the reference code, written out: windows at
    rows 0, stride, 2 * stride, ... while below the height (columns alike),
    cut at the bottom and right edges; also the windows per pixel."""
    batch, _, height, width = image.shape
    total = torch.zeros(batch, NUM_CLASSES, height, width)
    count = torch.zeros(height, width)
    row = 0
    while row < height:
        col = 0
        while col < width:
            rows = slice(row, min(height, row + crop[0]))
            cols = slice(col, min(width, col + crop[1]))
            total[:, :, rows, cols] += logits_of(image[:, :, rows, cols]).softmax(1)
            count[rows, cols] += 1
            col += stride[1]
        row += stride[0]
    return total, count


def metas(image):
    size = tuple(image.shape[2:])
    return [dict(img_shape=size, ori_shape=size, pad_shape=size,
                 padding_size=[0, 0, 0, 0]) for _ in range(len(image))]


@pytest.mark.parametrize('case', CASES.values(), ids=list(CASES))
def test_sums_window_probabilities_as_the_reference(case, monkeypatch):
    size, crop, stride = case
    model = build(**slide_cut(crop, stride))
    monkeypatch.setattr(model, 'encode_decode', StubEncodeDecode())
    image = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(1))
    total, count = reference_sum(image, crop, stride, window_logits)

    with torch.no_grad():
        seg_logits = model.inference(image, metas(image))
        predictions = model.predict(image)
    assert seg_logits.shape == (2, NUM_CLASSES, *size)
    torch.testing.assert_close(seg_logits.exp(), total / count)
    torch.testing.assert_close(seg_logits.softmax(1), total / count)
    for prediction, expected in zip(predictions, total.argmax(1)):
        assert torch.equal(prediction.pred_sem_seg.data[0], expected)


def test_edge_windows_are_cut_short(monkeypatch):
    model = build(**slide_cut())
    stub = StubEncodeDecode()
    monkeypatch.setattr(model, 'encode_decode', stub)
    image = torch.randn(2, 3, 11, 17)
    image_metas = metas(image)
    with torch.no_grad():
        model.inference(image, copy.deepcopy(image_metas))
    # rows start at 0, 4, 8 (windows of 7, 7, 3 rows), columns at 0, 4, 8, 12,
    # 16 (7, 7, 7, 5, 1 columns)
    expected = [(h, w) for h in (7, 7, 3) for w in (7, 7, 7, 5, 1)]
    assert stub.shapes == expected
    assert [tuple(shape) for shape in stub.img_shapes] == expected
    assert all(isinstance(shape, torch.Size) for shape in stub.img_shapes)

    unchanged = copy.deepcopy(image_metas)
    with torch.no_grad():
        model.inference(image, image_metas)
    assert image_metas == unchanged


@pytest.mark.parametrize('case', [CASES['square'], CASES['lower_than_window']],
                         ids=['square', 'lower_than_window'])
def test_network_on_the_windows_as_the_reference(case):
    """The tiny ResNet + FCN segmentor, its own output on each window."""
    size, crop, stride = case
    model = build(**slide_cut(crop, stride))
    image = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(2))

    def network(window):
        return model.encode_decode(window, metas(window))

    with torch.no_grad():
        total, count = reference_sum(image, crop, stride, network)
        predictions = model.predict(image)
    for prediction, expected, expected_sum in zip(predictions, total.argmax(1), total):
        assert torch.equal(prediction.pred_sem_seg.data[0], expected)
        torch.testing.assert_close(prediction.seg_logits.data.exp(),
                                   expected_sum / count)


def test_padding_is_removed_and_the_map_resized_to_the_original(monkeypatch):
    model = build(**slide_cut())
    monkeypatch.setattr(model, 'encode_decode', StubEncodeDecode())
    image = torch.randn(1, 3, 11, 17)
    total, count = reference_sum(image, (7, 7), (4, 4), window_logits)
    padded = SegDataSample(metainfo=dict(
        img_shape=(9, 14), ori_shape=(9, 14), pad_shape=(11, 17),
        padding_size=[0, 3, 0, 2]))
    resized = SegDataSample(metainfo=dict(
        img_shape=(11, 17), ori_shape=(22, 34), pad_shape=(11, 17),
        padding_size=[0, 0, 0, 0]))

    with torch.no_grad():
        [unpadded] = model.predict(image, [padded])
        [upsampled] = model.predict(image, [resized])
    assert torch.equal(unpadded.pred_sem_seg.data[0], total[0].argmax(0)[:9, :14])
    torch.testing.assert_close(unpadded.seg_logits.data.exp(),
                               (total / count)[0, :, :9, :14])
    assert upsampled.pred_sem_seg.data.shape == (1, 22, 34)
    assert torch.isfinite(upsampled.seg_logits.data).all()


@pytest.mark.parametrize('test_cfg', [
    dict(mode='whole'),
    dict(mode='slide', crop_size=(7, 7), stride=(4, 4)),
    dict(mode='slide', crop_size=(7, 5), stride=(4, 3)),
])
def test_mmseg_modes_are_unchanged(test_cfg):
    model = build(**test_cfg)
    plain = build('EncoderDecoder', **test_cfg)
    plain.load_state_dict(model.state_dict())
    image = torch.randn(2, 3, 11, 17)
    with torch.no_grad():
        results = model.predict(image)
        expected = plain.predict(image)
    for result, reference in zip(results, expected):
        assert torch.equal(result.seg_logits.data, reference.seg_logits.data)
        assert torch.equal(result.pred_sem_seg.data, reference.pred_sem_seg.data)


@pytest.mark.parametrize('test_cfg, message', [
    (dict(mode='slid'), r"test_cfg.mode must be one of .*'slid'"),
    (dict(mode='slide_cut', stride=(4, 4)), 'test_cfg.crop_size is missing'),
    (dict(mode='slide_cut', crop_size=(7, 7)), 'test_cfg.stride is missing'),
    (dict(mode='slide', crop_size=(7, 7)), 'test_cfg.stride is missing'),
    (dict(slide_cut(), crop_size=(7, 0)), 'test_cfg.crop_size must be two positive'),
    (dict(slide_cut(), stride=(-4, 4)), 'test_cfg.stride must be two positive'),
    (dict(slide_cut(), stride=4), 'test_cfg.stride must be two positive'),
    (dict(slide_cut(), crop_size=(7.0, 7)), 'test_cfg.crop_size must be two positive'),
    (dict(slide_cut(), stride=(4, 8)), r'test_cfg.stride \(4, 8\) exceeds '
     r'test_cfg.crop_size \(7, 7\)'),
])
def test_bad_test_cfg_is_refused_before_the_build(test_cfg, message, monkeypatch):
    def no_build(*args, **kwargs):
        raise AssertionError('the network was built before test_cfg was checked')

    monkeypatch.setattr(MODELS, 'build', no_build)
    with pytest.raises(ValueError, match=message):
        SlideCutEncoderDecoder(**{
            key: value for key, value in segmentor_cfg(**test_cfg).items()
            if key != 'type'})


def test_one_channel_head_is_refused():
    cfg = segmentor_cfg(**slide_cut())
    cfg.decode_head.update(num_classes=2, out_channels=1)
    with pytest.raises(ValueError, match='one output channel'):
        MODELS.build(cfg)


def test_semi_segmentor_wraps_and_predicts_with_it(monkeypatch):
    cfg = semi_segmentor_cfg()
    cfg.segmentor = segmentor_cfg(**slide_cut())
    assert needed_packages(cfg) == set()
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    assert isinstance(model.segmentor, SlideCutEncoderDecoder)
    assert isinstance(model.decode_adapter, SingleHeadAdapter)
    losses = model.loss(**make_semi_batch())
    assert {'sup.decode.loss_ce', 'unsup.loss_s1', 'unsup.loss_s2',
            'unsup.loss_fp'} <= set(losses)

    model.eval()
    stub = StubEncodeDecode()
    monkeypatch.setattr(model.segmentor, 'encode_decode', stub)
    image = torch.randn(2, 3, 11, 17)
    total, _ = reference_sum(image, (7, 7), (4, 4), window_logits)
    with torch.no_grad():
        predictions = model.predict(image)
    assert len(stub.shapes) == 15
    for prediction, expected in zip(predictions, total.argmax(1)):
        assert torch.equal(prediction.pred_sem_seg.data[0], expected)
