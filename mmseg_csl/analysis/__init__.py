"""Analyses of trained models (not imported by ``mmseg_csl`` itself)."""
from .reference_csl import reference_csl
from .split_scores import score_test_split

__all__ = ['reference_csl', 'score_test_split']
