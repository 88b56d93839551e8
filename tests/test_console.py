"""The panel's web side with a real server: the audience's /ask, the
moderator's console and its token, limits, and a restart."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.servers import ROOT, free_port

TOKEN = "moderator-secret-token"


class PanelServer:
    def __init__(self, work):
        self.work = work
        self.config = work / "fireside.yaml"
        self.config.write_text(f"panel:\n  token: {TOKEN}\n  folder: {work / 'panel'}\n  questions_per_minute: 3\n")
        self.port = free_port()
        self.process = None

    def start(self) -> "PanelServer":
        fireside = os.path.join(os.path.dirname(sys.executable), "fireside")
        log = open(self.work / "server.log", "ab")
        self.process = subprocess.Popen(
            [fireside, "--config", str(self.config), "serve", "--port", str(self.port),
             "--show", str(ROOT / "prompts" / "shows" / "demo.yaml")], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status", timeout=1)
                return self
            except OSError:
                assert self.process.poll() is None, (self.work / "server.log").read_text()
                time.sleep(0.3)
        raise RuntimeError("the panel server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(20)

    def request(self, method: str, path: str, body=None, token: str | None = None, client: str = "127.0.0.1",
                raw: bytes | None = None) -> tuple[int, dict | str]:
        """From ``client`` (any 127.x.y.z address is this machine: one audience member each)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10, source_address=(client, 0))
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        connection.request(method, path, body=data, headers=headers)
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        connection.close()
        try:
            return response.status, json.loads(text)
        except ValueError:
            return response.status, text


@pytest.fixture(scope="module")
def panel(tmp_path_factory):
    server = PanelServer(tmp_path_factory.mktemp("panel")).start()
    yield server
    server.stop()


def open_questions(panel) -> list[dict]:
    status, data = panel.request("GET", "/console/queue", token=TOKEN)
    assert status == 200
    return [q for q in data["questions"] if q["status"] in ("pending", "approved")]


def test_an_audience_question_reaches_the_console_queue(panel):
    status, answer = panel.request("POST", "/ask", {"text": "How do banks detect fraud?", "name": "Mina"},
                                   client="127.0.0.11")
    assert status == 201 and answer["status"] == "pending"
    queued = {q["id"]: q for q in open_questions(panel)}
    assert queued[answer["id"]]["text"] == "How do banks detect fraud?" and queued[answer["id"]]["name"] == "Mina"


def test_the_moderator_approves_edits_assigns_and_reorders(panel):
    ids = [panel.request("POST", "/ask", {"text": f"Question {i}?"}, client="127.0.0.12")[1]["id"] for i in range(3)]
    assert panel.request("POST", f"/console/questions/{ids[0]}", {"action": "approve", "to": "ada"}, TOKEN)[0] == 200
    assert panel.request("POST", f"/console/questions/{ids[1]}", {"action": "edit", "text": "Better?"}, TOKEN)[0] == 200
    assert panel.request("POST", f"/console/questions/{ids[1]}", {"action": "assign", "to": "all"}, TOKEN)[0] == 200
    assert panel.request("POST", f"/console/questions/{ids[2]}", {"action": "move", "position": 0}, TOKEN)[0] == 200
    status, rejected = panel.request("POST", f"/console/questions/{ids[2]}", {"action": "reject"}, TOKEN)
    assert status == 200 and rejected["status"] == "rejected"
    mine = [q for q in open_questions(panel) if q["id"] in ids]
    assert [(q["text"], q["status"], q["to"]) for q in mine] == [("Question 0?", "approved", "ada"),
                                                                 ("Better?", "pending", "all")]
    assert panel.request("POST", f"/console/questions/{ids[0]}", {"action": "approve", "to": "mei"}, TOKEN)[0] == 400
    assert panel.request("POST", "/console/questions/nope", {"action": "reject"}, TOKEN)[0] == 404
    assert panel.request("POST", f"/console/questions/{ids[0]}", {"action": "dance"}, TOKEN)[0] == 400


@pytest.mark.parametrize("method, path", [("GET", "/console"), ("GET", "/console/queue"),
                                          ("POST", "/console/questions/x")])
def test_the_console_and_its_controls_need_the_token(panel, method, path):
    for token in (None, "wrong-token", TOKEN[:-1]):
        status, answer = panel.request(method, path, {"action": "reject"}, token=token)
        assert status == 401 and "token" in answer["error"]
    status, _ = panel.request("GET", f"/console?token={TOKEN}")
    assert status == 200


def test_oversized_malformed_and_too_frequent_questions_are_refused(panel):
    big = json.dumps({"text": "x" * (50 * 1024 * 1024)}).encode()  # a 50 MB upload
    assert panel.request("POST", "/ask", raw=big, client="127.0.0.21")[0] == 413
    assert panel.request("POST", "/ask", {"text": "x" * 301}, client="127.0.0.22")[1]["error"].startswith("a question")
    assert panel.request("POST", "/ask", raw=b"{not json", client="127.0.0.22")[0] == 400
    assert panel.request("POST", "/ask", raw=b'{"text": "\xff\xfe"}', client="127.0.0.22")[0] == 400
    assert panel.request("POST", "/ask", {"text": "   "}, client="127.0.0.22")[0] == 400
    answers = [panel.request("POST", "/ask", {"text": f"Spam {i}?"}, client="127.0.0.23") for i in range(4)]
    assert [status for status, _ in answers] == [201, 201, 201, 429]
    assert "try again" in answers[-1][1]["error"]
    # another member of the audience is not held back, and the server goes on
    assert panel.request("POST", "/ask", {"text": "Mine?"}, client="127.0.0.24")[0] == 201


def test_the_queue_and_the_log_survive_a_restart(tmp_path):
    server = PanelServer(tmp_path).start()
    try:
        qid = server.request("POST", "/ask", {"text": "Still there?"})[1]["id"]
        server.request("POST", f"/console/questions/{qid}", {"action": "approve", "to": "ravi"}, TOKEN)
        before = server.request("GET", "/console/queue", token=TOKEN)[1]["questions"]
    finally:
        server.stop()
    server.start()
    try:
        after = server.request("GET", "/console/queue", token=TOKEN)[1]["questions"]
        assert after == before and after[0]["status"] == "approved" and after[0]["to"] == "ravi"
        records = [json.loads(line) for line in (tmp_path / "panel" / "audit.jsonl").read_text().splitlines()]
        assert [r["event"] for r in records] == ["opened", "question", "status", "opened"]
    finally:
        server.stop()


def test_ask_and_console_pages_in_chromium(panel):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        audience = browser.new_page()
        audience.goto(f"http://127.0.0.1:{panel.port}/ask")
        audience.fill("#text", "What is a tokenised deposit, in plain words?")
        audience.fill("#name", "Leung")
        audience.click("button[type=submit]")
        audience.wait_for_function("document.querySelector('#status').textContent.includes('with the moderator')")
        moderator = browser.new_page()
        moderator.goto(f"http://127.0.0.1:{panel.port}/console?token={TOKEN}")
        row = moderator.locator("li", has_text="tokenised deposit, in plain words")
        row.wait_for(timeout=10000)
        assert "Leung" in row.inner_text()
        row.locator("select.to").select_option("ravi")
        row.locator("button.approve").click()
        moderator.wait_for_function(
            "[...document.querySelectorAll('li')].some(li => li.textContent.includes('plain words')"
            " && li.textContent.includes('approved · to ravi'))")
        browser.close()
    question = next(q for q in open_questions(panel) if "plain words" in q["text"])
    assert (question["status"], question["to"], question["name"]) == ("approved", "ravi", "Leung")
