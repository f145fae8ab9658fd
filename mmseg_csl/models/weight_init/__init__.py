from .unimatch_resnet_pretrained import (
    UniMatchResNetPretrainedInit,
    missing_weights_message,
)

__all__ = ['UniMatchResNetPretrainedInit', 'missing_weights_message']
