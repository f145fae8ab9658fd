"""Helpers of the package, its tools and its benchmarks that are no part of a
model or of training: walking configs, Markdown tables, the scalar log."""
from .config_tree import config_dicts
from .markdown import markdown_table, number
from .scalars_log import read_log_scalars, read_scalars

__all__ = [
    'config_dicts', 'markdown_table', 'number', 'read_log_scalars', 'read_scalars'
]
