import gc
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
# tests/ itself, for the shared test helper modules (`from tool_loader import load_tool`);
# --import-mode=importlib (pytest.ini) does not put test folders on sys.path
TESTS = os.path.dirname(os.path.abspath(__file__))
if TESTS not in sys.path:
    sys.path.append(TESTS)

# mmengine's BaseDataset runs gc.collect() on every construction (~0.3 s with torch loaded);
# freezing the objects alive after imports makes those collections cheap in tests.
import mmfer  # noqa: E402,F401
gc.freeze()

if os.environ.get('PYTEST_XDIST_WORKER'):
    # `make test` runs one pytest-xdist worker per core: one intra-op thread each, so that the
    # workers do not oversubscribe the cores (OpenMP spin-waiting makes small ops 10-20x
    # slower then). Subprocesses a test starts keep their own defaults.
    import torch  # noqa: E402
    torch.set_num_threads(1)


@pytest.fixture(autouse=True, scope='session')
def _mmfer_scope():
    """Every test builds under default_scope='mmfer' like the configs do."""
    import mmfer  # noqa: F401
    from mmengine.registry import init_default_scope
    init_default_scope('mmfer')
    yield


@pytest.fixture(scope='module')
def one_thread():
    """One intra-op thread for a module (``pytestmark = pytest.mark.usefixtures('one_thread')``):
    on a shared, loaded CPU box OpenMP spin-waiting makes tiny ops up to 100× slower with two
    threads. The previous count is restored after the module."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _fp16_cpu(monkeypatch, native: bool):
    import mmfer.utils.performance as perf
    monkeypatch.setattr(perf, 'cpu_has_native_fp16', lambda: native)


@pytest.fixture
def cpu_without_fp16(monkeypatch):
    """This CPU treated as one without native fp16 (an AVX2 machine): amp=fp16 is refused on
    the CPU, whatever the machine running the test has."""
    _fp16_cpu(monkeypatch, False)


@pytest.fixture
def cpu_with_fp16(monkeypatch):
    """This CPU treated as one with native fp16 (AVX512-FP16 / AMX-FP16): amp=fp16 is accepted
    on the CPU. fp16 autocast runs on every CPU (emulated where it is not native, only slower),
    so the tests of this path run anywhere."""
    _fp16_cpu(monkeypatch, True)
