"""The studio end to end in a real browser (headless Chromium, as .ci/run installs it): open the page
on a two-shot film, place a hint by clicking on the frame, pick its colour, save; the direction file
says it, and `vidcolor remaster --direction` with it colours that place toward the hint."""

import shutil
import subprocess

import numpy as np
import pytest
from films import make_film
from studio_browser import (
    after_edit,
    browser_problem,
    chromium,
    click_frame,
    open_shot,
    pick_colour,
    recolours,
    studio_process,
    wait_until,
)
from toy_colorizer import cli_command

from vidcolor.film.direction_file import read_direction
from vidcolor.media import decode_frames

pytestmark = pytest.mark.skipif(browser_problem() is not None, reason=str(browser_problem()))
pytest.importorskip("starlette")

RED = "#d01010"


def chroma_v(path, index):
    return next(f for k, f in enumerate(decode_frames(path)) if k == index).v.astype(int)


def test_a_hint_clicked_in_the_browser_is_saved_and_the_remaster_follows_it(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    film = make_film(tmp_path / "two.mp4", [("chelsea", "grey"), ("rocket", "grey")])
    with studio_process(film) as url, chromium() as driver:
        open_shot(driver, url, 2)
        count = recolours(driver)
        click_frame(driver, 0.6, 0.5)  # a hint, in the default colour
        after_edit(driver, count)
        assert len(driver.find_elements(By.CSS_SELECTOR, ".marker")) == 1
        count = recolours(driver)
        pick_colour(driver, 0, RED)
        after_edit(driver, count)
        assert driver.find_element(By.CSS_SELECTOR, ".marker").value_of_css_property("background-color") == \
            "rgba(208, 16, 16, 1)"
        assert len(driver.find_elements(By.CSS_SELECTOR, "#strip .dot")) == 6  # followed across the shot
        count = recolours(driver)
        click_frame(driver, 0.2, 0.3)  # a second hint, selected as it is placed: Delete takes it away
        after_edit(driver, count)
        count = recolours(driver)
        driver.find_element(By.TAG_NAME, "body").send_keys(Keys.DELETE)
        after_edit(driver, count)
        assert len(driver.find_elements(By.CSS_SELECTOR, ".marker")) == 1
        driver.find_element(By.CSS_SELECTOR, '.views button[data-view="split"]').click()
        assert "inset" in driver.find_element(By.ID, "before").value_of_css_property("clip-path")
        driver.find_element(By.ID, "save").click()
        wait_until(driver, lambda d: d.find_element(By.ID, "message").text.startswith("saved"))
        driver.save_screenshot(str(tmp_path / "studio.png"))
    direction = read_direction(tmp_path / "two_direction.toml")
    (hint,) = direction.shots[2].hints
    assert hint.color == RED and abs(hint.x - 0.6) < 0.03 and abs(hint.y - 0.5) < 0.03
    for name, extra in (("directed.mp4", ["--direction", str(tmp_path / "two_direction.toml")]), ("plain.mp4", [])):
        subprocess.run(cli_command({}, "remaster", film, "-o", tmp_path / name, "-q", "--crf", "0", *extra), check=True)
    pull = chroma_v(tmp_path / "directed.mp4", 12) - chroma_v(tmp_path / "plain.mp4", 12)  # shot 2's first frame
    assert pull[14:18, 27:31].mean() > 20 and np.abs(pull[:, :18]).mean() < 0.5  # red near it, nothing far away
    assert shutil.os.path.getsize(tmp_path / "studio.png") > 10_000
