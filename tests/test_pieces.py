"""One film coloured in pieces (as workers do it, in any order) comes out as its one-process
remaster, bit for bit; the arithmetic of where pieces start and stop. No Ray here: test_ray_batch.py."""

import av
import pytest
from clips import audio_packets, make_clip
from toy_colorizer import ToyColorizer

from vidcolor.batch.archive import BatchItem, BatchJob
from vidcolor.batch.pieces import SplitFilm, color_piece, scan_film, split
from vidcolor.errors import OutputError
from vidcolor.film.direction_file import read_direction
from vidcolor.film.remaster import remaster
from vidcolor.film.segments import ResumePlan, SegmentStore, parts_folder
from vidcolor.options import RemasterOptions

# the toy colours 2 key frames per model call: with key_interval 4, 8 frames a chunk and a segment
OPTIONS = RemasterOptions.of(segment_frames=8, progress=False)


def video_packets(path):
    with av.open(str(path)) as c:
        return [(bytes(p), p.pts, p.dts) for p in c.demux(video=0) if p.size]


def color_in_pieces(src, out, options, piece_frames, colorizer, order=reversed, before_join=None, name="film_color.mp4",
                    direction=None):
    job = BatchJob(src, out, options)
    item = BatchItem("film.mp4", name, "video", "color")
    film = SplitFilm(item, job, piece_frames)
    directed = {} if direction is None else {"direction": direction}
    film.claim()
    try:
        pieces = film.pieces(scan_film(item, job, colorizer, warn=film.warn, **directed))
        for piece in order(pieces):
            film.finished(piece, color_piece(item, job, piece, film.format_name, colorizer, warn=film.warn, **directed))
        if before_join:
            before_join(film, pieces, job, item)
        assert film.error is None
        return pieces, film.join()
    finally:
        film.release()


@pytest.mark.parametrize("settings", [{}, {"smooth": False}, {"key_interval": 2}, {"key_interval": 1, "smooth": False}])
def test_pieces_in_any_order_make_the_one_process_film(tmp_path, settings):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    make_clip(src / "film.mp4", frames=44, audio="aac")  # its cut is at frame 22, inside segment 2
    options = OPTIONS.replace(**settings)
    colorizer = ToyColorizer()
    whole = remaster(src / "film.mp4", tmp_path / "whole.mp4", options, colorizer=colorizer).output
    pieces, frames = color_in_pieces(src, out, options, 16, colorizer)
    # boundaries straddled by the smoothing (16: warm-up, run-out up to the cut) and not (24)
    assert pieces == [(0, 3), (3, 4), (4, None)] and frames == 44
    assert video_packets(out / "film_color.mp4") == video_packets(whole)
    assert audio_packets(out / "film_color.mp4") == audio_packets(whole)
    assert not parts_folder(out / "film_color.mp4").exists()


