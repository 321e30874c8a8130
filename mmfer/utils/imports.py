"""Import every module of a package so that its registry decorators run."""
import importlib
import pkgutil


def import_submodules(package_name: str, package_path) -> list:
    """Import all modules below ``package_path`` (recursively) and return their names.

    Sub-packages' ``__init__`` files do the same for their own children, so importing
    ``mmfer`` registers every plugin.  A broken plugin file raises here, at import time.
    """
    names = []
    for info in sorted(pkgutil.iter_modules(package_path), key=lambda i: i.name):
        if info.name.startswith('_'):
            continue
        full = f'{package_name}.{info.name}'
        importlib.import_module(full)
        names.append(full)
    return names
