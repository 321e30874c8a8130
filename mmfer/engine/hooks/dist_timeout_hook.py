"""DistTimeoutHook: a collective that times out fails with a message naming
``env_cfg.dist_cfg.timeout``."""
import functools

from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.runner import BaseLoop

from mmfer.registry import HOOKS
from mmfer.utils.dist import DistTimeoutError, dist_timeout, explain_dist_timeout


@HOOKS.register_module()
class DistTimeoutHook(Hook):
    """Explain distributed timeouts (issue 10 item 7).

    A rank that stops (SIGSTOP, swapped out, stuck) leaves the others waiting inside a
    collective — DDP's gradient all-reduce, the evaluator's gather — until the process-group
    timeout, and what they then print is PyTorch's "Timed out waiting 1800000ms for recv
    operation" with no hint of the setting. In a distributed run this hook

    - ``before_run``: logs the timeout in force (``env_cfg.dist_cfg.timeout`` seconds, see
      :func:`mmfer.utils.dist.dist_timeout`), and wraps the ``run`` of the built train / val /
      test loops with :func:`mmfer.utils.dist.explain_dist_timeout`, so a collective timing
      out anywhere in them is re-raised as :class:`~mmfer.utils.dist.DistTimeoutError` naming
      the rank, the timeout and the option (the original error chained). The job exits
      non-zero as before, with the explanation in the traceback and the log.

    NCCL's watchdog may abort the process from C++ before Python sees an error; the INFO line
    written at start then still names the timeout and the option in the log. In a
    non-distributed run the hook does nothing. It is a ``default_hooks`` entry
    (``dist_timeout``) of ``configs/_base_/default_runtime.py``.

    Args:
        enable (bool): False leaves the loops unwrapped. Default True.
    """
    priority = 'VERY_HIGH'

    def __init__(self, enable: bool = True):
        self.enable = enable

    def before_run(self, runner) -> None:
        if not self.enable or get_world_size() <= 1:
            return
        timeout = dist_timeout(runner.cfg)
        runner.logger.info(f'distributed collectives time out after {timeout:g} s '
                           '(env_cfg.dist_cfg.timeout)')
        for name in ('_train_loop', '_val_loop', '_test_loop'):
            loop = getattr(runner, name, None)
            if isinstance(loop, BaseLoop) and not getattr(loop.run, '_mmfer_timeout', False):
                loop.run = self._wrap(loop.run, timeout, runner)

    @staticmethod
    def _wrap(run, timeout: float, runner):
        @functools.wraps(run)
        def run_explained(*args, **kwargs):
            try:
                with explain_dist_timeout(timeout):
                    return run(*args, **kwargs)
            except DistTimeoutError as err:
                runner.logger.error(str(err))
                raise
        run_explained._mmfer_timeout = True
        return run_explained
