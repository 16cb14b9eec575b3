"""`RayExecutor`: a batch coloured by Ray actors across a cluster (`vidcolor batch --ray`).

The driver (this process) plans and records as in every batch (batch.run_batch); this executor
hands the work out. Each worker is a Ray actor that loads the model once and takes one unit of
work at a time from the driver:

- a still or a film: the whole item (batch.color_item), as the local executor does it;
- a long film (more than two pieces' worth of frames): its first pass (pieces.scan_film), then its
  pieces, several at once on different workers (pieces.color_piece); the driver joins them
  (pieces.SplitFilm) under the film's output lock.

The workers are ray_worker.ColorWorker actors. A worker that dies (its process killed, its node lost) loses only its unit: Ray restarts the
actor and the unit goes back to the front of the queue, for the first free worker; a unit lost
LOST_LIMIT times is recorded as failed (a file that kills its worker must not stop the batch).
Shared storage is assumed: before any work every worker checks that it sees SRC_DIR and OUT_DIR
at the driver's paths. Ray is imported only here, and only when this executor runs.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass, replace
from typing import Callable, Sequence

from tqdm import tqdm

from .archive import BatchItem, BatchJob, ItemResult, error_line, load_batch_colorizer
from ..errors import InputError, ModelError, VidcolorError
from ..exits import warn as print_warning
from ..media import probe_video
from ..options import RemasterOptions
from ..outputs import write_text
from .pieces import Piece, SplitFilm
from .ray_worker import ColorWorker, Outcome

INSTALL = 'pip install "vidcolor[ray]"'
WORKER_CPUS = 4  # CPU cores per worker where the cluster has no GPU
SPLIT_FRAMES = 4096  # frames per piece of a long film
LOST_LIMIT = 3  # times a unit may lose its worker before it is recorded as failed
POLL_SECONDS = 0.5  # how often the driver asks the busy workers how far they are


def import_ray():
    """Ray, or a one-line InputError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise InputError(f"--ray needs Ray, which is not installed: {INSTALL}") from None
    return ray


@dataclass
class _Unit:
    kind: str  # item (a whole still or film), scan (a long film's first pass) or piece
    item: BatchItem
    piece: Piece | None = None
    lost: int = 0


