"""Rebuild the shipped samples from public-domain / CC0 photos that scikit-image ships.

    python samples/make_samples.py                  # the film, the stills and the reference photo
    python samples/make_samples.py --before-after   # the README picture, with the shipped model
    python samples/make_samples.py --direction      # the README's "Direct the colour" picture

Writes samples/four_shots_bw.mp4 (6 s, 480x320, 25 fps, four shots with a slow
pan or zoom each, black and white, with a synthesised AAC soundtrack) and two
grey stills, and rocket.jpg, a colour photo to use as a reference. See samples/README.md for the
photos' sources and licences.
"""

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import skimage.data

HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT, FPS, SHOT_FRAMES, AUDIO_RATE = 480, 320, 25, 38, 44100


def grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def shot(photo: np.ndarray, zoom_from: float, zoom_to: float, pan: float) -> list[np.ndarray]:
    """Frames of a slow zoom and horizontal pan over a photo (a 'Ken Burns' shot)."""
    h, w = photo.shape[:2]
    frames = []
    for k in range(SHOT_FRAMES):
        t = k / (SHOT_FRAMES - 1)
        zoom = zoom_from + (zoom_to - zoom_from) * t
        crop_w = min(w, int(h * WIDTH / HEIGHT)) / zoom
        crop_h = crop_w * HEIGHT / WIDTH
        cx = w / 2 + pan * t * (w - crop_w) / 2
        cy = h / 2
        matrix = np.float32([[WIDTH / crop_w, 0, -(cx - crop_w / 2) * WIDTH / crop_w],
                             [0, HEIGHT / crop_h, -(cy - crop_h / 2) * HEIGHT / crop_h]])
        frames.append(cv2.warpAffine(photo, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT))
    return frames


def soundtrack(seconds: float) -> np.ndarray:
    """A little four-note tune, one note per shot, with soft attacks."""
    t = np.arange(int(AUDIO_RATE * seconds)) / AUDIO_RATE
    notes = [261.63, 329.63, 392.0, 523.25]
    shot_len = SHOT_FRAMES / FPS
    index = np.minimum((t // shot_len).astype(int), len(notes) - 1)
    phase = t - index * shot_len
    envelope = np.minimum(1.0, phase * 20) * np.exp(-phase * 1.5)
    freq = np.take(notes, index)
    return (0.3 * envelope * (np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(4 * np.pi * freq * t))).astype(np.float32)


def make_film(path: Path) -> None:
    shots = [
        shot(skimage.data.astronaut(), 1.0, 1.25, 0.0),
        shot(skimage.data.coffee(), 1.1, 1.0, 0.6),
        shot(skimage.data.chelsea(), 1.0, 1.15, -0.5),
        shot(skimage.data.rocket(), 1.2, 1.0, 0.4),
    ]
    frames = [grey(f) for s in shots for f in s]
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS, options={"crf": "20", "preset": "slow"})
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        audio = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        for i, y in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(y, format="gray").reformat(format="yuv420p")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        samples = soundtrack(len(frames) / FPS)
        step = audio.codec_context.frame_size
        for start in range(0, len(samples), step):
            chunk = samples[start : start + step][None, :]
            aframe = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="fltp", layout="mono")
            aframe.sample_rate, aframe.pts, aframe.time_base = AUDIO_RATE, start, Fraction(1, AUDIO_RATE)
            out.mux(audio.encode(aframe))
        out.mux(audio.encode(None))


def make_before_after(film: Path, picture: Path) -> None:
    """One frame from the middle of each shot, before and after `vidcolor remaster` (shipped model)."""
    import tempfile

    from vidcolor.film.remaster import RemasterOptions, remaster
    from vidcolor.sheets import contact_sheet

    def frames(path: Path) -> list[np.ndarray]:
        with av.open(str(path)) as c:
            return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]

    with tempfile.TemporaryDirectory() as tmp:
        coloured = remaster(film, Path(tmp) / "colour.mp4", RemasterOptions.of(progress=False)).output
        after = frames(coloured)
    before = frames(film)
    middles = [k * SHOT_FRAMES + SHOT_FRAMES // 2 for k in range(len(before) // SHOT_FRAMES)]
    contact_sheet([[before[i], after[i]] for i in middles], picture, labels=["black and white", "vidcolor"], cell_height=200)


# The README's direction picture: the grey cat, coloured by itself, with the rocket photo as its
# reference (`vidcolor colorize samples/chelsea_bw.jpg --reference samples/rocket.jpg --strength 2`),
# and with two green hints on its eyes.
EYE_HINTS = ["0.42,0.40=#3a9a30", "0.72,0.40=#3a9a30"]


def make_direction_picture(still: Path, reference: Path, picture: Path) -> None:
    from vidcolor.film.direction_file import parse_hint
    from vidcolor.images import read_image
    from vidcolor.model import load_colorizer
    from vidcolor.model.palette import Reference
    from vidcolor.sheets import contact_sheet
    from vidcolor.stills import colorize_array

    colorizer = load_colorizer()
    grey_cat = read_image(still)
    prior = Reference(reference).prior(colorizer.palette_bins, 2.0)
    row = [grey_cat, colorize_array(colorizer, grey_cat), colorize_array(colorizer, grey_cat, prior=prior),
           colorize_array(colorizer, grey_cat, hints=[parse_hint(h) for h in EYE_HINTS])]
    contact_sheet([row], picture, labels=["black and white", "vidcolor", "--reference rocket.jpg --strength 2",
                                          "--hint (green, on the eyes) x2"], cell_height=200)


if __name__ == "__main__":
    import sys

    if "--before-after" in sys.argv:
        make_before_after(HERE / "four_shots_bw.mp4", HERE / "before_after.png")
        sys.exit()
    if "--direction" in sys.argv:
        make_direction_picture(HERE / "chelsea_bw.jpg", HERE / "rocket.jpg", HERE / "direct_the_colour.png")
        sys.exit()
    make_film(HERE / "four_shots_bw.mp4")
    cv2.imwrite(str(HERE / "chelsea_bw.jpg"), grey(skimage.data.chelsea()), [cv2.IMWRITE_JPEG_QUALITY, 90])
    cv2.imwrite(str(HERE / "rocket_bw.jpg"), grey(skimage.data.rocket()), [cv2.IMWRITE_JPEG_QUALITY, 90])
    reference = cv2.resize(skimage.data.rocket(), (320, 214), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(HERE / "rocket.jpg"), cv2.cvtColor(reference, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    print("wrote", *sorted(p.name for p in HERE.iterdir() if p.suffix in {".mp4", ".jpg"}))
