from .semi_segmentor import SemiSegmentor

__all__ = ['SemiSegmentor']
