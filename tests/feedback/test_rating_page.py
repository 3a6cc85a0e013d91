"""The rating page in headless chromium (Playwright), its token, concurrent raters, and the
one-line errors for a damaged database or a malformed ratings file."""

import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from synthbench.feedback.batch import make_batch
from synthbench.feedback.server import create_app
from synthbench.feedback.store import DB_FILE, Rating, RatingStore

TOKEN = "test-token-123"


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fb") / "batch"
    make_batch("shipped:cvae-oct", folder, n=6, seed=0)
    return folder


@pytest.fixture()
def server(batch, tmp_path):
    """The app on a free port in a background thread, over a fresh copy of the batch."""
    import uvicorn

    folder = tmp_path / "batch"
    shutil.copytree(batch, folder)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        create_app(folder, TOKEN), host="127.0.0.1", port=port, log_level="warning"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", folder
    srv.should_exit = True
    thread.join(timeout=10)


def test_rate_with_mouse_and_keys_go_back_change_reload(server, chromium_launch):
    from playwright.sync_api import sync_playwright

    url, folder = server
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(**chromium_launch)
        page = browser.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{url}/?token={TOKEN}")
        page.fill("#rater", "ana")
        page.select_option("#expertise", "radiologist")
        page.click("#start")
        page.wait_for_selector("#main:not([hidden])")
        # the first image loads (times out otherwise)
        page.wait_for_function(
            "document.querySelector('#image').complete"
            " && document.querySelector('#image').naturalWidth > 0"
        )
        # image 1 with the mouse
        page.click("button[data-dim=realism][data-v='3']")
        page.click("button[data-dim=fidelity][data-v='2']")
        page.wait_for_selector("text=Image 2 of 6")
        # image 2 and 3 with the keys
        page.keyboard.press("1")
        page.keyboard.press("3")
        page.wait_for_selector("text=Image 3 of 6")
        page.keyboard.press("2")
        page.keyboard.press("2")
        page.wait_for_selector("text=Image 4 of 6")
        page.keyboard.press("s")  # skip image 4
        page.wait_for_selector("text=Image 5 of 6")
        # back to image 2 and change it
        for _ in range(3):
            page.keyboard.press("ArrowLeft")
        page.wait_for_selector("text=Image 2 of 6")
        page.keyboard.press("3")
        page.keyboard.press("1")
        page.wait_for_selector("text=Image 3 of 6")
        # reload: the ratings come back from the server, the page resumes at the first unrated
        page.reload()
        page.click("#start")
        page.wait_for_selector("text=4 / 6 rated")
        assert "Image 5 of 6" in page.inner_text("#progress")
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")
        page.wait_for_selector("text=Image 2 of 6")
        on = page.eval_on_selector_all(
            "button.on", "els => els.map(e => e.dataset.dim + e.dataset.v)"
        )
        browser.close()
    assert not errors, errors
    assert sorted(on) == ["fidelity1", "realism3"]
    got = {r["item_id"]: r for r in RatingStore(folder / DB_FILE).ratings("ana")}
    assert (got["00000"]["realism"], got["00000"]["fidelity"]) == (3, 2)
    assert (got["00001"]["realism"], got["00001"]["fidelity"]) == (3, 1)  # changed from 1, 3
    assert (got["00002"]["realism"], got["00002"]["fidelity"]) == (2, 2)
    assert got["00003"]["skipped"] and got["00003"]["realism"] is None
    assert all(r["expertise"] == "radiologist" for r in got.values())
    assert RatingStore(folder / DB_FILE).n_events() == 5


def test_requests_without_the_token_are_refused(server):
    url, _ = server
    for path in ("/", "/api/batch", "/api/ratings", "/images/00000.png"):
        assert httpx.get(url + path).status_code == 403
        assert httpx.get(url + path, params={"token": "wrong"}).status_code == 403
        assert httpx.get(url + path, headers={"X-Token": "wrong"}).status_code == 403
    body = {"item_id": "00000", "rater": "x", "realism": 1, "fidelity": 1}
    assert httpx.post(url + "/api/ratings", json=body).status_code == 403
    assert httpx.get(url + "/api/batch", headers={"X-Token": TOKEN}).status_code == 200
    # a rating out of range or of an unknown item is refused too
    bad = {**body, "realism": 4}
    assert httpx.post(url + "/api/ratings", json=bad, headers={"X-Token": TOKEN}).status_code == 422
    unknown = {**body, "item_id": "99999"}
    assert (
        httpx.post(url + "/api/ratings", json=unknown, headers={"X-Token": TOKEN}).status_code
        == 422
    )


