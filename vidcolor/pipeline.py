"""`remaster()`: a black-and-white film in, the same film in colour out, with its sound.

Two decoding passes keep memory flat for a film of any length:

1. a cheap low-resolution pass finds the cuts and computes one embedding per
   shot (from a few frames spread over it); it runs in a background thread,
   ahead of the second (shotplan.py);
2. the full pass colours every key_interval-th frame of each shot in batches at
   a working size, fills the frames between and smooths a*b* over neighbouring
   key frames of the same shot along the optical flow, and re-encodes.

The video is encoded in segments kept in a side folder (segments.py) and joined
at the end, so an interrupted remaster can be resumed: the shot plan is saved
with the segments, and a resumed run re-colours only what no segment holds.

The source's luma plane goes to the encoder untouched: only the chroma planes
are new, computed from the predicted a*b* and upsampled guided by the luma.
"""

from __future__ import annotations

import time
from contextlib import closing, nullcontext, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import av
import cv2
import numpy as np
from tqdm import tqdm

from . import __version__
from . import render
from .color import grey_to_lightness_table, guided_upsample, lab_to_rgb, rgb_to_chroma
from .errors import OutputError
from .encoding import VideoWriter
from .media import VideoInfo, YuvFrame, decode_frames, probe_video
from .segments import Segment, SegmentStore, SegmentWriter, join_segments
from .shotplan import LivePlan, ShotPlan
from .stills import DEFAULT_RENDER_SIZE
from .streams import BackgroundSink, StageClock, background
from .temporal import TemporalSmoother

KEY_INTERVAL = 4


@dataclass
class RemasterOptions:
    render_size: int = DEFAULT_RENDER_SIZE  # short side the model works at
    batch_size: int | None = None  # key frames per model call; None: the colorizer's choice (8 on CPU, 32 on GPU)
    key_interval: int = KEY_INTERVAL  # the model colours every n-th frame of a shot; flow fills the rest
    smooth: bool = True
    smooth_strength: float = 0.6
    smooth_radius: int = 2
    crf: int = 18
    preset: str = "veryfast"
    force: bool = False
    weights: Path | None = None
    precision: str = "auto"  # model.PRECISIONS; used when remaster() loads the model itself
    progress: bool = True
    segment_frames: int = 512  # frames per resumable segment; rounded up to a whole number of chunks

    @property
    def chunk_frames(self) -> int:
        """Frames taken per model call: batch_size key frames and the frames between them."""
        if self.batch_size is None:
            raise ValueError("RemasterOptions.batch_size is not settled yet")
        return self.batch_size * self.key_interval


@dataclass
class RemasterResult:
    source: Path
    output: Path
    frames: int
    shots: int
    seconds: float
    warnings: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)  # busy time per stage, summed over threads
    resumed_frames: int = 0  # frames taken from the segments of an interrupted run


def default_output(source: Path) -> Path:
    return source.with_name(f"{source.stem}_color{source.suffix}")


