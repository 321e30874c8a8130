"""Every module of ``mmfer`` imports in a fresh process, in alphabetical and in reverse order
(an import cycle — e.g. a backbone importing a converter that imports the backbone — fails
in one of the two orders)."""
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def mmfer_modules():
    """Dotted names of every ``.py`` module under ``mmfer/`` (packages by their ``__init__``)."""
    names = []
    for dirpath, dirnames, filenames in os.walk(osp.join(ROOT, 'mmfer')):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(('.', '__')))
        rel = osp.relpath(dirpath, ROOT).replace(os.sep, '.')
        for f in filenames:
            if f.endswith('.py'):
                names.append(rel if f == '__init__.py' else f'{rel}.{f[:-3]}')
    return sorted(names)


def test_module_list_is_complete():
    names = mmfer_modules()
    assert 'mmfer.utils.checkpoint' in names and 'mmfer.engine.runner' in names
    assert 'mmfer.models.backbones.ir50' in names and 'mmfer.utils.converters.ir50' in names
    assert len(names) == len(set(names)) > 50


@pytest.mark.parametrize('order', ['alphabetical', 'reverse'])
def test_every_module_imports_in_a_fresh_process(order):
    names = mmfer_modules()
    if order == 'reverse':
        names = names[::-1]
    code = ('import importlib, sys\n'
            f'names = {names!r}\n'
            'for n in names:\n'
            '    importlib.import_module(n)\n'
            'print(len(names), "imported; first", names[0])\n')
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == f'{len(names)} imported; first {names[0]}'
