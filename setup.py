import os.path as osp

from setuptools import find_packages, setup


def read_version():
    ns = {}
    with open(osp.join(osp.dirname(__file__), 'mmfer', 'version.py')) as f:
        exec(f.read(), ns)
    return ns['__version__']


def read_requirements(name):
    path = osp.join(osp.dirname(__file__), 'requirements', name)
    with open(path) as f:
        return [ln.strip() for ln in f if ln.strip() and not ln.startswith('#')]


setup(
    name='mmfer',
    version=read_version(),
    description='Facial expression recognition toolbox on mmengine, mmcv and mmpretrain',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('tests', 'configs', 'tools', 'docs')),
    python_requires='>=3.8',
    install_requires=read_requirements('runtime.txt'),
    extras_require=dict(tests=read_requirements('tests.txt'),
                        optional=read_requirements('optional.txt'),
                        infer=read_requirements('infer.txt'),
                        onnx=read_requirements('onnx.txt'),
                        vis=read_requirements('vis.txt')),
    license='Apache License 2.0',
    zip_safe=False,
)
