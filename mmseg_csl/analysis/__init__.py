"""Analyses of trained models (not imported by ``mmseg_csl`` itself)."""
