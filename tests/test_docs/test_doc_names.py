"""Every dotted ``mmfer.…`` name the docs show resolves, and every plugin is exported.

1. ``README.md`` and ``docs/**/*.md`` are read at test time; every ``mmfer.a.b.Name`` inside an
   inline code span or a fenced code block, and every name of a ``from mmfer.x import A, B`` line
   in a code block, must resolve: the longest importable module prefix is imported and the rest
   is looked up with ``getattr``.
2. Every class that mmfer code registers in an mmfer registry is exported: its name is in the
   ``__all__`` of the package holding its module and of the top-level kind package
   (``mmfer.models``, ``mmfer.datasets``, ``mmfer.engine`` ...), and that name is the class.
3. Every name listed in an ``__all__`` of an mmfer package exists.
"""
import glob
import importlib
import os.path as osp
import pkgutil
import re

import pytest

import mmfer
import mmfer.registry

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# a dotted name not glued to a longer word or path (``dan_mmfer.pth`` is a file name, not a name)
DOTTED = re.compile(r'(?<![\w./-])mmfer(?:\.[A-Za-z_]\w*)+')
FROM_IMPORT = re.compile(r'^\s*from\s+(mmfer(?:\.\w+)*)\s+import\s+\(?([\w\s,]+)\)?')
FENCE = re.compile(r'^\s*(```|~~~)')
INLINE = re.compile(r'`([^`\n]+)`')

# the paths the issue tracker and the specs promise, whether or not a doc names them today
PROMISED = [
    'mmfer.models.heads.DANHead', 'mmfer.models.heads.FERClsHead',
    'mmfer.models.necks.MultiHeadCrossAttention', 'mmfer.models.necks.CrossSimilarityAttention',
    'mmfer.models.necks.POSTERBase', 'mmfer.models.necks.POSTERViT',
    'mmfer.models.losses.FERCrossEntropyLoss', 'mmfer.models.losses.AffinityLoss',
    'mmfer.models.losses.PartitionLoss', 'mmfer.models.losses.BaseFERLoss',
    'mmfer.models.backbones.IResNet', 'mmfer.models.classifiers.FERClassifier',
    'mmfer.models.classifiers.QCSClassifier', 'mmfer.models.classifiers.DCSClassifier',
    'mmfer.models.DANHead', 'mmfer.models.MultiViewDataPreprocessor',
    'mmfer.utils.load_checkpoint', 'mmfer.utils.count_parameters',
    'mmfer.datasets.LabelNoiseDataset', 'mmfer.datasets.RAFDB', 'mmfer.datasets.AffectNet',
    'mmfer.datasets.FERPlus', 'mmfer.datasets.QuadrupletDataset', 'mmfer.datasets.SynthFER',
    'mmfer.datasets.ClassBalancedSampler', 'mmfer.datasets.LoadFERImage',
    'mmfer.apis.init_model', 'mmfer.apis.inference_model',
    'mmfer.engine.RunInfoHook', 'mmfer.engine.DatasetEpochHook', 'mmfer.engine.SAMOptimWrapper',
    'mmfer.engine.hooks.RunInfoHook', 'mmfer.engine.optimizers.SAMOptimWrapper',
    'mmfer.evaluation.FERMetric',
]


def doc_files():
    files = [osp.join(ROOT, 'README.md')] + sorted(
        glob.glob(osp.join(ROOT, 'docs', '**', '*.md'), recursive=True))
    return [f for f in files if osp.isfile(f)]


def documented_names(path):
    """``[(line_no, name)]`` of the mmfer names in code spans and code blocks of one file."""
    out = []
    in_block = False
    with open(path, encoding='utf-8') as f:
        for no, line in enumerate(f, 1):
            if FENCE.match(line):
                in_block = not in_block
                continue
            if in_block:
                m = FROM_IMPORT.match(line)
                if m:  # ``from mmfer.apis import a, b as c``: check mmfer.apis.a, mmfer.apis.b
                    out += [(no, f'{m.group(1)}.{n.split()[0]}') for n in m.group(2).split(',')
                            if n.strip()]
                    continue
                texts = [line]
            else:
                texts = INLINE.findall(line)
            for text in texts:
                out += [(no, name) for name in DOTTED.findall(text)]
    return out


def resolve(name):
    """The object ``name`` names: import the longest module prefix, getattr the rest.
    Raises ``LookupError`` saying what part is missing."""
    parts = name.split('.')
    for i in range(len(parts), 0, -1):
        module_name = '.'.join(parts[:i])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name is not None and not module_name.startswith(e.name):
                raise  # the module exists but one of its own imports is missing
            continue
        for j, attr in enumerate(parts[i:], i):
            if not hasattr(obj, attr):
                raise LookupError(f"{'.'.join(parts[:j])} has no attribute {attr!r}")
            obj = getattr(obj, attr)
        return obj
    raise LookupError(f'no importable module in {name}')


