"""A TensorBoard backend that the shared runtime config can list switched off."""
from mmengine.visualization import TensorboardVisBackend

from mmfer.registry import VISBACKENDS


@VISBACKENDS.register_module()
class OptionalTensorboardVisBackend(TensorboardVisBackend):
    """mmengine's :class:`~mmengine.visualization.TensorboardVisBackend` behind a switch.

    ``configs/_base_/default_runtime.py`` lists it second in ``vis_backends`` with
    ``enable=False``: then every ``add_*`` call is a no-op and TensorBoard is never imported
    (mmengine's backend has no switch, and ``--cfg-options`` cannot append to a list), so
    ``--cfg-options visualizer.vis_backends.1.enable=True`` turns TensorBoard on for one run.
    Enabled, it is mmengine's backend unchanged: event files under
    ``<work_dir>/<timestamp>/vis_data/`` (``tensorboard --logdir work_dirs/...``); it needs the
    ``tensorboard`` package (the ``vis`` extra).

    Args:
        save_dir (str): where the event files go (the Visualizer sets it).
        enable (bool): write TensorBoard events. Default False.
    """

    def __init__(self, save_dir: str, enable: bool = False):
        super().__init__(save_dir)
        self.enable = bool(enable)

    @property
    def experiment(self):
        """The ``SummaryWriter`` when enabled, else ``None``."""
        return super().experiment if self.enable else None

    def add_config(self, config, **kwargs) -> None:
        if self.enable:
            super().add_config(config, **kwargs)

    def add_graph(self, model, data_batch, **kwargs) -> None:
        if self.enable:
            super().add_graph(model, data_batch, **kwargs)

    def add_image(self, name, image, step=0, **kwargs) -> None:
        if self.enable:
            super().add_image(name, image, step, **kwargs)

    def add_scalar(self, name, value, step=0, **kwargs) -> None:
        if self.enable:
            super().add_scalar(name, value, step, **kwargs)

    def add_scalars(self, scalar_dict, step=0, file_path=None, **kwargs) -> None:
        if self.enable:
            super().add_scalars(scalar_dict, step, file_path, **kwargs)

    def close(self) -> None:
        if self.enable:
            super().close()
