"""Prometheus metrics for /metrics, in a registry of the app's own (tests make many apps)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ServeMetrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "maskwatch_requests", "HTTP/gRPC/WebSocket requests", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "maskwatch_request_seconds",
            "Request latency",
            ["route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.faces = Counter("maskwatch_faces", "Faces detected, by label", ["label"], registry=self.registry)
        self.in_flight = Gauge(
            "maskwatch_inference_pending", "Requests running or queued for inference", registry=self.registry
        )
        self.video_pending = Gauge(
            "maskwatch_video_pending",
            "Video uploads being analysed or waiting for the video pool",
            registry=self.registry,
        )
        self.video_frames = Counter(
            "maskwatch_video_frames", "Video frames analysed for /v1/detect/video", registry=self.registry
        )
        self.video_cancelled = Counter(
            "maskwatch_video_cancelled", "Video analyses stopped because the client went away", registry=self.registry
        )

    def record(self, route: str, status: int, started: float) -> None:
        """One request of ``route`` ended with ``status`` (for the WebSocket: 200 per frame
        answered, or the close code it was refused with); ``started`` is its perf_counter."""
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(time.perf_counter() - started)
