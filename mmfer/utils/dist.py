"""Distributed set-up that also works without CUDA (gloo on CPU)."""
import torch
import torch.distributed as dist


def setup_cpu_distributed(cfg, launcher: str):
    """Prepare ``cfg`` for a distributed run on a machine without CUDA.

    mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device`` unconditionally and its
    runner wraps the model in DDP with ``device_ids=[LOCAL_RANK]``; neither works on CPU.
    For the ``pytorch`` launcher (torchrun, ``tools/dist_train.sh``) this starts the gloo
    process group itself — the runner then skips its own initialisation — and gives the DDP
    wrapper ``device_ids=None`` (what DDP requires for CPU modules). With CUDA it does nothing.

    Raises:
        RuntimeError: slurm / mpi launchers without CUDA (mmengine's initialisation of
            those needs a GPU).
    """
    if launcher == 'none' or torch.cuda.is_available():
        return cfg
    if launcher != 'pytorch':
        raise RuntimeError(f'launcher {launcher!r} needs CUDA (mmengine sets a CUDA device when '
                           'it initialises it); on CPU use tools/dist_train.sh (torchrun)')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:
        wrapper = dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                       find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    return cfg
