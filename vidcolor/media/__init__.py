"""Films in and out: the one place that uses PyAV. read.py probes and decodes (seek.py from a
frame inside a film; small.py small frames for the shot scan); codecs.py chooses the output
codec and its settings; encode.py is the encoder; write.py checks outputs and writes films with
the source's other streams; streams.py says which stream is which and what of them an output keeps."""

from .codecs import OutputCodec, choose_codec, frames_for
from .encode import Timeline, VideoEncoder, encoder_threads, encoder_time_base
from .read import VideoInfo, YuvFrame, decode_frames, library_versions, probe_video
from .seek import decode_frames_from
from .small import SmallFrame, decode_frames_and_small, decode_small_frames, decode_small_frames_from, decode_small_luma
from .streams import first_field
from .write import WRITE_ERRORS, OutputCheck, PacketRemuxer, VideoWriter, check_output

__all__ = ["SmallFrame", "VideoInfo", "YuvFrame", "decode_frames", "decode_frames_from", "decode_frames_and_small",
           "decode_small_frames", "decode_small_frames_from", "decode_small_luma",
           "library_versions", "probe_video", "WRITE_ERRORS", "OutputCheck", "PacketRemuxer", "Timeline",
           "VideoEncoder", "VideoWriter", "check_output", "encoder_threads", "encoder_time_base", "OutputCodec",
           "choose_codec", "frames_for", "first_field"]
