"""Telling local files from the other places a path may name."""


def is_local_path(filename: str) -> bool:
    """Whether ``filename`` names a file of this machine: no ``scheme://``
    prefix (``open-mmlab://``, ``https://``, ``s3://``...)."""
    return '://' not in str(filename)
