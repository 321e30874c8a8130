"""Checkpoint loading (the one safe, strict path) and parameter counting.

``mmfer.utils.converters`` (official-checkpoint key maps), ``mmfer.utils.flops`` (FLOP counting)
and ``mmfer.utils.dist`` are imported on their own (``import mmfer.utils.flops``).
"""
from .checkpoint import (check_state_dict, extract_state_dict, load_checkpoint, safe_torch_load,
                         strip_prefix)
from .imports import import_submodules
from .params import count_parameters, count_parameters_by_module

__all__ = ['load_checkpoint', 'safe_torch_load', 'check_state_dict', 'extract_state_dict',
           'strip_prefix', 'count_parameters', 'count_parameters_by_module',
           'import_submodules']
