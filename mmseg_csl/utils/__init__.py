"""Helpers of the package, its tools and its benchmarks that are no part of a
model or of training: walking configs, Markdown tables, the scalar log,
local paths."""
from .config_tree import config_dicts
from .markdown import markdown_table, number
from .paths import is_local_path
from .scalars_log import read_log_scalars, read_scalars

__all__ = [
    'config_dicts', 'is_local_path', 'markdown_table', 'number',
    'read_log_scalars', 'read_scalars'
]
