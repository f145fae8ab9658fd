from .decode_adapters import (
                              CascadeAdapter,
                              DecodeAdapter,
                              MaskClassificationAdapter,
                              SingleHeadAdapter,
                              build_decode_adapter,
                              predicted_output,
                              register_predicted_output,
)
from .semi_checkpoint_keys import (
    has_wrapped_keys,
    unwrap_segmentor_keys,
    wrap_segmentor_keys,
)
from .semi_segmentor import SemiSegmentor
from .slide_cut_encoder_decoder import SlideCutEncoderDecoder, check_test_cfg
from .zoo_dependencies import check_zoo_dependencies, needed_packages

__all__ = [
    'CascadeAdapter', 'DecodeAdapter', 'MaskClassificationAdapter',
    'SemiSegmentor', 'SingleHeadAdapter', 'SlideCutEncoderDecoder',
    'build_decode_adapter', 'check_test_cfg', 'check_zoo_dependencies',
    'has_wrapped_keys', 'needed_packages', 'predicted_output',
    'register_predicted_output', 'unwrap_segmentor_keys', 'wrap_segmentor_keys'
]
