"""`vidcolor studio`: the web application's API, with the toy colorizer (no TensorFlow): shots, hints,
save and load, render and cancel, a still, and everything that keeps it the user's alone (token, host,
origin, paths, uploads, one studio per film, errors as JSON)."""

import base64
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from films import make_film
from toy_colorizer import TESTS, ToyColorizer, install

pytest.importorskip("starlette")
pytest.importorskip("httpx")
with warnings.catch_warnings():  # Starlette 1.x would rather have httpx's successor, httpx2; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

from vidcolor.color import rgb_to_lab  # noqa: E402
from vidcolor.errors import OutputError  # noqa: E402
from vidcolor.film.direction_file import Direction, Hint, ShotDirection, direction_text, read_direction  # noqa: E402
from vidcolor.outputs import lock_path  # noqa: E402
from vidcolor.studio import exposure_warning, studio_unavailable_message  # noqa: E402
from vidcolor.studio import guard as guard_module  # noqa: E402
from vidcolor.studio.guard import Guard  # noqa: E402
from vidcolor.studio.server import create_app  # noqa: E402
from vidcolor.studio.session import Studio  # noqa: E402

PORT = 8765
HOME = f"http://127.0.0.1:{PORT}"
RED = "#d01010"


@pytest.fixture(scope="module")
def two_shots(tmp_path_factory):
    """A grey cat, then a grey rocket panning left 2 px a frame: 12 frames each, 96 x 64."""
    return make_film(tmp_path_factory.mktemp("films") / "two.mp4", [("chelsea", "grey"), ("rocket", "grey")])


@pytest.fixture
def film(tmp_path, two_shots):
    folder = tmp_path / "film"
    folder.mkdir()
    return Path(shutil.copy(two_shots, folder / "two.mp4"))


def open_studio(source, colorizer=None):
    studio = Studio(source, colorizer=colorizer or ToyColorizer()).__enter__()
    studio.start()
    assert studio.ready(60), studio.problem
    guard = Guard(PORT)
    client = TestClient(create_app(studio, guard), base_url=HOME, headers={"x-vidcolor-token": guard.token})
    return studio, guard, client


@pytest.fixture
def studio(film):
    studio, guard, client = open_studio(film)
    yield studio, guard, client
    studio.close()


def picture(data_url: str) -> np.ndarray:
    data = np.frombuffer(base64.b64decode(data_url.split(",", 1)[1]), np.uint8)
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def test_shots_are_the_ones_vidcolor_shots_finds_with_their_pictures(studio):
    _, _, client = studio
    state = client.get("/api/state").json()
    assert state["scan"] == {"done": True, "frames": 24, "total": 24, "model_loaded": True}
    assert [(s["number"], s["first_frame"], s["frames"], s["start"]) for s in state["shots"]] == [
        (1, 0, 12, "00:00:00.000"), (2, 12, 12, "00:00:00.480")]
    thumb = client.get("/api/shots/2/thumb.jpg")
    assert thumb.headers["content-type"] == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(thumb.content, np.uint8), cv2.IMREAD_COLOR).shape == (64, 96, 3)
    preview = client.get("/api/shots/2/preview").json()
    assert picture(preview["frame"]).shape == (64, 96, 3) and len(preview["strip"]) == 6
    assert np.ptp(picture(preview["grey"]).astype(int), axis=2).max() <= 2  # the original: grey


def test_a_hint_colours_the_frame_near_it_and_not_far_away_and_follows_the_shot(studio):
    _, _, client = studio
    before = rgb_to_lab(picture(client.get("/api/shots/2/preview").json()["frame"]))
    answer = client.put("/api/direction/shots/2", json={"hints": [{"x": 0.6, "y": 0.5, "color": RED}]})
    assert answer.status_code == 200 and answer.json()["unsaved"]
    preview = client.get("/api/shots/2/preview").json()
    after = rgb_to_lab(picture(preview["frame"]))
    pull = after[..., 1] - before[..., 1]  # a*: red is high a*
    assert pull[28:36, 54:62].mean() > 15  # at the hint (x 0.6 of 96 px, y 0.5 of 64)
    assert np.abs(pull[:, :20]).mean() < 1.0  # far from it: unchanged
    # the strip follows the hint through the shot: the rocket pans left, so does the hint
    xs = [frame["hints"][0]["x"] for frame in preview["strip"]]
    assert xs[0] == 0.6 and all(a > b for a, b in zip(xs, xs[1:])) and xs[-1] < 0.45