def mmfer_packages():
    names = ['mmfer']
    for info in pkgutil.walk_packages(mmfer.__path__, 'mmfer.'):
        if info.ispkg:
            names.append(info.name)
    return sorted(names)


def registered_mmfer_objects():
    """``[(registry name, key, object)]`` for everything mmfer's own modules registered."""
    out = []
    for reg_name in mmfer.registry.__all__:
        registry = getattr(mmfer.registry, reg_name)
        for key, obj in registry.module_dict.items():
            if getattr(obj, '__module__', '').startswith('mmfer.'):
                out.append((reg_name, key, obj))
    return out


def test_doc_files_are_found_and_parsed(tmp_path):
    rel = {osp.relpath(f, ROOT) for f in doc_files()}
    assert 'README.md' in rel and 'docs/add_plugin.md' in rel
    # the parser reads inline code, fenced code and from-imports, not prose or file names
    sample = tmp_path / 'sample.md'
    sample.write_text('See `mmfer.utils.load_checkpoint` and the file `dan_mmfer.pth`.\n'
                      '```python\n'
                      'from mmfer.apis import init_model, inference_model\n'
                      'loss = mmfer.models.losses.AffinityLoss(num_centers=8)\n'
                      '```\n'
                      'prose mmfer.not.in.code is not read\n', encoding='utf-8')
    assert documented_names(str(sample)) == [
        (1, 'mmfer.utils.load_checkpoint'), (3, 'mmfer.apis.init_model'),
        (3, 'mmfer.apis.inference_model'), (4, 'mmfer.models.losses.AffinityLoss')]
    with pytest.raises(LookupError, match="mmfer.models.heads has no attribute 'NoSuchHead'"):
        resolve('mmfer.models.heads.NoSuchHead')
    assert resolve('mmfer.utils.checkpoint.load_checkpoint') is resolve(
        'mmfer.utils.load_checkpoint')


def test_every_documented_name_resolves():
    failures = []
    count = 0
    for path in doc_files():
        for line, name in documented_names(path):
            count += 1
            try:
                resolve(name)
            except (LookupError, ImportError) as e:
                failures.append(f'{osp.relpath(path, ROOT)}:{line}: `{name}` does not resolve '
                                f'({e}); fix the doc or export the name')
    assert count > 0, 'no mmfer names found in the docs: is the parser broken?'
    assert not failures, '\n'.join(failures)


@pytest.mark.parametrize('name', PROMISED)
def test_promised_paths_resolve(name):
    obj = resolve(name)
    package, attr = name.rsplit('.', 1)
    assert attr in importlib.import_module(package).__all__
    assert obj.__name__ == attr


def test_every_registered_class_is_exported():
    objects = registered_mmfer_objects()
    found = {key for _, key, _ in objects}
    # a sample of what importing mmfer registers (one per kind)
    assert {'DANHead', 'IResNet', 'RAFDB', 'LoadFERImage', 'ClassBalancedSampler', 'FERMetric',
            'RunInfoHook', 'SAMOptimWrapper'} <= found
    missing = []
    for reg_name, key, obj in objects:
        module = obj.__module__
        parts = module.split('.')
        packages = {'.'.join(parts[:-1]), '.'.join(parts[:2])} - {'mmfer'}
        if hasattr(importlib.import_module(module), '__path__'):
            packages.add(module)  # a class defined in a package's own __init__
        lacking = [package for package in sorted(packages)
                   if obj.__name__ not in getattr(importlib.import_module(package), '__all__', ())
                   or getattr(importlib.import_module(package), obj.__name__, None) is not obj]
        if lacking:
            files = ', '.join(p.replace('.', '/') + '/__init__.py' for p in lacking)
            missing.append(f'{reg_name}[{key!r}] = {module}.{obj.__name__}: import it and list '
                           f'it in __all__ of {files}')
    assert not missing, '\n'.join(missing)


def test_every_all_entry_exists():
    packages = mmfer_packages()
    assert {'mmfer.models.heads', 'mmfer.datasets.transforms', 'mmfer.engine.hooks'} <= set(
        packages)
    bad = []
    for package in packages:
        pkg = importlib.import_module(package)
        names = getattr(pkg, '__all__', None)
        if names is None:
            continue
        assert len(names) == len(set(names)), f'{package}.__all__ lists a name twice'
        bad += [f'{package}.__all__ lists {n!r}, which {package} does not define'
                for n in names if not hasattr(pkg, n)]
    assert not bad, '\n'.join(bad)
