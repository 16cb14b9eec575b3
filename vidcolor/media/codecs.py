"""The output's video codec (--codec): which one a film gets, the depth and chroma subsampling its
frames travel at, and each encoder's settings (encode.py sets up the stream around them).

- `auto` keeps the source's class: an FFV1 or ProRes master comes back FFV1 or ProRes; a 10-bit
  (or deeper) HEVC film comes back HEVC, because 10-bit H.264 plays almost nowhere while HEVC
  Main 10 plays where the source did; anything else (H.264, MPEG-2, MPEG-4, 8-bit HEVC, ...)
  becomes H.264, which plays everywhere and encodes about 3 times faster than HEVC. Where the
  output's container cannot hold the source's codec (an FFV1 master written to .mp4), H.264.
- Depth and subsampling (`frame_format`): as much of the source's as the codec holds: H.264 8 or
  10 bits, HEVC 8, 10 or 12, FFV1 any depth up to 16, ProRes 10 (prores_ks' only depth); 4:2:0
  and 4:2:2 are kept by all but ProRes (4:2:0 becomes 4:2:2), 4:4:4 by FFV1 and ProRes only
  (H.264 and HEVC code it 4:2:0, what players take).
- Determinism: x264 runs without its macroblock tree (see `encoder_options`); x265 gave the same
  packets run after run with its own (cutree) on, at one frame thread and at its own choice, so
  it keeps it; FFV1 and ProRes code every frame on its own, FFV1 in slices whose count depends on
  the picture size alone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from ..errors import InputError
from ..outputs import CODEC_SUFFIXES
from .streams import MPEG_PS_FORMATS

ENCODERS = {"h264": "libx264", "hevc": "libx265", "ffv1": "ffv1", "prores": "prores_ks"}
LABELS = {"h264": "H.264", "hevc": "HEVC", "ffv1": "FFV1", "prores": "ProRes"}
_FFV1_DEPTHS = (8, 9, 10, 12, 14, 16)
# ProRes profiles as FFmpeg's decoder names them -> prores_ks' names
_PRORES_PROFILES = {"proxy": "proxy", "lt": "lt", "standard": "standard", "hq": "hq", "4444": "4444", "xq": "4444xq"}
# x264/x265 field order settings, by which field is shown first
_FIELDS_FIRST = {"tff": "tff=1", "bff": "bff=1"}


@dataclass(frozen=True)
class OutputCodec:
    name: str  # h264, hevc, ffv1 or prores
    depth: int  # bits per sample of the frames it codes
    chroma: str  # "420", "422" or "444"
    profile: str | None = None  # ProRes only: prores_ks' profile

    @property
    def encoder(self) -> str:
        return ENCODERS[self.name]

    @property
    def label(self) -> str:
        return LABELS[self.name]

    @property
    def codes_fields(self) -> bool:
        """Whether an interlaced film is coded as fields (x265's field coding would make FFmpeg
        decode half-height pictures: HEVC carries the field order in the container only)."""
        return self.name != "hevc"


def frame_format(codec: str, depth: int, chroma: str) -> tuple[int, str]:
    """(depth, chroma subsampling) of the frames `codec` is given, for a source of that depth and chroma."""
    if codec == "prores":
        return 10, "444" if chroma == "444" else "422"
    if codec == "ffv1":
        return next((d for d in _FFV1_DEPTHS if d >= depth), 16), chroma
    kept = 8 if depth <= 8 else 10 if depth <= 10 or codec == "h264" else 12
    return kept, chroma if chroma in ("420", "422") else "420"


def source_class(info) -> str:
    """The codec `auto` gives a film (see the module's note), before its container has a say."""
    if info.codec in ("ffv1", "prores"):
        return info.codec
    return "hevc" if info.codec == "hevc" and info.source_depth > 8 else "h264"


def wanted_codec(requested: str, info) -> str:
    """The codec asked for: `requested`, or for auto the source's class."""
    return source_class(info) if requested == "auto" else requested


def holds(dest: Path, codec: str) -> bool:
    """Whether the container `dest`'s name asks for holds `codec` (H.264: any that FFmpeg writes it to)."""
    return codec not in CODEC_SUFFIXES or Path(dest).suffix.lower() in CODEC_SUFFIXES[codec]


def choose_codec(requested: str, info, dest: Path) -> OutputCodec:
    """The codec of the film written to `dest`: `requested`, or for auto the source's class where
    dest's container holds it, else H.264. An asked-for codec that dest's container cannot hold
    is a one-line InputError, before any work."""
    name = wanted_codec(requested, info)
    if not holds(dest, name):
        if requested != "auto":
            raise InputError(f"{dest}: a {dest.suffix or 'suffix-less'} file cannot hold {LABELS[name]} video "
                             f"(use {' or '.join(CODEC_SUFFIXES[name])}, or another --codec)")
        name = "h264"
    depth, chroma = frame_format(name, info.source_depth, info.source_chroma)
    return OutputCodec(name, depth, chroma, _prores_profile(info, chroma) if name == "prores" else None)


def frames_for(info, codec: OutputCodec):
    """The VideoInfo whose frames travel at the codec's depth and subsampling."""
    return dataclasses.replace(info, bit_depth=codec.depth, chroma=codec.chroma)


def _prores_profile(info, chroma: str) -> str:
    if info.codec == "prores" and info.profile:
        kept = _PRORES_PROFILES.get(info.profile.lower())
        if kept and (kept.startswith("4444") == (chroma == "444")):
            return kept
    return "4444" if chroma == "444" else "hq"


def encoder_options(codec: OutputCodec, *, crf: int, preset: str, width: int, height: int, pix_fmt: str,
                    threads: int, format_name: str, fields: str | None) -> dict[str, str]:
    """The encoder's private options. fields: "tff" or "bff" when the film is coded interlaced."""
    if codec.name == "ffv1":
        # version 3 (CRCs per slice, the archives' choice), every frame a key frame
        return {"level": "3", "g": "1", "slicecrc": "1", "coder": "1", "context": "1",
                "slices": str(_ffv1_slices(width, height, pix_fmt))}
    if codec.name == "prores":
        return {"profile": codec.profile or "hq"}
    lossless = crf == 0 and (codec.name == "hevc" or codec.depth > 8)  # x264's crf 0 is lossless at 8 bits only
    options = {"preset": preset, **({"qp": "0"} if lossless and codec.name == "h264" else {"crf": str(crf)})}
    if codec.name == "hevc":
        # frame threads change the coding, so they are set as x264's threads are; closed GOPs as x264's
        params = ["log-level=error", "open-gop=0", f"frame-threads={threads}"] + (["lossless=1"] * lossless)
        options["x265-params"] = ":".join(params)
        return options
    # x264's macroblock tree reads memory it has not written when a stream ends (each segment ends
    # one), so the same frames could give different packets from run to run; without it the
    # output depends on the input and the settings alone.
    params = ["mbtree=0"]
    if format_name in MPEG_PS_FORMATS:
        # MPEG-PS stamps few H.264 frames and carries no frame rate: the one in the H.264 headers
        # is then all a reader has (else x264 writes its time base there, 90 kHz)
        params.append("force-cfr=1")
    if fields:  # x264 takes each frame's field order, but writes its headers before the first frame
        params += [_FIELDS_FIRST[fields], "pic-struct=1"]
    options["x264-params"] = ":".join(params)
    return options


def _ffv1_slices(width: int, height: int, pix_fmt: str) -> int:
    """FFV1's slices for this size: 16 (parallel coding and decoding, each slice its own CRC),
    fewer where the picture is too small to split so (FFmpeg refuses, by rules of its own)."""
    for slices in (16, 4, 1):
        context = av.CodecContext.create("ffv1", "w")
        context.width, context.height, context.pix_fmt = width, height, pix_fmt
        context.time_base = Fraction(1, 25)  # any: the encoder needs one to open
        context.options = {"level": "3", "slices": str(slices)}
        try:
            context.open()
            return slices
        except av.FFmpegError:
            continue
    return 1