def test_an_edit_the_file_could_not_hold_is_refused_in_one_json_line(studio):
    _, _, client = studio
    for table, words in [({"hints": [{"x": 1.5, "y": 0.5, "color": RED}]}, "x = 1.5"),
                         ({"hints": [{"x": 0.5, "y": 0.5, "color": "navy"}]}, "not a colour"),
                         ({"keep": True, "grey": True}, "keep and grey both set"),
                         ({"refrence": "a.jpg"}, "unknown setting"),
                         ({"strength": 9}, "from 0 to 4")]:
        answer = client.put("/api/direction/shots/1", json=table)
        assert answer.status_code == 400 and words in answer.json()["error"], answer.json()
    assert client.put("/api/direction/shots/9", json={}).status_code == 404
    assert client.get("/api/state").json()["direction"] == {"film": {}, "shots": {}}  # nothing taken


def test_the_writer_and_the_reader_agree_on_everything_a_direction_says(tmp_path):
    (tmp_path / "refs").mkdir()
    for name in ("refs/coat.png", "sky.jpg"):
        cv2.imwrite(str(tmp_path / name), np.full((8, 8, 3), 90, np.uint8))
    path = tmp_path / "film_direction.toml"
    said = Direction(ShotDirection(reference=tmp_path / "sky.jpg", strength=1.5), {
        1: ShotDirection(grey=True),
        2: ShotDirection(hints=(Hint(0.1234, 0.9, "#1f3a93"), Hint(0.0, 1.0, "#b02020")), keep=False,
                         reference=tmp_path / "refs/coat.png", strength=0.0),
        3: ShotDirection(keep=True)}, path=path)
    listing = [(0, 0.0, 1.0, "black and white"), (25, 1.0, 2.0, "black and white"), (50, 2.0, 3.0, "colour")]
    path.write_text(direction_text(tmp_path / "film.mp4", 75, listing, path.name, said))
    read = read_direction(path)
    assert (read.film, read.shots) == (said.film, said.shots)
    assert read.first_frames == {1: 0, 2: 25, 3: 50} and read.frames == 75 and read.shot_count == 3


def test_save_writes_the_direction_file_the_remaster_reads_and_loads_it_again(film):
    cv2.imwrite(str(film.parent / "blue.png"), np.full((20, 30, 3), (200, 60, 20), np.uint8))
    studio, _, client = open_studio(film)
    try:
        client.put("/api/direction/film", json={"reference": "blue.png", "strength": 2.0})
        client.put("/api/direction/shots/2", json={"hints": [{"x": 0.123456, "y": 0.5, "color": RED}], "keep": False})
        client.put("/api/direction/shots/1", json={"grey": True})
        saved = client.post("/api/save", json={}).json()
        assert saved["kept"] is None and not saved["state"]["unsaved"]
        made = studio.directing.direction
    finally:
        studio.close()
    read = read_direction(saved["saved"])
    assert (read.film, read.shots) == (made.film, made.shots)
    assert read.shots[2].hints == (Hint(0.1235, 0.5, RED),) and read.film.reference == film.parent / "blue.png"
    text = Path(saved["saved"]).read_text()
    studio, _, client = open_studio(film)  # the studio opens the file it finds, and saves it unchanged
    try:
        assert client.get("/api/state").json()["direction"]["shots"]["1"] == {"grey": True}
        assert client.post("/api/save", json={}).json()["kept"] is None
    finally:
        studio.close()
    assert Path(saved["saved"]).read_text() == text


