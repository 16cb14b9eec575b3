"""Start-up as a user meets it: a still coloured end to end, a short film remastered end to end, and
how long after the command a remaster's first frame is coloured.

    python bench/bench_startup.py [--repeats 5] [--still samples/rocket_bw.jpg] [--film samples/four_shots_bw.mp4]

Each figure is the median of --repeats fresh processes, after one run that fills the graph cache
(as a user's second run finds it). The first frame's time is taken from just before the process
starts to the moment the first coloured frame is handed to the encoder (remaster's on_frame), in a
process that imports vidcolor and runs remaster() as the command does.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

FIRST_FRAME = """
import sys, time
started = float(sys.argv[1])
from vidcolor.film.remaster import remaster
from vidcolor.options import RemasterOptions
seen = []
def on_frame():
    if not seen:
        seen.append(time.time() - started)
remaster(sys.argv[2], sys.argv[3], RemasterOptions.of(force=True, progress=False), on_frame=on_frame)
print(seen[0])
"""


def timed(command: list[str]) -> float:
    started = time.time()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.time() - started


def first_frame(film: Path, out: Path) -> float:
    started = time.time()
    done = subprocess.run([sys.executable, "-c", FIRST_FRAME, repr(started), str(film), str(out)],
                          check=True, capture_output=True, text=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--still", type=Path, default=ROOT / "samples" / "rocket_bw.jpg")
    parser.add_argument("--film", type=Path, default=ROOT / "samples" / "four_shots_bw.mp4")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        still = ["vidcolor", "colorize", str(args.still), "-o", str(out / "still.png"), "--force", "-q"]
        film = ["vidcolor", "remaster", str(args.film), "-o", str(out / "film.mp4"), "--force", "-q"]
        timed(still), timed(film)  # the graph cache filled
        runs = {"still": [], "film": [], "first frame": []}
        for _ in range(args.repeats):  # alternated, so that a change in the machine's load hits all three
            runs["still"].append(timed(still))
            runs["film"].append(timed(film))
            runs["first frame"].append(first_frame(args.film, out / "first.mp4"))
    for name, seconds in runs.items():
        print(f"{name}: median {statistics.median(seconds):.2f} s  (runs: {', '.join(f'{s:.2f}' for s in seconds)})")


if __name__ == "__main__":
    main()
