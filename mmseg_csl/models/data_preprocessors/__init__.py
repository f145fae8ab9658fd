from .multi_branch_data_preprocessor import MultiBranchDataPreProcessor
from .pixel_pad_seg_data_preprocessor import PixelPadSegDataPreProcessor

__all__ = ['MultiBranchDataPreProcessor', 'PixelPadSegDataPreProcessor']