def test_a_direction_file_edited_by_hand_is_never_lost(film, monkeypatch):
    from typer.testing import CliRunner

    from vidcolor.cli import app

    install({}, monkeypatch)
    assert CliRunner().invoke(app, ["shots", str(film)]).exit_code == 0
    path = film.parent / "two_direction.toml"
    path.write_text(path.read_text() + "grey = true  # the second shot stays grey, as the archive asks\n")
    studio, _, client = open_studio(film)
    try:
        assert client.get("/api/state").json()["direction"]["shots"]["2"] == {"grey": True}
        client.put("/api/direction/shots/1", json={"hints": [{"x": 0.5, "y": 0.5, "color": RED}]})
        saved = client.post("/api/save", json={}).json()  # the comment is not the writer's: kept beside
        assert "as the archive asks" in Path(saved["kept"]).read_text()
        path.write_text(path.read_text().replace("grey = true", "keep = true"))  # edited by hand meanwhile
        client.put("/api/direction/shots/1", json={"hints": [{"x": 0.4, "y": 0.5, "color": RED}]})
        conflict = client.post("/api/save", json={})
        assert conflict.status_code == 409 and conflict.json()["reason"] == "conflict"
        assert "keep = true" in path.read_text()  # not written over
        both = client.post("/api/save", json={"keep_theirs": True}).json()
        assert "keep = true" in Path(both["kept"]).read_text() and "x = 0.4" in path.read_text()
        path.write_text(path.read_text().replace("grey = true", "keep = true"))
        state = client.post("/api/reload").json()  # or theirs, taken back
        assert state["direction"]["shots"]["2"] == {"keep": True} and not state["unsaved"]
    finally:
        studio.close()


def test_the_token_is_needed_on_every_request_and_the_first_load_trades_it_for_a_cookie(studio):
    _, guard, client = studio
    bare = TestClient(client.app, base_url=HOME)
    for path in ("/", "/api/state", "/static/app.js", "/api/shots/1/thumb.jpg"):
        answer = bare.get(path)
        assert answer.status_code == 403 and "token" in answer.json()["error"]
    assert bare.get("/api/state", headers={"x-vidcolor-token": guard.token[:-1] + "x"}).status_code == 403
    opened = bare.get(f"/?token={guard.token}", follow_redirects=False)
    assert opened.status_code == 303 and opened.headers["location"] == "/"
    cookie = opened.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert bare.get("/").status_code == 200 and bare.get("/api/state").status_code == 200  # the cookie now
    assert "default-src 'self'" in bare.get("/").headers["content-security-policy"]


def test_other_hosts_and_other_origins_are_refused(studio):
    _, guard, client = studio
    rebound = client.get("/api/state", headers={"host": f"attacker.example:{PORT}"})
    assert rebound.status_code == 403 and "host" in rebound.json()["error"]
    assert client.get("/api/state", headers={"host": "127.0.0.1:9999"}).status_code == 403
    assert client.get("/api/state", headers={"host": f"localhost:{PORT}"}).status_code == 200
    page = TestClient(client.app, base_url=HOME)
    page.get(f"/?token={guard.token}")  # a browser, with the cookie
    hint = {"hints": [{"x": 0.5, "y": 0.5, "color": RED}]}
    other = page.put("/api/direction/shots/1", json=hint, headers={"origin": "http://evil.example"})
    assert other.status_code == 403 and "origin" in other.json()["error"]
    assert page.put("/api/direction/shots/1", json=hint).status_code == 403  # no Origin and no token header
    assert page.put("/api/direction/shots/1", json=hint, headers={"origin": HOME}).status_code == 200


