"""``maskwatch serve --ray``: the same FastAPI app (:func:`~maskwatch.serve.app.create_app`)
as a Ray Serve deployment with FastAPI ingress, scaled between ``min_replicas`` and
``max_replicas`` on the number of requests in flight per replica.

Each replica is the whole app: its own detector (loaded once), its own bounded inference
pool, so every route keeps its behaviour: the API key, the upload limits, 503 +
``Retry-After`` when the replica's queue is full, and ``/metrics`` (per replica: Prometheus
scrapes each replica, or reads Ray's own metrics). Ray Serve's proxy spreads requests over the
replicas; ``max_ongoing_requests`` is set above the app's own pool and queue so that the
app, not the proxy, decides when to answer 503.

gRPC (``--grpc-port``, both services of the plain server: maskwatch.proto and KServe v2) is
served by this process, the driver, and each call is sent to a replica through the
deployment's handle (:class:`ReplicaDetector`): so gRPC calls are spread over the replicas and
counted by the autoscaler as the HTTP ones are, while the API key, the size limits and the
answers stay those of the plain server (the same :func:`~maskwatch.serve.grpc_server.create_grpc_server`).
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
        self._app = None

    def __serve_build_asgi_app__(self):
        from ..serve.app import create_app

        self._app = create_app(None, self.settings)
        return self._app

    def detect(self, image):
        """One decoded image's faces, for the driver's gRPC server."""
        return self._app.state.detector.detect(image)

    def model_version(self) -> str:
        return self._app.state.detector.model_version


class ReplicaDetector:
    """What the gRPC servicers need of a detector (``detect``, ``model_version``), answered by
    the deployment's replicas: a call blocks its gRPC thread until a replica has answered."""

    def __init__(self, handle):
        self.handle = handle
        self.model_version = handle.model_version.remote().result()

    def detect(self, image):
        return self.handle.detect.remote(image).result()


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
        with ``blocking=False``: the deployment handle and the gRPC server (None when
        ``settings.grpc_port`` is 0); the caller stops both.
    """
    need_ray("serve --ray")
    from ray import serve

    settings = settings if settings is not None else ServeSettings.resolve()
    init_ray(address)
    serve.start(http_options={"host": settings.host, "port": settings.port})
    app = deployment(settings, min_replicas, max_replicas, target_ongoing_requests, num_cpus)
    handle = serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)
    grpc_server = _grpc_front(settings, handle, max_replicas) if settings.grpc_port else None
    if not blocking:
        return handle, grpc_server
    import time

    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        if grpc_server is not None:
            grpc_server.stop(grace=2)
        serve.shutdown()
    return None


def _grpc_front(settings: ServeSettings, handle, replicas: int):
    """The plain server's gRPC services on ``settings.grpc_port``, started, on the replicas
    (a thread for each call the replicas can take at once: its thread only waits)."""
    from ..serve.server import start_grpc_server

    server, _ = start_grpc_server(ReplicaDetector(handle), settings, (settings.workers + settings.queue) * replicas)
    return server
