"""Stages in background threads joined by bounded queues, so decoding, the model and encoding overlap.

PyAV, OpenCV, NumPy and TensorFlow all release the GIL in their heavy parts,
so plain threads keep both cores busy. Queues are bounded: memory stays flat
however long the film. An exception in any stage stops the others and is
raised in the caller's thread.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator

_DONE = object()


class StageClock:
    """Seconds spent per named stage (summed over threads, so they can exceed the wall time)."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] += seconds

    def timed(self, stage: str, function: Callable, *args):
        start = time.perf_counter()
        try:
            return function(*args)
        finally:
            self.add(stage, time.perf_counter() - start)


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def background(items: Iterable, maxsize: int, clock: StageClock | None = None, stage: str = "") -> Iterator:
    """Iterate `items` in a background thread, handing them over through a bounded queue."""
    handoff: queue.Queue = queue.Queue(maxsize)
    stop = threading.Event()

    def produce() -> None:
        iterator = iter(items)
        try:
            while not stop.is_set():
                start = time.perf_counter()
                try:
                    item = next(iterator)
                except StopIteration:
                    break
                if clock:
                    clock.add(stage, time.perf_counter() - start)
                _put(handoff, item, stop)
        except BaseException as error:  # handed to the consumer, raised there
            _put(handoff, _Failure(error), stop)
            return
        finally:
            close = getattr(iterator, "close", None)
            if close:
                close()
        _put(handoff, _DONE, stop)

    thread = threading.Thread(target=produce, name=f"vidcolor-{stage or 'producer'}", daemon=True)
    thread.start()
    try:
        while True:
            item = handoff.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()


class BackgroundSink:
    """Calls `consume(item)` for each put item in a background thread; `close()` waits and re-raises."""

    def __init__(self, consume: Callable, maxsize: int, name: str = "sink"):
        self._consume = consume
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"vidcolor-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._error is None:
                try:
                    self._consume(item)
                except BaseException as error:
                    self._error = error
                    self._stop.set()

    def put(self, item) -> None:
        if self._error is not None:
            raise self._error
        _put(self._queue, item, self._stop)
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Wait until everything put has been consumed; raise the stage's error, if any."""
        if self._error is None:
            self._queue.put(_DONE)
        else:
            _drain_then_done(self._queue)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def cancel(self) -> None:
        """Stop without consuming what is still queued."""
        self._stop.set()
        _drain_then_done(self._queue)
        self._thread.join()


def _put(handoff: queue.Queue, item, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            handoff.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _drain_then_done(handoff: queue.Queue) -> None:
    while True:
        try:
            handoff.get_nowait()
        except queue.Empty:
            break
    handoff.put(_DONE)
