"""The GPU check of mmseg_csl (``check.py``) in its parts."""
