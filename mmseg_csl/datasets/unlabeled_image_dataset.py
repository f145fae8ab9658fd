import errno
import logging
import os
import os.path as osp
from typing import Any, List, Optional, Sequence, Union

import mmcv
from mmengine.dataset import BaseDataset
from mmengine.fileio import get, isdir, join_path, list_dir_or_file
from mmengine.logging import print_log
from mmseg.registry import DATASETS

# Image file endings the folder is searched for (any letter case).
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
# Unreadable files named in the error that stops training.
LISTED_UNREADABLE = 5


@DATASETS.register_module()
class UnlabeledImageDataset(BaseDataset):
    """Every image in a folder, without annotations: the unlabeled data of
    semi-supervised training.

    Each sample is ``dict(img_path=..., seg_fields=[])``, in sorted path
    order, so a pipeline without ``LoadAnnotations`` (the unlabeled
    pipelines of ``mmseg_csl.engine.expand_semi_config``) reads the image
    only. A folder that does not exist, holds no image, or holds a symbolic
    link loop (a link to a folder that contains it, a circle of links) is an
    error naming the folder (and the link) when the dataset is built, before
    training starts.

    A file that cannot be read as an image (truncated, empty, not an image
    under an image name) does not end the run: when the pipeline fails on a
    sample and the file does not decode, the sample is taken from the next
    index (wrapping around), so the samples of readable files are those the
    sampler drew, and a warning names the file and the count so far. Each
    process (the main one, every dataloader worker) counts the distinct
    unreadable files it met; when they are more than
    ``max_unreadable_share`` of the folder's images, it stops with an error
    naming them. A pipeline that fails on a readable image raises as usual.

    The metainfo is ``metainfo`` alone (no classes: the images carry no
    labels); ``SemiSupervisedDataset`` pairs it with a labeled dataset whose
    classes are the training set's.

    Args:
        data_root (str): The image folder (any storage backend of mmengine).
        img_suffix (str | Sequence[str]): Endings of the image files, matched
            regardless of case. Defaults to ``IMAGE_SUFFIXES``.
        recursive (bool): Search subfolders too. Defaults to True.
        max_unreadable_share (float): The share of the folder's images that
            may turn out unreadable, in one process, before training stops.
            0 stops at the first. Defaults to 0.01.
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
                 max_unreadable_share: float = 0.01,
                 backend_args: Optional[dict] = None,
                 **kwargs) -> None:
        if not 0 <= max_unreadable_share <= 1:
            raise ValueError('max_unreadable_share must be within [0, 1], got '
                             f'{max_unreadable_share!r}')
        suffixes = (img_suffix, ) if isinstance(img_suffix, str) else img_suffix
        self.img_suffix = tuple(suffix.lower() for suffix in suffixes)
        self.recursive = recursive
        self.max_unreadable_share = max_unreadable_share
        self.backend_args = backend_args
        self.unreadable: List[str] = []
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
        try:
            names = sorted(
                name for name in list_dir_or_file(
                    folder, list_dir=False, recursive=self.recursive,
                    backend_args=self.backend_args)
                if name.lower().endswith(self.img_suffix))
        except OSError as error:
            if error.errno != errno.ELOOP:
                raise
            raise OSError(self._loop_message(error.filename)) from error
        if not names:
            searched = 'and its subfolders ' if self.recursive else ''
            raise ValueError(
                f"the unlabeled image folder '{folder}' {searched}holds no "
                f'image ending in {self.img_suffix}')
        return [dict(img_path=join_path(folder, name), seg_fields=[])
                for name in names]

    def prepare_data(self, idx: int) -> Any:
        """The pipeline's output for sample ``idx``, or, if its file cannot be
        read as an image, for the next readable one (see the class)."""
        for offset in range(len(self)):
            index = (idx + offset) % len(self)
            try:
                return super().prepare_data(index)
            except Exception as error:
                path = self.get_data_info(index)['img_path']
                if image_readable(path, self.backend_args):
                    raise
                self._count_unreadable(path, error)
        raise RuntimeError(f"no image of the unlabeled image folder "
                           f"'{self.image_dir}' can be read")

    def _count_unreadable(self, path: str, error: Exception) -> None:
        if path in self.unreadable:
            return
        self.unreadable.append(path)
        total, count = len(self), len(self.unreadable)
        if count > self.max_unreadable_share * total:
            listed = ', '.join(f"'{name}'"
                               for name in self.unreadable[:LISTED_UNREADABLE])
            more = ', ...' if count > LISTED_UNREADABLE else ''
            raise RuntimeError(
                f"{count} of the {total} images of the unlabeled image folder "
                f"'{self.image_dir}' cannot be read, more than "
                f'max_unreadable_share={self.max_unreadable_share:g} of them: '
                f'{listed}{more}. Replace or remove them, or raise '
                'max_unreadable_share.')
        print_log(
            f"unlabeled image '{path}' cannot be read ({error}); skipped: its "
            'samples take the next image of the folder. Unreadable so far in '
            f'this process: {count} of {total} images (training stops above '
            f'max_unreadable_share={self.max_unreadable_share:g}).',
            logger='current', level=logging.WARNING)

    def _loop_message(self, path: str) -> str:
        """What the error of a listing that ran into a link loop at
        ``path`` says."""
        folder = self.image_dir
        link = symlink_loop(folder, path)
        if link is None:
            return (f"listing the unlabeled image folder '{folder}' met too many "
                    f"levels of symbolic links at '{path}'")
        try:
            os.stat(link)
        except OSError:
            return (f"the unlabeled image folder '{folder}' holds a circle of "
                    f"symbolic links: '{link}' -> '{os.readlink(link)}' never "
                    'reaches a file; remove the link')
        return (f"the unlabeled image folder '{folder}' holds a symbolic link "
                f"loop: '{link}' -> '{os.readlink(link)}' points to a folder that "
                'contains it, so listing the subfolders never ends; remove the '
                'link, or set recursive=False')


def image_readable(path: str, backend_args: Optional[dict] = None) -> bool:
    """Whether the file ``path`` decodes as an image (mmcv, OpenCV)."""
    try:
        return mmcv.imfrombytes(get(path, backend_args=backend_args)) is not None
    except Exception:
        return False


def symlink_loop(folder: str, path: str) -> Optional[str]:
    """The symbolic link under ``folder``, on the way to ``path``, that makes
    a loop: a link to a folder that contains it, or into a circle of links;
    None if there is none on the way."""
    current = folder
    for part in osp.relpath(path, folder).split(os.sep):
        current = osp.join(current, part)
        if not osp.islink(current):
            continue
        try:
            os.stat(current)
        except OSError:
            return current
        target = osp.realpath(current)
        parent = osp.realpath(osp.dirname(current))
        if parent == target or parent.startswith(target + os.sep):
            return current
    return None
