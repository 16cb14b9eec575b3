"""Films in and out: the one place that uses PyAV. read.py probes and decodes; write.py checks
outputs, encodes, and writes films with the source's sound and subtitles."""

from .read import VideoInfo, YuvFrame, decode_frames, decode_small_luma, library_versions, probe_video
from .write import WRITE_ERRORS, OutputCheck, PacketRemuxer, VideoEncoder, VideoWriter, check_output, encoder_threads

__all__ = ["VideoInfo", "YuvFrame", "decode_frames", "decode_small_luma", "library_versions", "probe_video",
           "WRITE_ERRORS", "OutputCheck", "PacketRemuxer", "VideoEncoder", "VideoWriter", "check_output",
           "encoder_threads"]