class RayExecutor:
    """Colours a batch's items on Ray (batch.Executor): on the cluster at `address` ("auto",
    "ray://host:port", "host:port"), or on a Ray instance started here (None or "local"); or on
    the one this process is already connected to. Workers: one per GPU, else one per
    `worker_cpus` cores; films longer than two `split_frames` go in pieces. `load(options)` gives
    each worker its colorizer (default: the model the options name)."""

    def __init__(self, address: str | None = None, *, worker_cpus: int = WORKER_CPUS,
                 split_frames: int = SPLIT_FRAMES, load: Callable[[RemasterOptions], object] = load_batch_colorizer):
        self.address, self.worker_cpus, self.split_frames, self.load = address, worker_cpus, split_frames, load
        self.workers_started, self.startup_seconds = 0, 0.0  # the workers, and the time until all had their model

    def run(self, items: Sequence[BatchItem], job: BatchJob, report: Callable[[ItemResult], None]) -> None:
        if not items:
            return
        ray, began = import_ray(), time.time()
        started_here = not ray.is_initialized()
        if started_here:
            local = self.address in (None, "local")
            try:
                ray.init(address=None if local else self.address, include_dashboard=False if local else None,
                         log_to_driver=False, configure_logging=False)
            except (ConnectionError, ValueError, RuntimeError) as error:
                raise InputError(f"--ray {self.address or 'local'}: cannot start or reach Ray ({_one_line(error)})") from None
        workers = []
        try:
            workers = self._start_workers(ray)
            quiet = replace(job, options=job.options.replace(progress=False))  # the driver shows the progress
            self._check_storage(ray, workers, items, quiet)
            _get_all(ray, [worker.load.remote(quiet.options) for worker in workers])
            self.startup_seconds = time.time() - began
            _Dispatch(ray, workers, quiet, report, self.split_frames, job.options.run.progress).run(items)
        except ray.exceptions.RayTaskError as error:
            raise _cause(error) from None
        except ray.exceptions.RayActorError as error:
            raise VidcolorError(f"a Ray worker died before the batch began: {_one_line(error)}") from None
        finally:
            for worker in workers:
                ray.kill(worker)
            if started_here:
                ray.shutdown()

    def _start_workers(self, ray) -> list:
        """One actor per GPU of the cluster, or per worker_cpus cores of each node without GPUs."""
        actor = ray.remote(ColorWorker)
        workers = []
        for node in ray.nodes():
            if not node.get("Alive"):
                continue
            cpus, gpus = int(node["Resources"].get("CPU", 0)), int(node["Resources"].get("GPU", 0))
            if gpus:
                workers += [actor.options(num_cpus=1, num_gpus=1, max_restarts=-1, max_concurrency=2)
                            .remote(self.load, None) for _ in range(gpus)]
            elif cpus:
                per = min(self.worker_cpus, cpus)
                workers += [actor.options(num_cpus=per, max_restarts=-1, max_concurrency=2).remote(self.load, per)
                            for _ in range(cpus // per)]
        if not workers:
            raise VidcolorError("the Ray cluster has no node with CPUs or GPUs to run workers on")
        self.workers_started = len(workers)
        return workers

    def _check_storage(self, ray, workers: list, items: Sequence[BatchItem], job: BatchJob) -> None:
        token_name, token = f".vidcolor-storage-check-{secrets.token_hex(6)}", secrets.token_hex(16)
        path = write_text(job.out_dir / token_name, token)
        try:
            problems = _get_all(ray, [w.check.remote(job.src_dir, job.out_dir, token_name, token, items[0].source)
                                      for w in workers])
        finally:
            path.unlink(missing_ok=True)
        problem = next((p for p in problems if p), None)
        if problem:
            raise type(problem)(f"{problem}: --ray needs every node to see SRC_DIR and OUT_DIR at the same paths "
                                "(shared storage)")


def _get_all(ray, refs: list) -> list:
    """The results of calls to all workers; the first worker's exception, raised once all have answered
    (so that Ray has none left to print as unhandled)."""
    results, errors = [], []
    for ref in refs:
        try:
            results.append(ray.get(ref))
        except ray.exceptions.RayTaskError as error:
            errors.append(error)
    if errors:
        raise _cause(errors[0]) from None
    return results


def _cause(error) -> BaseException:
    """The exception a worker raised (ModelError stops the batch), out of Ray's wrapper."""
    cause = getattr(error, "cause", None)
    return cause if isinstance(cause, BaseException) else VidcolorError(_one_line(error))


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:300]


class _Dispatch:
    """The driver's loop: hands units to free workers, follows them, and reports each item once."""

    def __init__(self, ray, workers: list, job: BatchJob, report: Callable[[ItemResult], None],
                 split_frames: int, progress: bool):
        self.ray, self.job, self.report, self.split_frames, self.progress = ray, job, report, split_frames, progress
        self.free = list(workers)
        self.busy: dict = {}  # object ref -> (worker, unit)
        self.pinged: dict = {}  # object ref -> a worker that lost its unit, asked whether it is back
        self.polls: dict = {}  # object ref -> worker asked how many frames it has done
        self.live: dict = {}  # worker -> frames its current unit has done
        self.queue: deque[_Unit] = deque()
        self.films: dict[str, SplitFilm] = {}
        self.done_frames = 0

    def run(self, items: Sequence[BatchItem]) -> None:
        total = 0
        for item in items:
            frames = self._frame_count(item)
            total += frames
            long = frames > 2 * self.split_frames > 0
            self.queue.append(_Unit("scan" if long else "item", item))
        self.bar = tqdm(total=total or None, desc="frames", unit="frame", position=1, leave=False,
                        disable=not self.progress)
        last_poll = 0.0
        try:
            while self.queue or self.busy:
                self._hand_out()
                if not (self.free or self.busy or self.pinged):
                    raise VidcolorError("all Ray workers were lost; what finished is recorded, rerun to go on")
                waiting = [*self.busy, *self.pinged, *self.polls]
                ready, _ = self.ray.wait(waiting, num_returns=1, timeout=POLL_SECONDS)
                for ref in ready:
                    self._settle(ref)
                if time.time() - last_poll >= POLL_SECONDS:
                    last_poll = time.time()
                    self._poll()
        finally:
            for film in self.films.values():
                film.release()
            self.bar.close()

    def _frame_count(self, item: BatchItem) -> int:
        if item.kind != "video":
            return 0
        try:
            return probe_video(self.job.src_dir / item.source).frame_count or 0
        except VidcolorError:
            return 0  # a damaged film: its worker will say why

    def _hand_out(self) -> None:
        while self.free and self.queue:
            unit = self.queue.popleft()
            if unit.kind == "scan" and unit.item.source not in self.films and not self._claim(unit.item):
                continue
            film = self.films.get(unit.item.source)
            worker = self.free.pop()
            ref = worker.run.remote(unit.kind, unit.item, self.job, unit.piece, film.format_name if film else "",
                                    unit.lost > 0)
            self.busy[ref] = (worker, unit)
            self.live[worker] = 0

    def _claim(self, item: BatchItem) -> bool:
        """A long film's output, checked and locked on the driver before its first pass."""
        film = SplitFilm(item, self.job, self.split_frames)
        try:
            film.claim()
        except Exception as exc:  # noqa: BLE001 - a per-file problem, as in color_item
            film.release()
            film.fail(error_line(film.source, exc))
            self._record(film.result())
            return False
        self.films[item.source] = film
        return True

    def _settle(self, ref) -> None:
        if ref in self.polls:
            worker = self.polls.pop(ref)
            try:
                frames = self.ray.get(ref)
            except self.ray.exceptions.RayActorError:
                frames = 0
            if worker in self.live:  # still on the unit it was asked about
                self.live[worker] = frames
            self._show()
            return
        if ref in self.pinged:
            worker = self.pinged.pop(ref)
            try:
                self.ray.get(ref)
                self.free.append(worker)  # restarted
            except self.ray.exceptions.ActorUnavailableError:
                self.pinged[worker.where.remote()] = worker  # still restarting: ask again
            except self.ray.exceptions.RayActorError:
                pass  # gone for good
            return
        worker, unit = self.busy.pop(ref)
        self.live.pop(worker, None)
        try:
            result = self.ray.get(ref)
        except self.ray.exceptions.RayActorError:
            self._lost(worker, unit)
            return
        except self.ray.exceptions.RayTaskError as error:  # a bug in the worker: the unit failed
            cause = _cause(error)
            if isinstance(cause, ModelError):
                raise cause from None
            result = Outcome(None, error_line(self.job.src_dir / unit.item.source, cause))
            if unit.kind == "item":
                result = ItemResult(unit.item, "failed", error=result.error)
        self.free.append(worker)
        self.done_frames += result.frames or 0
        if unit.kind == "item":
            self._record(result)
        else:
            self._film_step(self.films[unit.item.source], unit, result)
        self._show()

    def _lost(self, worker, unit: _Unit) -> None:
        """The worker died under the unit: the unit goes back in front, unless it was lost too often."""
        self.pinged[worker.where.remote()] = worker
        unit.lost += 1
        film = self.films.get(unit.item.source)
        if unit.lost < LOST_LIMIT and not (film and film.error):  # a failed film's pieces are not made again
            self.queue.appendleft(unit)
            return
        error = (f"{self.job.src_dir / unit.item.source}: its Ray worker was lost {unit.lost} times "
                 "(killed, or out of memory?)")
        if film is None:
            self._record(ItemResult(unit.item, "failed", error=error))
        else:
            self._film_step(film, unit, Outcome(None, error))

    def _film_step(self, film: SplitFilm, unit: _Unit, outcome: Outcome) -> None:
        for message in outcome.warnings:
            film.warn(message)
        if outcome.error:
            film.fail(outcome.error)
            film.waiting.discard(unit.piece)
        elif unit.kind == "scan":
            pieces = film.pieces(outcome.value)
            self.queue.extendleft(_Unit("piece", film.item, piece) for piece in reversed(pieces))
            return
        else:
            film.finished(unit.piece, outcome.value)
        if film.error or not film.waiting:
            self._film_settled(film)

    def _film_settled(self, film: SplitFilm) -> None:
        """Join the film once all its pieces are finished, or give up on it once one failed and none
        is out (they write into its side folder); record it, and let go of its output."""
        mine = film.item.source
        if film.error:
            for unit in [u for u in self.queue if u.item.source == mine]:
                self.queue.remove(unit)
            if any(u.item.source == mine for _, u in self.busy.values()):
                return
        frames = None
        if film.error is None:
            try:
                frames = film.join()
            except Exception as exc:  # noqa: BLE001 - as in color_item
                film.fail(error_line(film.source, exc))
        film.release()
        del self.films[film.item.source]
        self._record(film.result(frames))

    def _record(self, result: ItemResult) -> None:
        if self.progress:
            for message in result.warnings:
                print_warning(message)
        self.report(result)

    def _poll(self) -> None:
        asked = set(self.polls.values())
        for worker, _ in self.busy.values():
            if worker not in asked:
                self.polls[worker.progress.remote()] = worker

    def _show(self) -> None:
        if self.progress:
            self.bar.n = self.done_frames + sum(self.live.values())
            self.bar.refresh()
