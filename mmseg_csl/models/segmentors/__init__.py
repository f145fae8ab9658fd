from .decode_adapters import (
                              CascadeAdapter,
                              DecodeAdapter,
                              MaskClassificationAdapter,
                              SingleHeadAdapter,
                              build_decode_adapter,
                              predicted_output,
                              register_predicted_output,
)
from .semi_segmentor import SemiSegmentor
from .slide_cut_encoder_decoder import SlideCutEncoderDecoder, check_test_cfg
from .zoo_dependencies import check_zoo_dependencies, needed_packages

__all__ = [
    'CascadeAdapter', 'DecodeAdapter', 'MaskClassificationAdapter',
    'SemiSegmentor', 'SingleHeadAdapter', 'SlideCutEncoderDecoder',
    'build_decode_adapter', 'check_test_cfg', 'check_zoo_dependencies',
    'needed_packages', 'predicted_output', 'register_predicted_output'
]