def remaster(
    source: str | Path,
    output: str | Path | None = None,
    options: RemasterOptions | None = None,
    *,
    colorizer=None,
    on_warning: Callable[[str], None] | None = None,
    resume: bool = False,
) -> RemasterResult:
    """Colour a black-and-white film; returns where it went and what was done.

    Finished segments are kept beside the output (segments.parts_folder) until
    the film is done; if the run stops, resume=True goes on from them, provided
    the source and the settings are the same (otherwise it starts over, warning).
    """
    started = time.time()
    options = options or RemasterOptions()
    source = Path(source)
    info = probe_video(source)
    output = Path(output) if output else default_output(source)
    if output.exists() and not options.force:
        raise OutputError(f"{output}: already exists (use --force to overwrite)")
    if output.resolve() == source.resolve():
        raise OutputError(f"{output}: is the input itself; choose another output name")
    warnings: list[str] = []

    def warn(message: str) -> None:
        warnings.append(message)
        (on_warning or tqdm.write)(message)

    if colorizer is None:
        from .model import load_colorizer

        colorizer = load_colorizer(options.weights, precision=options.precision)
    if options.batch_size is None:
        options = replace(options, batch_size=colorizer.batch_size)
    # Fail on an unwritable output or a container that cannot hold the sound now, not after colouring.
    probe_writer = VideoWriter(info, output, crf=options.crf, preset=options.preset, force=options.force)
    format_name = probe_writer.format_name
    probe_writer.abort()
    chunk = options.chunk_frames
    segment_frames = -(-max(1, options.segment_frames) // chunk) * chunk
    store = SegmentStore.open(output, _fingerprint(source, options, colorizer, segment_frames), resume=resume,
                              warn=warn)
    clock = StageClock()
    kept = store.load_plan()
    plan = ShotPlan(*kept) if kept else LivePlan(source, info, colorizer, on_warning=warn, clock=clock,
                                                  on_complete=lambda p: store.save_plan(p.cuts, p.embeddings, p.frames))
    try:
        with closing(plan) if isinstance(plan, LivePlan) else nullcontext():
            done = store.complete_segments()
            _colour_pass(source, output, format_name, info, plan, colorizer, options, segment_frames, store, done,
                         warn, clock)
            plan = plan.finish()
        frames = clock.timed("join", lambda: join_segments(store.complete_segments(), info, output, crf=options.crf,
                                                           preset=options.preset, force=options.force))
    except BaseException as error:
        finished = store.complete_segments()
        if not finished:
            store.remove()
        elif not isinstance(error, KeyboardInterrupt):
            warn(f"{store.folder}: {len(finished)} finished segments kept; resume=True (--resume) goes on from them")
        raise
    store.remove()
    return RemasterResult(source, output, frames, plan.shots, time.time() - started, warnings, dict(clock.seconds),
                          resumed_frames=sum(s.frames for s in done))


def _fingerprint(source: Path, options: RemasterOptions, colorizer, segment_frames: int) -> dict:
    """What a resumed run must share with the interrupted one for the film to come out the same."""
    stat = source.stat()
    return {
        "vidcolor": __version__, "pyav": av.__version__, "libavcodec": list(av.library_versions["libavcodec"]),
        "source": str(source.resolve()), "source_size": stat.st_size, "source_mtime_ns": stat.st_mtime_ns,
        "render_size": options.render_size, "batch_size": options.batch_size, "key_interval": options.key_interval,
        "smooth": options.smooth, "precision": colorizer.precision,
        "smooth_strength": options.smooth_strength, "smooth_radius": options.smooth_radius, "crf": options.crf,
        "preset": options.preset, "segment_frames": segment_frames, "model": colorizer.identity,
    }


class _FrameColourer:
    """Runs the model on the key frames of each chunk of frames, in batches; the frames between
    go on with no a*b* (the smoothing stage fills them)."""

    def __init__(self, info: VideoInfo, plan: ShotPlan | LivePlan, colorizer, options: RemasterOptions, clock: StageClock):
        self.plan, self.colorizer, self.options, self.clock = plan, colorizer, options, clock
        self.table = grey_to_lightness_table(info.full_range)
        self.h, self.w = render.model_size(info.height, info.width, options.render_size, colorizer)
        self.pending: list[tuple[YuvFrame, np.ndarray]] = []

    def lightness(self, frame: YuvFrame) -> tuple[YuvFrame, np.ndarray]:
        """The frame with its L* at the working size (done in the decoding thread)."""
        small = cv2.resize(frame.y, (self.w, self.h), interpolation=cv2.INTER_AREA)
        return frame, self.table[small]

    def push(self, frame: YuvFrame, light: np.ndarray) -> list[tuple[YuvFrame, int, np.ndarray, np.ndarray | None]]:
        """Once a chunk is full: its frames as (frame, shot, L*, a*b* or None between key frames)."""
        self.pending.append((frame, light))
        return self._run_batch() if len(self.pending) >= self.options.chunk_frames else []

    def flush(self) -> list[tuple[YuvFrame, int, np.ndarray, np.ndarray | None]]:
        return self._run_batch() if self.pending else []

    def _run_batch(self):
        pending, self.pending = self.pending, []
        start = time.perf_counter()
        shots = [self.plan.shot_of(frame.index) for frame, _ in pending]
        keys = [i for i, ((frame, _), shot) in enumerate(zip(pending, shots)) if self._is_key(frame.index, shot)]
        ab: list[np.ndarray | None] = [None] * len(pending)
        if keys:
            light = np.stack([pending[i][1] for i in keys])
            predicted = render.predict(self.colorizer, light, self.plan.embeddings[[shots[i] for i in keys]])
            for i, ab_frame in zip(keys, predicted):
                ab[i] = ab_frame
        self.clock.add("colour", time.perf_counter() - start)
        return [(frame, shot, light, ab_frame) for (frame, light), shot, ab_frame in zip(pending, shots, ab)]

    def _is_key(self, index: int, shot: int) -> bool:
        return (index - self.plan.shot_start(shot)) % self.options.key_interval == 0


class _Smoothing:
    """Temporal a*b* at the model's output size (temporal.py): smooths key frames, fills the rest."""

    def __init__(self, options: RemasterOptions, clock: StageClock, output_stride: int):
        strength = options.smooth_strength if options.smooth else 0.0
        self.smoother = TemporalSmoother(radius=options.smooth_radius, strength=strength, light_max=100.0,
                                         key_interval=options.key_interval)
        self.clock = clock
        self.stride = output_stride

    def push(self, item) -> list[tuple[tuple[YuvFrame, np.ndarray], np.ndarray]]:
        """Frames whose a*b* is ready, as ((frame, L* at a*b* size), a*b*)."""
        frame, shot, light, ab = item
        start = time.perf_counter()
        size = (light.shape[1] // self.stride, light.shape[0] // self.stride)
        l_small = cv2.resize(light, size, interpolation=cv2.INTER_AREA)
        out = self.smoother.push((frame, l_small), shot, l_small, ab)
        self.clock.add("smooth", time.perf_counter() - start)
        return out

    def flush(self) -> list[tuple[tuple[YuvFrame, np.ndarray], np.ndarray]]:
        return self.smoother.flush()


def chroma_planes(frame: YuvFrame, light: np.ndarray, ab: np.ndarray, info: VideoInfo) -> tuple[np.ndarray, np.ndarray]:
    """Predicted a*b* (with its lightness) -> the frame's 8-bit U and V planes, edge-aware upsampled."""
    lab = np.concatenate([light[..., None], ab], axis=-1)
    chroma = rgb_to_chroma(lab_to_rgb(lab), info.matrix, info.full_range)
    ch, cw = frame.u.shape
    guide = cv2.resize(frame.y, (cw, ch), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    planes = np.clip(np.round(guided_upsample(chroma, guide)), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(planes[..., 0]), np.ascontiguousarray(planes[..., 1])


def _colour_pass(source, output, format_name, info, plan, colorizer, options, segment_frames, store: SegmentStore,
                 done: list[Segment], warn, clock: StageClock) -> None:
    """Second pass, for the frames no finished segment holds, as four stages joined by bounded
    queues: decode (thread) -> model (this thread) -> smoothing (thread) -> upsample and encode
    into segments (thread). The model's thread does nothing else, so it never waits on the rest."""
    start = len(done) * segment_frames
    if done and start >= plan.finish().frames:
        return  # every frame is in a segment already
    colourer = _FrameColourer(info, plan, colorizer, options, clock)
    smoothing = _Smoothing(options, clock, colorizer.output_stride)
    # Frames before `start` are coloured again only as far as smoothing at `start` reaches back,
    # in whole batches aligned as in an uninterrupted run, so the result is the same.
    chunk = options.chunk_frames
    warm_up = start - min(start, -(-smoothing.smoother.reach // chunk) * chunk)
    bar = tqdm(total=info.frame_count or None, initial=start, desc=f"colouring {source.name}",
               unit="frame", disable=not options.progress)
    queue_size = chunk
    segments = SegmentWriter(store, info, output, format_name, crf=options.crf, preset=options.preset,
                             segment_frames=segment_frames, first_segment=len(done),
                             last_pts=done[-1].last_pts if done else None)

    def encode(item) -> None:
        (frame, light), ab = item
        u, v = clock.timed("upsample", chroma_planes, frame, light, ab, info)
        clock.timed("encode", segments.write, frame.y, u, v, frame.pts)
        bar.update(1)

    def send(items) -> None:
        for item in items:
            (frame, _), _ = item
            if frame.index >= start:  # earlier ones only warmed up the smoothing
                encode_stage.put(item)

    def decode():
        for frame in decode_frames(source, info, on_warning=warn):
            if frame.index >= warm_up:
                yield colourer.lightness(frame)

    encode_stage = BackgroundSink(encode, queue_size, "encode")
    smooth_stage = BackgroundSink(lambda item: send(smoothing.push(item)), queue_size, "smooth")
    decoded = background(decode(), queue_size, clock, "decode")
    try:
        with closing(decoded) as frames:
            for frame, light in frames:
                for item in colourer.push(frame, light):
                    smooth_stage.put(item)
        for item in colourer.flush():
            smooth_stage.put(item)
        smooth_stage.close()
        send(smoothing.flush())
        encode_stage.close()
        segments.close()
    except BaseException as error:
        for stage in (smooth_stage, encode_stage):
            if isinstance(error, Exception):
                # The later stages finish what the model has already coloured, so the
                # segments they complete are kept for a resumed run.
                with suppress(Exception):
                    stage.close()
            else:  # interrupted: stop now
                stage.cancel()
        segments.abort()
        raise
    finally:
        bar.close()
