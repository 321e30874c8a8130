"""Import a command-line tool (a script under ``tools/`` or ``demo/``) as a module in-process, so
that tests call its functions without an interpreter start. ``tests/`` is on ``sys.path``
(tests/conftest.py appends it), so test files do
``from tool_loader import load_tool``."""
import importlib.util
import os.path as osp

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool(path: str):
    """The module of ``path`` (relative to the repository root, e.g.
    ``'tools/analysis/run_table.py'``, or absolute), freshly executed."""
    full = path if osp.isabs(path) else osp.join(ROOT, path)
    name = osp.splitext(osp.basename(full))[0]
    spec = importlib.util.spec_from_file_location(name, full)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
