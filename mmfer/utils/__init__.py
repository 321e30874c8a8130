"""Checkpoint loading (the one safe, strict path) and parameter counting.

``mmfer.utils.converters`` (official-checkpoint key maps), ``mmfer.utils.flops`` (FLOP counting)
and ``mmfer.utils.dist`` are imported on their own (``import mmfer.utils.flops``).
"""
from .checkpoint import (check_state_dict, extract_state_dict, load_checkpoint, safe_torch_load,
                         strip_prefix)
from .imports import import_submodules
from .params import count_parameters, count_parameters_by_module
from .performance import (apply_performance_cfg, autocast_context, channels_last_input,
                          compile_model, to_channels_last)

__all__ = ['load_checkpoint', 'safe_torch_load', 'check_state_dict', 'extract_state_dict',
           'strip_prefix', 'count_parameters', 'count_parameters_by_module',
           'import_submodules', 'to_channels_last', 'channels_last_input', 'compile_model',
           'autocast_context', 'apply_performance_cfg']
