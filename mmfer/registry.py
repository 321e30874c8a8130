"""mmfer registries.

Every registry is a child of the matching mmpretrain registry (which is itself a child of
mmengine's root registry).  Under ``default_scope='mmfer'`` a build first looks in mmfer's
own registry and then walks up to mmpretrain's, so mmpretrain's ``ResNet``,
``ClsDataPreprocessor``, ``PackInputs``, ``Accuracy`` ... resolve without a prefix.

mmengine only imports the *locations* of the registry the lookup starts from, never the
parent's, so each registry also lists the mmpretrain package that fills its parent.
"""
from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain_registry


def _child(name: str, parent: Registry, locations):
    return Registry(name, parent=parent, scope='mmfer', locations=list(locations))


# Runner-level components.
RUNNERS = _child('runner', mmpretrain_registry.RUNNERS, ['mmfer.engine'])
RUNNER_CONSTRUCTORS = _child('runner constructor', mmpretrain_registry.RUNNER_CONSTRUCTORS,
                             ['mmfer.engine'])
LOOPS = _child('loop', mmpretrain_registry.LOOPS, ['mmfer.engine', 'mmpretrain.engine'])
HOOKS = _child('hook', mmpretrain_registry.HOOKS, ['mmfer.engine', 'mmpretrain.engine'])
LOG_PROCESSORS = _child('log processor', mmpretrain_registry.LOG_PROCESSORS, ['mmfer.engine'])
OPTIMIZERS = _child('optimizer', mmpretrain_registry.OPTIMIZERS,
                    ['mmfer.engine', 'mmpretrain.engine'])
OPTIM_WRAPPERS = _child('optim_wrapper', mmpretrain_registry.OPTIM_WRAPPERS, ['mmfer.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    mmpretrain_registry.OPTIM_WRAPPER_CONSTRUCTORS,
                                    ['mmfer.engine', 'mmpretrain.engine'])
PARAM_SCHEDULERS = _child('parameter scheduler', mmpretrain_registry.PARAM_SCHEDULERS,
                          ['mmfer.engine', 'mmpretrain.engine'])

# Data.
DATASETS = _child('dataset', mmpretrain_registry.DATASETS, ['mmfer.datasets', 'mmpretrain.datasets'])
DATA_SAMPLERS = _child('data sampler', mmpretrain_registry.DATA_SAMPLERS,
                       ['mmfer.datasets', 'mmpretrain.datasets'])
TRANSFORMS = _child('transform', mmpretrain_registry.TRANSFORMS,
                    ['mmfer.datasets', 'mmpretrain.datasets'])

# Models.
MODELS = _child('model', mmpretrain_registry.MODELS, ['mmfer.models', 'mmpretrain.models'])
MODEL_WRAPPERS = _child('model_wrapper', mmpretrain_registry.MODEL_WRAPPERS, ['mmfer.models'])
WEIGHT_INITIALIZERS = _child('weight initializer', mmpretrain_registry.WEIGHT_INITIALIZERS,
                             ['mmfer.models'])
BATCH_AUGMENTS = _child('batch augment', mmpretrain_registry.BATCH_AUGMENTS,
                        ['mmfer.models', 'mmpretrain.models'])
TASK_UTILS = _child('task util', mmpretrain_registry.TASK_UTILS, ['mmfer.models'])

# Evaluation and visualisation.
METRICS = _child('metric', mmpretrain_registry.METRICS, ['mmfer.evaluation', 'mmpretrain.evaluation'])
EVALUATORS = _child('evaluator', mmpretrain_registry.EVALUATORS, ['mmfer.evaluation'])
VISUALIZERS = _child('visualizer', mmpretrain_registry.VISUALIZERS,
                     ['mmfer.visualization', 'mmpretrain.visualization'])
VISBACKENDS = _child('vis_backend', mmpretrain_registry.VISBACKENDS, ['mmfer.visualization'])

__all__ = [
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS', 'OPTIMIZERS',
    'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'DATASETS',
    'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS', 'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS',
    'BATCH_AUGMENTS', 'TASK_UTILS', 'METRICS', 'EVALUATORS', 'VISUALIZERS', 'VISBACKENDS'
]
