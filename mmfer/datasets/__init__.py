# Every module in this package is imported so that its @register_module() decorators run;
# a new plugin file needs no edit here.
from mmfer.utils.imports import import_submodules

import_submodules(__name__, __path__)
