"""Key-mapping functions of the official-checkpoint converters (one module per source).

``tools/model_converters/*.py`` are thin command-line wrappers around these modules, so the
mappings can be imported and tested.  Every mapping renames each known key to exactly one mmfer
key, raises on any key it does not know, and its result is checked against the mmfer model with
:func:`mmfer.utils.checkpoint.check_state_dict` (no silent partial loads).
"""
