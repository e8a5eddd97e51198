"""Inference off the event loop, with a bounded queue: when all workers are busy and the
queue is full, callers get :class:`Busy` (503 + Retry-After) instead of memory growing."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..errors import HttpError


class Busy(HttpError):
    """The server is at capacity: 503, retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: int = 1):
        super().__init__(503, "server busy: inference queue is full, retry later", {"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class InferencePool:
    def __init__(self, workers: int = 2, queue: int = 16):
        self.capacity = workers + queue
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inference")
        self._lock = threading.Lock()
        self.pending = 0

    async def run(self, fn: Callable[..., Any], *args) -> Any:
        with self._lock:
            if self.pending >= self.capacity:
                raise Busy()
            self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)
        finally:
            with self._lock:
                self.pending -= 1

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
