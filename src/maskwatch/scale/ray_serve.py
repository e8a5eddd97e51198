"""``maskwatch serve --ray``: the same FastAPI app (:func:`~maskwatch.serve.app.create_app`)
as a Ray Serve deployment with FastAPI ingress, scaled between ``min_replicas`` and
``max_replicas`` on the number of requests in flight per replica.

Each replica is the whole app: its own detector (loaded once), its own bounded inference
pool, so every route keeps its behaviour: the API key, the upload limits, 503 +
``Retry-After`` when the replica's queue is full, and ``/metrics`` (per replica: Prometheus
scrapes each replica, or reads Ray's own metrics). Ray Serve's proxy spreads requests over the
replicas; ``max_ongoing_requests`` is set above the app's own pool and queue so that the
app, not the proxy, decides when to answer 503.

The gRPC server (``--grpc-port``) is not part of this deployment: run ``maskwatch serve``
beside it for gRPC, or put the gRPC clients behind the plain server.
"""

from __future__ import annotations

from ..settings import ServeSettings
from . import init_ray, need_ray

#: the Ray Serve application's name
APP_NAME = "maskwatch"


class MaskwatchReplica:
    """One replica: the maskwatch app built on the replica (model loaded there, once)."""

    def __init__(self, settings: ServeSettings):
        self.settings = settings

    def __serve_build_asgi_app__(self):
        from ..serve.app import create_app

        return create_app(None, self.settings)


def deployment(
    settings: ServeSettings,
    min_replicas: int = 1,
    max_replicas: int = 2,
    target_ongoing_requests: float = 2.0,
    num_cpus: float = 1.0,
):
    """The bound Ray Serve application (``serve.run`` it, or ``serve build`` a config)."""
    need_ray("serve --ray")
    from ray import serve

    if not 1 <= min_replicas <= max_replicas:
        from ..errors import ConfigError

        raise ConfigError(f"--min-replicas {min_replicas} / --max-replicas {max_replicas}: need 1 <= min <= max")
    ingress = serve.ingress()(MaskwatchReplica)
    dep = serve.deployment(
        ingress,
        name="maskwatch",
        autoscaling_config={
            "min_replicas": min_replicas,
            "initial_replicas": min_replicas,
            "max_replicas": max_replicas,
            "target_ongoing_requests": target_ongoing_requests,
        },
        # above the app's own pool + queue: the app answers 503 with Retry-After, as without Ray
        max_ongoing_requests=settings.workers + settings.queue + 8,
        ray_actor_options={"num_cpus": num_cpus},
    )
    return dep.bind(settings)


def serve_ray(
    settings: ServeSettings | None = None,
    min_replicas: int = 1,
    max_replicas: int = 2,
    target_ongoing_requests: float = 2.0,
    address: str | None = None,
    blocking: bool = True,
    num_cpus: float = 1.0,
):
    """``maskwatch serve --ray``: run the app on Ray Serve at ``settings.host:settings.port``.

    Args:
        settings: the resolved :class:`~maskwatch.settings.ServeSettings` (host, port, API key,
            limits, pool size and queue are each replica's).
        min_replicas, max_replicas, target_ongoing_requests: Ray Serve's ``autoscaling_config``.
        address: the cluster; None: a local Ray started here (or the one already running).
        blocking: wait until interrupted (the CLI); False returns the handle at once (tests).
        num_cpus: CPUs each replica reserves.

    Returns:
        the deployment handle (with ``blocking=False``).
    """
    need_ray("serve --ray")
    from ray import serve

    settings = settings if settings is not None else ServeSettings.resolve()
    init_ray(address)
    serve.start(http_options={"host": settings.host, "port": settings.port})
    app = deployment(settings, min_replicas, max_replicas, target_ongoing_requests, num_cpus)
    handle = serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)
    if not blocking:
        return handle
    import time

    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        serve.shutdown()
    return None
