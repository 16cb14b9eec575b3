"""How long the studio takes to colour a shot again after an edit, with the shipped model, as the user
sees it: measured in headless Chromium from the gesture to the new frame on the page (the edit sent,
the shot's first frame and its strip coloured in one model call, the pictures decoded and shown).

    python bench/bench_studio.py samples/four_shots_bw.mp4 --edits 20 --screenshot samples/studio.png

The film is copied into a temporary folder first (the studio writes its direction file beside it).
Edits alternate between dragging a hint further and picking a new colour for it, so that none finds
its pictures made already; prints each time and the median. Needs the studio extra, selenium, and
Debian's chromium and chromium-driver.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from studio_browser import (  # noqa: E402
    after_edit,
    browser_problem,
    chromium,
    click_frame,
    drag_hint,
    open_shot,
    pick_colour,
    recolours,
    studio_process,
)


def edits(driver, count: int) -> list[float]:
    """`count` edits of one hint, each to a state not seen before (the studio keeps the pictures of the
    last ones it made): drag it a little further, give it a new colour, and so on; the page's time for
    each, in ms."""
    times = []
    for k in range(count):
        before = recolours(driver)
        if k % 2:
            pick_colour(driver, 0, f"#{200 - 7 * k:02x}{40 + 5 * k:02x}{30 + 3 * k:02x}")
        else:
            drag_hint(driver, 0, 0.02, 0.01 if k % 4 == 0 else -0.01)
        times.append(after_edit(driver, before))
        time.sleep(0.2)
    return times


def pose(driver, screenshot: Path) -> None:
    """The studio as the README shows it: the astronaut's shot with a few hints, split against the original."""
    from selenium.webdriver.common.by import By

    for x, y, colour in ((0.6, 0.8, "#d05a10"), (0.82, 0.18, "#3a66b8")):
        before = recolours(driver)
        click_frame(driver, x, y)
        after_edit(driver, before)
        count = len(driver.find_elements(By.CSS_SELECTOR, ".marker"))
        before = recolours(driver)
        pick_colour(driver, count - 1, colour)
        after_edit(driver, before)
    driver.find_element(By.CSS_SELECTOR, '.views button[data-view="split"]').click()
    driver.execute_script("const s = document.getElementById('split'); s.value = 30;"
                          "s.dispatchEvent(new Event('input'));")
    time.sleep(0.5)
    driver.save_screenshot(str(screenshot))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("film", type=Path)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--shot", type=int, default=1, help="the shot to edit (from 1)")
    parser.add_argument("--screenshot", type=Path, help="save a screenshot of the studio here at the end")
    args = parser.parse_args()
    problem = browser_problem()
    if problem:
        sys.exit(problem)
    with tempfile.TemporaryDirectory() as folder:
        film = Path(shutil.copy(args.film, Path(folder) / args.film.name))
        started = time.perf_counter()
        with studio_process(film, toy=False) as url, chromium() as driver:
            open_shot(driver, url, args.shot)
            print(f"studio ready (model loaded, {args.film.name} scanned, first shot shown): "
                  f"{time.perf_counter() - started:.1f} s")
            before = recolours(driver)
            click_frame(driver, 0.5, 0.45)
            print(f"first hint (builds the model's hint input): {after_edit(driver, before):.0f} ms")
            times = edits(driver, args.edits)
            print("each edit, ms:", " ".join(f"{t:.0f}" for t in times))
            print(f"median over {len(times)} edits: {statistics.median(times):.0f} ms "
                  f"(min {min(times):.0f}, max {max(times):.0f})")
            if args.screenshot:
                driver.find_element("css selector", ".marker").click()
                driver.execute_script("document.querySelector('#hints li button').click()")
                time.sleep(1.0)
                pose(driver, args.screenshot)
                print(f"screenshot: {args.screenshot}")


if __name__ == "__main__":
    main()