def test_pieces_in_another_codec_make_the_one_process_film(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    make_clip(src / "film.mp4", frames=44, audio="aac")
    options, colorizer = OPTIONS.replace(codec="ffv1"), ToyColorizer()
    whole = remaster(src / "film.mp4", tmp_path / "whole.mkv", options, colorizer=colorizer)
    pieces, frames = color_in_pieces(src, out, options, 16, colorizer, name="film_color.mkv")
    assert whole.codec == "FFV1" and len(pieces) == 3 and frames == 44
    assert video_packets(out / "film_color.mkv") == video_packets(whole.output)


def test_a_piece_run_again_goes_on_from_its_finished_segments(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    make_clip(src / "film.mp4", frames=36, audio="aac")
    colorizer = ToyColorizer()
    whole = remaster(src / "film.mp4", tmp_path / "whole.mp4", OPTIONS, colorizer=colorizer).output

    def lose_a_segment(film, pieces, job, item):
        # as if the worker of the last piece had died in its last segment: another one finishes the piece
        store = SegmentStore(parts_folder(film.output))
        for path in store.paths(4):
            path.unlink()
        calls = colorizer.calls
        assert color_piece(item, job, pieces[1], film.format_name, colorizer, warn=film.warn) == 3
        assert colorizer.calls - calls == 2  # frames 24-35: the lost segment and its warm-up, not the piece

    pieces, _ = color_in_pieces(src, out, OPTIONS, 16, colorizer, order=list, before_join=lose_a_segment)
    assert pieces == [(0, 2), (2, None)]
    assert video_packets(out / "film_color.mp4") == video_packets(whole)


def test_a_split_film_resumed_after_its_direction_changed_starts_its_pieces_over(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    make_clip(src / "film.mp4", frames=44, audio="aac")  # two shots, the second from frame 22
    said = tmp_path / "direction.toml"
    said.write_text("shots = 2\n[[shot]]\nnumber = 2\ngrey = true\n")
    job, item = BatchJob(src, out, OPTIONS), BatchItem("film.mp4", "film_color.mp4", "video", "color")
    colorizer = ToyColorizer()
    # a first run of the film in pieces stopped after its first piece, coloured as the direction said then
    scan_film(item, job, colorizer, warn=print, direction=read_direction(said))
    assert color_piece(item, job, (0, 3), "mp4", colorizer, warn=print, direction=read_direction(said)) == 3
    said.write_text('shots = 2\n[[shot]]\nnumber = 2\nhints = [{ x = 0.5, y = 0.5, color = "#00ff00" }]\n')
    told = []
    pieces, frames = color_in_pieces(src, out, OPTIONS, 16, colorizer, direction=read_direction(said),
                                     before_join=lambda film, *_: told.extend(film.warnings))
    assert pieces == [(0, 3), (3, 4), (4, None)] and frames == 44
    assert len(told) == 1 and "starting over" in told[0] and "direction" in told[0]
    whole = remaster(src / "film.mp4", tmp_path / "whole.mp4", OPTIONS, colorizer=colorizer, direction=said)
    assert video_packets(out / "film_color.mp4") == video_packets(whole.output)


def test_a_worker_with_other_settings_cannot_add_to_a_film(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    make_clip(src / "film.mp4", frames=24)
    job = BatchJob(src, out, OPTIONS)
    item = BatchItem("film.mp4", "film_color.mp4", "video", "color")
    out.mkdir()
    scan_film(item, job, ToyColorizer(), warn=print)
    other = BatchJob(src, out, OPTIONS.replace(render_size=160))
    with pytest.raises(OutputError, match="this worker cannot add segments: .* made with other render_size"):
        color_piece(item, other, (0, 1), "mp4", ToyColorizer(), warn=print)


def test_a_film_with_a_taken_output_fails_before_any_work(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    make_clip(src / "film.mp4", frames=24)
    (out / "film_color.mp4").write_bytes(b"someone's")
    film = SplitFilm(BatchItem("film.mp4", "film_color.mp4", "video", "color"), BatchJob(src, out, OPTIONS), 8)
    with pytest.raises(OutputError, match="already exists"):
        film.claim()
    assert not parts_folder(out / "film_color.mp4").exists()


def test_pieces_start_and_stop_where_the_smoothing_needs_them_to():
    plan = ResumePlan(3, segment_frames=16, chunk=8, stop_segment=5)  # frames 48..79
    assert (plan.start, plan.stop) == (48, 80)
    assert plan.warm_up(reach=8) == 40  # one chunk back
    assert plan.warm_up(reach=9) == 32  # whole chunks
    assert plan.warm_up(reach=8, shot_start=45) == 40 and plan.warm_up(reach=8, shot_start=48) == 48  # no warm-up at a cut
    assert plan.run_out(reach=8) == 88 and plan.run_out(reach=8, next_cut=83) == 88
    assert plan.run_out(reach=8, next_cut=80) == 80  # no run-out at a cut
    assert plan.run_out(reach=20, next_cut=83) == 88  # up to the chunk with the cut, not on past it
    assert ResumePlan(3, 16, 8).run_out(reach=8) is None  # the last piece runs to the end
    assert plan.is_complete(1000) is False and ResumePlan(5, 16, 8, stop_segment=5).is_complete(0)


def test_film_pieces_are_whole_segments_with_boundaries_near_cuts():
    assert split(1000, 100, (), 400) == [(0, 5), (5, None)]
    assert split(1000, 100, (590,), 400) == [(0, 6), (6, None)]  # moved onto the cut's segment boundary
    assert split(1000, 100, (905,), 400) == [(0, 5), (5, None)]  # too far: stays
    assert split(700, 100, (), 400) == [(0, None)]  # shorter than two pieces: one
    assert split(10_000, 100, (), 1000) == [(i * 10, i * 10 + 10) for i in range(9)] + [(90, None)]


@pytest.mark.parametrize("open_gop", [False, True])
def test_a_late_piece_decodes_from_the_key_frame_before_it(tmp_path, monkeypatch, open_gop):
    import vidcolor.media.read as read

    src, out = tmp_path / "src", tmp_path / "out"
    src.mkdir()
    # key frames every 12 frames, B-frames (an open GOP's two before each key frame need the GOP before it)
    make_clip(src / "film.mp4", frames=80, audio="aac", gop=12, bframes=2, open_gop=open_gop)
    with av.open(str(src / "film.mp4")) as c:
        stamps = sorted((p.pts, p.is_keyframe) for p in c.demux(video=0) if p.size)
    keys = [index for index, (_, key) in enumerate(stamps) if key]
    colorizer = ToyColorizer()
    whole = remaster(src / "film.mp4", tmp_path / "whole.mp4", OPTIONS, colorizer=colorizer).output
    decoded, real = [], read._decode_packets

    def counting(*args):
        for packet, frames in real(*args):
            decoded.extend(frame.pts for frame in frames or ())
            yield packet, frames

    def last_piece_counted(pieces):
        monkeypatch.setattr(read, "_decode_packets", counting)
        yield pieces[-1]
        monkeypatch.undo()
        yield from reversed(pieces[:-1])

    pieces, frames = color_in_pieces(src, out, OPTIONS, 16, colorizer, order=last_piece_counted)
    assert frames == 80 and video_packets(out / "film_color.mp4") == video_packets(whole)
    start = pieces[-1][0] * 8  # 8 frames a segment; its smoothing warms up over the chunk (8 frames) before it
    key = max(k for k in keys if k <= start - 8)
    assert start >= 48 and key >= 36
    indices = sorted(index for index, (pts, _) in enumerate(stamps) if pts in decoded)
    assert len(decoded) == len(indices)  # each once: no decode from the start after the seek
    assert indices[-1] == 79 and set(range(key, 80)) <= set(indices) and indices[0] >= key - (2 if open_gop else 0)
