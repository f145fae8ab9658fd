from typing import List, Optional, Sequence, Union

from mmengine.dataset import BaseDataset
from mmengine.fileio import isdir, join_path, list_dir_or_file
from mmseg.registry import DATASETS

# Image file endings the folder is searched for (any letter case).
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


@DATASETS.register_module()
class UnlabeledImageDataset(BaseDataset):
    """Every image in a folder, without annotations: the unlabeled data of
    semi-supervised training.

    Each sample is ``dict(img_path=..., seg_fields=[])``, in sorted path
    order, so a pipeline without ``LoadAnnotations`` (the unlabeled
    pipelines of ``mmseg_csl.engine.expand_semi_config``) reads the image
    only. A folder that does not exist, or holds no image, is an error
    naming the folder when the dataset is built, before training starts.

    The metainfo is ``metainfo`` alone (no classes: the images carry no
    labels); ``SemiSupervisedDataset`` pairs it with a labeled dataset whose
    classes are the training set's.

    Args:
        data_root (str): The image folder (any storage backend of mmengine).
        img_suffix (str | Sequence[str]): Endings of the image files, matched
            regardless of case. Defaults to ``IMAGE_SUFFIXES``.
        recursive (bool): Search subfolders too. Defaults to True.
        **kwargs: mmengine ``BaseDataset`` arguments (``pipeline``,
            ``data_prefix=dict(img_path=<subfolder>)``, ``metainfo``,
            ``backend_args``...).

    Example:
        >>> dict(type='UnlabeledImageDataset', data_root='data/my_images',
        ...      pipeline=[dict(type='LoadImageFromFile'), ...])
    """

    def __init__(self,
                 data_root: str,
                 img_suffix: Union[str, Sequence[str]] = IMAGE_SUFFIXES,
                 recursive: bool = True,
                 backend_args: Optional[dict] = None,
                 **kwargs) -> None:
        suffixes = (img_suffix, ) if isinstance(img_suffix, str) else img_suffix
        self.img_suffix = tuple(suffix.lower() for suffix in suffixes)
        self.recursive = recursive
        self.backend_args = backend_args
        kwargs.setdefault('data_prefix', dict(img_path=''))
        super().__init__(data_root=data_root, **kwargs)

    @property
    def image_dir(self) -> str:
        """The folder searched for images (``data_root`` joined with
        ``data_prefix['img_path']``)."""
        return self.data_prefix['img_path'].rstrip('/')

    def load_data_list(self) -> List[dict]:
        """One sample per image file under :attr:`image_dir`."""
        folder = self.image_dir
        if not isdir(folder, backend_args=self.backend_args):
            raise FileNotFoundError(
                f"the unlabeled image folder '{folder}' does not exist "
                '(UnlabeledImageDataset data_root)')
        names = sorted(
            name for name in list_dir_or_file(
                folder, list_dir=False, recursive=self.recursive,
                backend_args=self.backend_args)
            if name.lower().endswith(self.img_suffix))
        if not names:
            searched = 'and its subfolders ' if self.recursive else ''
            raise ValueError(
                f"the unlabeled image folder '{folder}' {searched}holds no "
                f'image ending in {self.img_suffix}')
        return [dict(img_path=join_path(folder, name), seg_fields=[])
                for name in names]