def test_eight_concurrent_raters_lose_no_rating(server):
    url, folder = server

    def rater(k: int) -> int:
        ok = 0
        with httpx.Client(headers={"X-Token": TOKEN}, timeout=60) as client:
            for i in range(200):
                body = {
                    "item_id": f"{i % 6:05d}",
                    "rater": f"r{k}",
                    "expertise": "student",
                    "realism": 1 + (i + k) % 3,
                    "fidelity": 1 + i % 3,
                }
                ok += client.post(url + "/api/ratings", json=body).status_code == 200
        return ok

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(rater, range(8))) == [200] * 8
    store = RatingStore(folder / DB_FILE)
    assert store.n_events() == 1600
    current = store.ratings()
    assert len(current) == 8 * 6
    # the last rating each rater gave each item is the one kept
    last = {
        (f"r{k}", f"{i % 6:05d}"): (1 + (i + k) % 3, 1 + i % 3)
        for k in range(8)
        for i in range(200)
    }
    assert all(last[(r["rater"], r["item_id"])] == (r["realism"], r["fidelity"]) for r in current)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "synthbench.cli", "feedback", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_export_and_import_round_trip(batch, tmp_path):
    folder = tmp_path / "b"
    shutil.copytree(batch, folder)
    store = RatingStore(folder / DB_FILE, items={f"{i:05d}" for i in range(6)})
    store.submit(Rating(item_id="00001", rater="bo", expertise="clinician", realism=2, fidelity=3))
    store.submit(Rating(item_id="00002", rater="bo", expertise="clinician", skipped=True))
    for fmt in ("csv", "jsonl"):
        result = cli("export", str(folder), "--format", fmt, "--out", str(tmp_path / f"r.{fmt}"))
        assert result.returncode == 0, result.stderr
        other = tmp_path / f"other-{fmt}"
        shutil.copytree(batch, other)
        result = cli("import", str(other), str(tmp_path / f"r.{fmt}"))
        assert result.returncode == 0, result.stderr
        got = [
            {k: v for k, v in r.items() if k != "at"}
            for r in RatingStore(other / DB_FILE).ratings()
        ]
        assert got == [{k: v for k, v in r.items() if k != "at"} for r in store.ratings()]


@pytest.mark.parametrize(
    ("content", "suffix", "needle"),
    [
        (
            "item_id,rater\n00001,bo\n",
            ".csv",
            "missing column(s) expertise, fidelity, realism, skipped",
        ),
        (
            "item_id,rater,expertise,realism,fidelity,skipped\n00001,bo,clinician,5,1,0\n",
            ".csv",
            ":2: realism",
        ),
        (
            '{"item_id": "00001", "rater": "bo", "realism": 2}\n',
            ".jsonl",
            ":1: row: give realism and fidelity",
        ),
        (
            '{"item_id": "00001", "rater": "bo", "realism": 2, "fidelity": 1}\n{oops\n',
            ".jsonl",
            ":2: not JSON",
        ),
        (
            '{"item_id": "77777", "rater": "bo", "realism": 2, "fidelity": 1}\n',
            ".jsonl",
            "not in this batch",
        ),
        ("whatever", ".txt", "give a .csv or .jsonl file"),
    ],
)
def test_malformed_import_file_is_one_line_and_adds_nothing(
    batch, tmp_path, content, suffix, needle
):
    folder = tmp_path / "b"
    shutil.copytree(batch, folder)
    bad = tmp_path / f"bad{suffix}"
    bad.write_text(content)
    result = cli("import", str(folder), str(bad))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and str(bad) in lines[0], lines
    assert RatingStore(folder / DB_FILE).n_events() == 0


def test_corrupt_database_is_one_line(batch, tmp_path):
    folder = tmp_path / "b"
    shutil.copytree(batch, folder)
    (folder / DB_FILE).write_bytes(b"this is not sqlite" * 100)
    for args in (["export", str(folder)], ["import", str(folder), str(folder / "batch.json")]):
        result = cli(*args)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and DB_FILE in lines[0] and "not a ratings database" in lines[0], (
            lines
        )


def test_serve_binds_localhost_and_prints_a_token_url(batch, tmp_path):
    folder = tmp_path / "b"
    shutil.copytree(batch, folder)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "synthbench.cli",
            "feedback",
            "serve",
            str(folder),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"rating page for {folder}: http://127.0.0.1:{port}/?token=")
        token = line.strip().rsplit("=", 1)[1]
        assert len(token) >= 16
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/api/batch", params={"token": token})
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        assert response.status_code == 200 and len(response.json()["items"]) == 6
    finally:
        proc.terminate()
        proc.wait(timeout=10)
