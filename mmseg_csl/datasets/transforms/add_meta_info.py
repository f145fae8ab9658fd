from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class AddMetaInfo(BaseTransform):
    """Set constant keys on the results, to tag a view.

    A key reaches the data sample's metainfo when ``PackSegInputs`` lists it
    in ``meta_keys``. The semi-supervised pipelines tag the mild "masked view"
    of an unlabeled sample this way (``AddMetaInfo(masked_view=True)`` inside
    one option of a ``RandomChoice``), so the segmentor knows which strong views
    get the reliable-pixel mask.

    Added keys: the given ones.

    Args:
        **meta: Key-value pairs to set; the values are used as they are.
    """

    def __init__(self, **meta) -> None:
        if not meta:
            raise ValueError('AddMetaInfo needs at least one key, '
                             'e.g. AddMetaInfo(masked_view=True)')
        self.meta = meta

    def transform(self, results: dict) -> dict:
        results.update(self.meta)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.meta})'
