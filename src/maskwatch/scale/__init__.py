"""maskwatch on a Ray cluster (the ``[ray]`` extra): the same commands, spread over machines.

- :func:`maskwatch.scale.ray_batch.detect_ray` / :func:`~maskwatch.scale.ray_batch.evaluate_ray`:
  ``detect --ray`` and ``evaluate --ray`` as a Ray Data pipeline over a pool of detector actors.
- :func:`maskwatch.scale.ray_serve.serve_ray`: ``serve --ray``, the same FastAPI app as a Ray
  Serve deployment with autoscaling.
- :func:`maskwatch.scale.ray_watch.watch_ray`: ``watch --ray``, each camera a restartable actor,
  all writing one events database.

Nothing here imports Ray at module import time: :func:`need_ray` raises
:class:`~maskwatch.errors.MissingExtraError` naming the install command when it is absent.
"""

from __future__ import annotations


def need_ray(feature: str):
    """The ``ray`` module, or MissingExtraError saying ``pip install 'maskwatch[ray]'``."""
    from ..errors import require

    return require("ray", feature, "ray")


def init_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to the cluster at ``address`` (``auto``, ``127.0.0.1:6379``, ``ray://host:10001``)
    or start a local one (``num_cpus`` of this machine's cores). Returns True when this call
    started or connected Ray (so the caller shuts it down), False when it was already up."""
    ray = need_ray("Ray")
    if ray.is_initialized():
        return False
    kwargs: dict = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus, **kwargs)
    return True


def with_threads(settings, threads: int | None):
    """``settings`` with ``threads`` ONNX threads when they give none (an actor's share of a
    node); unchanged when ``threads`` is None or 0 or they give a number."""
    if threads and settings.threads is None:
        settings = settings.model_copy(update={"threads": threads})
    return settings
