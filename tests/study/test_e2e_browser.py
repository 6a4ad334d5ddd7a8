"""End to end in headless Debian chromium (Playwright): a volunteer completes a study against a real
``streamlit run`` on 127.0.0.1; screenshots land in test-artifacts/study/ (git-ignored)."""

from __future__ import annotations

import io
import re
import socket
import subprocess
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from services import service_missing

from cfkit.imageio import save_png
from cfkit.study.db import open_db
from cfkit.study.design import create_study
from cfkit.study.export import ratings_frame
from cfkit.study.serve import serve_command

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "study"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
SECRET_METHODS = ("zetamethod", "omegamethod", "kappamethod")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(folders, tmp_path):
    if not CHROMIUM.exists():
        service_missing("Debian chromium not installed (/usr/bin/chromium): run scripts/ci_services.sh as root")
    src, out = folders
    big = next(iter(out.values()))  # one method writes 384 px outputs, the others 128 px: served alike
    for f in big.glob("*.png"):
        save_png(f, np.asarray(Image.open(f).resize((384, 384), Image.LANCZOS)))
    db = tmp_path / "e2e.db"
    create_study(
        db=db,
        out=tmp_path / "s",
        methods={m: str(p) for m, p in zip(SECRET_METHODS, out.values(), strict=True)},
        source=src,
        name="e2e",
        n_sources=2,
        ratings_per_item=5,
        attention_duplicates=1,
        attention_broken=1,
    )
    srv = Server(*serve_command(str(db), "e2e", "127.0.0.1", _free_port(), admin_token="tok-e2e"), tmp_path)
    try:
        srv.start()
        yield srv, open_db(db)
    finally:
        srv.stop()


class Server:
    """A real ``streamlit run`` (what ``cfkit study serve`` execs) that can be stopped and restarted."""

    def __init__(self, argv: list[str], env: dict[str, str], logdir: Path):
        self.argv, self.env, self.log_path = argv, env, logdir / "streamlit.log"
        self.url = f"http://127.0.0.1:{argv[argv.index('--server.port') + 1]}"
        self.proc = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        for _ in range(120):
            try:
                if httpx.get(f"{self.url}/_stcore/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                pytest.fail("streamlit exited:\n" + self.log_path.read_text()[-2000:])
            time.sleep(0.5)
        pytest.fail("streamlit did not become healthy in 60 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def test_volunteer_completes_study_in_chromium(server):
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect, sync_playwright

    srv, db = server
    url = srv.url
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    seen: list[bytes] = []  # every websocket frame and HTTP response (URL + media body) the browser got
    media: list[bytes] = []  # the bodies of /media/ responses: images (and the admin page's downloads)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on(
            "websocket",
            lambda ws: ws.on("framereceived", lambda f: seen.append(f if isinstance(f, bytes) else f.encode())),
        )

        def on_response(r) -> None:
            try:
                body = r.body() if "/media/" in r.url else b""
            except PlaywrightError:  # a download the page navigated away from: no body to keep
                body = b""
            seen.append(r.url.encode() + b"\n" + body)
            if body:
                media.append(body)

        page.on("response", on_response)
        page.goto(url + "/", wait_until="networkidle")
        expect(page.get_by_role("button", name="Start")).to_be_visible(timeout=30_000)
        page.wait_for_timeout(500)
        page.screenshot(path=ARTIFACTS / "1_welcome.png", full_page=True)
        page.get_by_text("I have read the above").click()
        page.get_by_role("button", name="Start").click()
        progress = page.get_by_text(re.compile(r"Screen \d+ of \d+"))
        expect(progress).to_be_visible(timeout=30_000)
        total = int(re.search(r"of (\d+)", progress.inner_text()).group(1))
        assert total == 4  # 2 items + a duplicate + a broken-image check
        for k in range(total):
            expect(page.get_by_text(f"Screen {k + 1} of {total}")).to_be_visible(timeout=30_000)
            checked = page.get_by_role("radio", checked=True)
            expect(checked).to_have_count(0, timeout=30_000)  # the new trial's form has replaced the old one
            groups = page.get_by_role("radiogroup")
            expect(groups).to_have_count(9)
            for g in range(9):
                groups.nth(g).locator("label").nth(3).click()  # "4"
            expect(checked).to_have_count(9)
            if k == 0:
                page.wait_for_timeout(300)
                page.screenshot(path=ARTIFACTS / "2_trial.png", full_page=True)
            if k == 1:
                page.get_by_role("button", name="Next →").dblclick()  # a double click stores one answer
            else:
                page.get_by_role("button", name="Next →").click()
            if k == 1:  # restart the server mid-study: nothing lost, the volunteer continues with the code
                expect(page.get_by_text(f"Screen {k + 2} of {total}")).to_be_visible(timeout=30_000)
                code_text = page.get_by_text("Participant code:").inner_text()
                assert "?" not in page.url and "code" not in page.url  # the code is not in the address
                srv.stop()
                srv.start()
                page.reload(wait_until="networkidle")
                page.get_by_text("Continue with a participant code").click()
                page.get_by_label("Participant code").fill(re.search(r"[A-Z2-9]{4}-[A-Z2-9]{4}", code_text)[0])
                page.get_by_role("button", name="Continue").click()
        expect(page.get_by_text("Thank you!")).to_be_visible(timeout=30_000)
        page.screenshot(path=ARTIFACTS / "3_thanks.png", full_page=True)
        code = page.locator("code").first.inner_text().strip()

        page.goto(url + "/admin", wait_until="networkidle")
        page.get_by_label("Admin token").fill("wrong")
        page.get_by_role("button", name="Open").click()
        expect(page.get_by_text("Wrong token.")).to_be_visible(timeout=30_000)
        page.get_by_label("Admin token").fill("tok-e2e")
        page.get_by_role("button", name="Open").click()
        expect(page.get_by_text("Ratings collected")).to_be_visible(timeout=30_000)
        expect(page.get_by_role("button", name="summary.csv")).to_be_visible(timeout=60_000)
        page.set_viewport_size({"width": 1280, "height": 2400})  # Streamlit scrolls inside its own container
        page.wait_for_timeout(1500)
        page.screenshot(path=ARTIFACTS / "4_admin.png", full_page=True)
        browser.close()
    df = ratings_frame(db, "e2e")
    assert df["participant"].nunique() == 1 and df["trial"].nunique() == total
    assert len(df) == total * 3 * 3 and not df.duplicated(["trial", "criterion", "method"]).any()
    assert set(df["value"]) == {4.0}
    with db.read() as s:
        from sqlalchemy import select

        from cfkit.study.schema import Participant

        assert s.scalar(select(Participant.completion_code)) == code
    blob = b"".join(seen)
    volunteer_traffic = blob.split(b"Study admin")[0]  # everything the volunteer pages sent
    assert b"Screen 1 of" in volunteer_traffic and b"/media/" in volunteer_traffic  # the capture works
    assert b"\xff\xd8\xff" in volunteer_traffic or b"\x89PNG" in volunteer_traffic  # image bodies included
    for m in (*SECRET_METHODS, "face00", "/results/", str(db.url)):
        assert m.encode() not in volunteer_traffic, m
    images = [b for b in media if b.startswith((b"\x89PNG", b"\xff\xd8\xff"))]
    sizes = {Image.open(io.BytesIO(body)).size for body in images}
    assert len(images) >= 8 and sizes == {(384, 384)}  # every stimulus, 128 px or 384 px on disk, at one size
