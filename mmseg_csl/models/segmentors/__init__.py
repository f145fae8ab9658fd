from .semi_segmentor import SelectionRecord, SemiSegmentor

__all__ = ['SelectionRecord', 'SemiSegmentor']