def test_no_path_outside_the_films_folder_is_read_or_named(studio, film, tmp_path):
    _, _, client = studio
    secret = tmp_path / "secret.png"
    cv2.imwrite(str(secret), np.zeros((8, 8, 3), np.uint8))
    (film.parent / "link.png").symlink_to(secret)
    for path in ("../secret.png", str(secret), "link.png", "sub/../../secret.png"):
        answer = client.get("/api/image", params={"path": path})
        assert answer.status_code == 400 and "outside the film's folder" in answer.json()["error"], path
        answer = client.put("/api/direction/film", json={"reference": path})
        assert answer.status_code == 400 and "outside" in answer.json()["error"], path
    assert "link.png" in client.get("/api/images").json()["images"]  # listed, but never read through


def test_uploads_are_pictures_of_bounded_size_kept_beside_the_film(studio, film, monkeypatch):
    _, _, client = studio
    ok, png = cv2.imencode(".png", np.full((10, 12, 3), (20, 60, 200), np.uint8))
    answer = client.post("/api/references", params={"name": "../../Coat photo.png"}, content=png.tobytes(),
                         headers={"content-type": "image/png"})
    assert answer.status_code == 200 and answer.json()["path"] == "two_references/Coat_photo.png"
    assert (film.parent / "two_references" / "Coat_photo.png").is_file()
    assert client.put("/api/direction/film", json={"reference": answer.json()["path"]}).status_code == 200
    script = client.post("/api/references", params={"name": "x.png"}, content=b"<script>alert(1)</script>")
    assert script.status_code == 400 and "not a picture" in script.json()["error"]
    monkeypatch.setattr(guard_module, "UPLOAD_LIMIT", 1000)
    monkeypatch.setattr(guard_module.read_limited, "__defaults__", (1000,))
    big = client.post("/api/references", params={"name": "big.png"}, content=png.tobytes() * 20)
    assert big.status_code == 413 and "larger than" in big.json()["error"]
    chunks = client.post("/api/references", params={"name": "big.png"}, content=iter([png.tobytes()] * 20))
    assert chunks.status_code == 413  # no Content-Length: counted as it comes
    assert sorted(p.name for p in (film.parent / "two_references").iterdir()) == ["Coat_photo.png"]


def test_bad_requests_get_json_errors_never_a_traceback(studio):
    s, _, client = studio
    assert client.put("/api/direction/shots/1", content=b"{not json").json()["error"].startswith("the request's body")
    missing = client.get("/api/nothing")
    assert missing.status_code == 404 and missing.json() == {"error": "Not Found"}
    assert client.get("/api/shots/x/preview").status_code == 404
    s.state = lambda: 1 / 0
    broken = TestClient(client.app, base_url=HOME, raise_server_exceptions=False,
                        headers={"x-vidcolor-token": client.headers["x-vidcolor-token"]}).get("/api/state")
    assert broken.status_code == 500 and broken.json() == {
        "error": "the studio failed: ZeroDivisionError (the terminal that runs it has the details)"}
    assert "Traceback" not in broken.text


def test_two_studios_on_one_film_are_refused(studio, film):
    with pytest.raises(OutputError, match="another vidcolor run"):
        Studio(film, colorizer=ToyColorizer()).__enter__()


def test_render_cancel_and_render_again_resumes(film, monkeypatch, tmp_path):
    install({"segment_frames": 8}, monkeypatch)  # segments of 8 frames: a cancelled render keeps some
    toy = ToyColorizer()
    studio, _, client = open_studio(film, toy)
    try:
        client.put("/api/direction/shots/2", json={"hints": [{"x": 0.6, "y": 0.5, "color": RED}]})
        toy.pause_at, toy.marker, toy.release = toy.calls + 3, str(tmp_path / "paused"), str(tmp_path / "go")
        started = client.post("/api/render", json={}).json()
        assert started["render"]["state"] == "running" and read_direction(started["saved"]).shots[2].hints
        wait_for(lambda: studio.render.done_frames >= 8)
        client.post("/api/render/cancel")
        (tmp_path / "go").touch()
        wait_for(lambda: client.get("/api/state").json()["render"]["state"] == "cancelled")
        toy.pause_at = None
        client.post("/api/render", json={})
        wait_for(lambda: client.get("/api/state").json()["render"]["state"] != "running")
        render = client.get("/api/state").json()["render"]
        assert render["state"] == "done" and render["frames"] == 24 and studio.render.resumed >= 8
        assert Path(render["output"]) == film.parent / "two_color.mp4" and Path(render["output"]).is_file()
    finally:
        studio.close()


