"""Driving the studio in headless Chromium (Debian's `chromium` and `chromium-driver`, through Selenium),
for tests/test_studio_browser.py and bench/bench_studio.py: start a studio in its own process, open
its link, and the few gestures a user makes."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

TESTS = str(Path(__file__).resolve().parent)
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")

# python -c STUDIO TESTS FILM TOY: a studio on FILM (TOY "1": with the toy colorizer), printing its link
STUDIO = """
import signal, sys; sys.path.insert(0, sys.argv[1])
signal.signal(signal.SIGINT, signal.default_int_handler)  # a suite started in the background ignores Ctrl-C
from vidcolor.studio import run_studio
colorizer = None
if sys.argv[3] == "1":
    from toy_colorizer import ToyColorizer
    colorizer = ToyColorizer()
try:
    run_studio(sys.argv[2], open_browser=False, colorizer=colorizer, on_ready=lambda url: print(url, flush=True),
               on_warning=lambda line: print("warning:", line, file=sys.stderr, flush=True))
except KeyboardInterrupt:
    print("stopped", flush=True)
"""


def browser_problem() -> str | None:
    """Why the browser cannot run here (None: it can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if CHROMIUM is None or DRIVER is None:
        return "Chromium is not installed (apt-get install chromium chromium-driver; .ci/run does)"
    return None


@contextmanager
def studio_process(film: Path, toy: bool = True):
    """A studio on `film` in its own process; yields its link. Stopped with Ctrl-C (SIGINT) at the end."""
    process = subprocess.Popen([sys.executable, "-c", STUDIO, TESTS, str(film), "1" if toy else "0"],
                               stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield url
        process.send_signal(signal.SIGINT)
        assert process.stdout.read().strip() == "stopped" and process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()


@contextmanager
def chromium(width: int = 1360, height: int = 860):
    """Headless Chromium as root would run it, with a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="vidcolor-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    try:
        driver.set_script_timeout(60)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_until(driver, condition, seconds: float = 120):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.05).until(lambda d: condition(d))


def recolours(driver) -> int:
    return int(driver.execute_script("return document.body.dataset.recolours || '0'"))


def open_shot(driver, url: str, number: int) -> None:
    """Open the studio's link, wait for the scan, select shot `number` and wait for its pictures."""
    from selenium.webdriver.common.by import By

    driver.get(url)
    wait_until(driver, lambda d: d.find_element(By.ID, "scan").get_attribute("hidden") is not None
               and len(d.find_elements(By.CSS_SELECTOR, ".shot")) >= number)
    driver.find_element(By.CSS_SELECTOR, f'.shot[data-number="{number}"]').click()
    wait_until(driver, lambda d: d.execute_script(
        f"const i = document.getElementById('after'); return i.complete && i.naturalWidth > 0 "
        f"&& document.getElementById('shot-title').textContent.startsWith('Shot {number}')"))
    time.sleep(0.3)


def click_frame(driver, x: float, y: float) -> None:
    """A click on the large frame at (x, y), fractions of its width and height."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    frame = driver.find_element(By.ID, "after")
    width, height = frame.size["width"], frame.size["height"]
    offset = int((x - 0.5) * width), int((y - 0.5) * height)  # from the frame's centre
    ActionChains(driver).move_to_element_with_offset(frame, *offset).click().perform()


def drag_hint(driver, index: int, dx: float, dy: float) -> None:
    """Drag hint `index` by (dx, dy), fractions of the frame."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    frame = driver.find_element(By.ID, "after")
    marker = driver.find_elements(By.CSS_SELECTOR, ".marker")[index]
    offset = (int(dx * frame.size["width"]), int(dy * frame.size["height"]))
    ActionChains(driver).click_and_hold(marker).move_by_offset(offset[0] // 2, offset[1] // 2) \
        .move_by_offset(offset[0] - offset[0] // 2, offset[1] - offset[1] // 2).release().perform()


def pick_colour(driver, index: int, colour: str) -> None:
    """Set hint `index`'s colour as its colour picker does (the native picker is outside the page)."""
    driver.execute_script("const input = document.querySelectorAll('#hints input[type=color]')[arguments[0]];"
                          "input.value = arguments[1]; input.dispatchEvent(new Event('change'));", index, colour)


def after_edit(driver, before: int, seconds: float = 120) -> float:
    """Wait for the frame coloured again after an edit; the page's time for it, in ms."""
    wait_until(driver, lambda d: recolours(d) > before, seconds)
    return float(driver.execute_script("return document.body.dataset.recolourMs"))