def wait_for(condition, seconds: float = 60):
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def test_a_still_is_directed_and_saved_as_a_coloured_picture(tmp_path):
    still = tmp_path / "cat.png"
    cv2.imwrite(str(still), cv2.cvtColor(cv2.resize(np.asarray(__import__("skimage.data").data.chelsea()), (120, 80)),
                                         cv2.COLOR_RGB2GRAY))
    studio, _, client = open_studio(still)
    try:
        state = client.get("/api/state").json()
        assert state["film"]["kind"] == "still" and len(state["shots"]) == 1
        client.put("/api/direction/shots/1", json={"hints": [{"x": 0.5, "y": 0.5, "color": RED}]})
        saved = client.post("/api/save", json={}).json()
        coloured = cv2.imread(saved["saved"])
        assert Path(saved["saved"]) == tmp_path / "cat_color.png" and coloured.shape == (80, 120, 3)
        assert coloured[40, 60, 2] > coloured[40, 60, 0] + 30  # red (BGR) at the hint
        assert client.post("/api/save", json={}).json()["reason"] == "exists"
        assert client.post("/api/save", json={"overwrite": True}).status_code == 200
    finally:
        studio.close()


def test_without_the_extra_the_studio_says_how_to_install_it_and_host_says_it_exposes_the_film(monkeypatch):
    assert studio_unavailable_message() is None
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert 'pip install "vidcolor[studio]"' in studio_unavailable_message()
    assert exposure_warning("127.0.0.1", 80) is None
    assert "can see the film" in exposure_warning("0.0.0.0", 8000)


STUDIO = """
import signal, sys; sys.path.insert(0, sys.argv[1])
signal.signal(signal.SIGINT, signal.default_int_handler)  # a suite started in the background ignores Ctrl-C
from toy_colorizer import ToyColorizer
from vidcolor.studio import run_studio
try:
    run_studio(sys.argv[2], open_browser=False, colorizer=ToyColorizer(), on_ready=lambda url: print(url, flush=True))
except KeyboardInterrupt:
    print("stopped", flush=True)
"""


def test_the_server_listens_on_localhost_with_a_token_and_stops_cleanly_on_ctrl_c(film):
    import httpx

    process = subprocess.Popen([sys.executable, "-c", STUDIO, TESTS, str(film)], stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and "?token=" in url
        with httpx.Client() as browser:
            assert browser.get(url, follow_redirects=True).status_code == 200  # the page, with its cookie
            assert httpx.get(url.split("?")[0] + "api/state").status_code == 403  # without: refused
        assert lock_path(film.parent / "two_direction.toml").exists()
        process.send_signal(signal.SIGINT)
        assert process.stdout.read().strip() == "stopped" and process.wait(30) == 0
    finally:
        process.kill()
    assert not lock_path(film.parent / "two_direction.toml").exists()  # let go: another studio may open it


def test_the_studio_command_refuses_bad_input_in_one_line_before_any_model_loads(tmp_path):
    (tmp_path / "not_a_film.mp4").write_text("hello")
    for args, told in ([str(tmp_path / "missing.mp4")], "no such file"), \
                      ([str(tmp_path / "not_a_film.mp4")], "not a readable video"), \
                      ([str(tmp_path / "not_a_film.mp4"), "--render-size", "3"], "--render-size 3"):
        code = ("import sys; from vidcolor.cli import run; sys.argv = ['vidcolor', 'studio', '--no-browser'] + "
                f"{args!r}\ntry:\n    run()\nfinally:\n    assert 'tensorflow' not in sys.modules")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and told in done.stderr
