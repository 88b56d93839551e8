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

from tests import waiting
from tests.servers import ROOT, free_port
from tests.waiting import until

TOKEN = "moderator-secret-token"


class PanelServer:
    def __init__(self, work, extra: str = "", panel: str = "", options: tuple = (), env: dict | None = None, show=None):
        self.work, self.options, self.env = work, list(options), env
        self.show = show or ROOT / "prompts" / "shows" / "demo.yaml"
        self.config = work / "fireside.yaml"
        self.config.write_text(
            f"panel:\n  token: {TOKEN}\n  folder: {work / 'panel'}\n  questions_per_minute: 3\n"
            f"{panel}call:\n  ice_addresses: [127.0.0.1]\n{extra}"
        )
        self.port = free_port()
        self.process = None

    def start(self) -> "PanelServer":
        fireside = os.path.join(os.path.dirname(sys.executable), "fireside")
        log = open(self.work / "server.log", "ab")
        self.process = subprocess.Popen(
            [
                fireside,
                "--config",
                str(self.config),
                "serve",
                "--port",
                str(self.port),
                "--show",
                str(self.show),
                *self.options,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, **(self.env or {})},
        )
        deadline = time.monotonic() + waiting.seconds(120)
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
        self.process.wait(waiting.seconds(20))

    def request(
        self,
        method: str,
        path: str,
        body=None,
        token: str | None = None,
        client: str = "127.0.0.1",
        raw: bytes | None = None,
        headers: dict | None = None,
        timeout: float = 10,
    ) -> tuple[int, dict | str]:
        """From ``client`` (any 127.x.y.z address is this machine: one audience member each)."""
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=waiting.seconds(timeout), source_address=(client, 0)
        )
        headers = {"Content-Type": "application/json", **(headers or {})}
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
    status, answer = panel.request(
        "POST", "/ask", {"text": "How do banks detect fraud?", "name": "Mina"}, client="127.0.0.11"
    )
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
    assert [(q["text"], q["status"], q["to"]) for q in mine] == [
        ("Question 0?", "approved", "ada"),
        ("Better?", "pending", "all"),
    ]
    assert panel.request("POST", f"/console/questions/{ids[0]}", {"action": "approve", "to": "mei"}, TOKEN)[0] == 400
    assert panel.request("POST", "/console/questions/nope", {"action": "reject"}, TOKEN)[0] == 404
    assert panel.request("POST", f"/console/questions/{ids[0]}", {"action": "dance"}, TOKEN)[0] == 400


@pytest.mark.parametrize(
    "method, path", [("GET", "/console"), ("GET", "/console/queue"), ("POST", "/console/questions/x")]
)
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


def test_an_empty_question_is_refused_clearly_and_not_counted_against_its_asker(panel):
    for text in ("", "   ", "  ?? ", "…"):
        status, answer = panel.request("POST", "/ask", {"text": text, "name": "Mina"}, client="127.0.0.25")
        assert status == 400 and answer == {"error": "the question is empty: say or type what you want to ask"}
    # the refused ones took none of the three questions a minute this asker has
    answers = [panel.request("POST", "/ask", {"text": f"Real {i}?"}, client="127.0.0.25") for i in range(3)]
    assert [status for status, _ in answers] == [201, 201, 201]
    assert not [q for q in open_questions(panel) if not any(c.isalnum() for c in q["text"])]


def test_the_api_is_described_in_an_openapi_document(panel):
    status, document = panel.request("GET", "/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.")
    operations = {(m.upper(), path): op for path, ops in document["paths"].items() for m, op in ops.items()}
    for endpoint in [("POST", "/offer"), ("POST", "/ask"), ("GET", "/console/feed"), ("POST", "/console/say")]:
        assert endpoint in operations, sorted(operations)
    assert all(op["summary"] for op in operations.values())  # every route the server has is described
    say = operations[("POST", "/console/say")]
    assert set(say["requestBody"]["content"]["application/json"]["schema"]["properties"]) == {"to", "text"}
    assert say["security"] == [{"moderator": []}] and "security" not in operations[("POST", "/ask")]


def test_posts_from_another_sites_page_are_refused(panel):
    evil = {"Origin": "http://evil.example"}
    here = {"Origin": f"http://127.0.0.1:{panel.port}"}
    status, answer = panel.request("POST", "/ask", {"text": "Forged?"}, client="127.0.0.31", headers=evil)
    assert status == 403 and "another site" in answer["error"]
    assert panel.request("POST", "/ask", {"text": "Mine?"}, client="127.0.0.31", headers=here)[0] == 201
    for headers in (evil, {"Origin": "null"}, {"Origin": "http://[::1"}, {"Sec-Fetch-Site": "cross-site"}):
        assert panel.request("POST", "/console/questions/x", {"action": "reject"}, TOKEN, headers=headers)[0] == 403
    # the token still decides for a page of this server's own, and for a client that is no browser
    assert panel.request("POST", "/console/questions/x", {"action": "reject"}, TOKEN, headers=here)[0] == 404
    assert panel.request("POST", "/console/questions/x", {"action": "reject"}, "wrong", headers=here)[0] == 401


def test_a_clients_own_x_forwarded_for_is_not_believed(panel):
    answers = [
        panel.request(
            "POST", "/ask", {"text": f"Who? {i}"}, client="127.0.0.41", headers={"X-Forwarded-For": f"10.0.0.{i}"}
        )
        for i in range(4)
    ]
    assert [status for status, _ in answers] == [201, 201, 201, 429]


def test_x_forwarded_for_is_read_from_a_trusted_proxy_only():
    from aiohttp.test_utils import make_mocked_request

    from stage.transport.http import client_address, trusted_networks

    class Peer:  # the connection's other end, as aiohttp asks its transport
        def __init__(self, address):
            self.address = address

        def get_extra_info(self, name, default=None):
            return (self.address, 4000) if name == "peername" else default

    def client(peer: str, forwarded: str | None, proxies: list[str]) -> str:
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        request = make_mocked_request("POST", "/ask", headers=headers, transport=Peer(peer))
        return client_address(request, trusted_networks(proxies))

    assert client("203.0.113.9", "10.1.1.1", []) == "203.0.113.9"  # no proxy configured
    assert client("203.0.113.9", "10.1.1.1", ["10.0.0.0/8"]) == "203.0.113.9"  # not from the proxy
    assert client("10.0.0.2", "198.51.100.7", ["10.0.0.0/8"]) == "198.51.100.7"
    # what the client wrote before the proxy's own entry is not believed
    assert client("10.0.0.2", "1.2.3.4, 198.51.100.7", ["10.0.0.0/8"]) == "198.51.100.7"
    assert client("10.0.0.2", "198.51.100.7, 10.0.0.3", ["10.0.0.0/8"]) == "198.51.100.7"  # two proxies
    assert client("10.0.0.2", "not-an-address", ["10.0.0.0/8"]) == "10.0.0.2"
    assert client("10.0.0.2", None, ["10.0.0.0/8"]) == "10.0.0.2"


def test_tokens_stay_out_of_the_logs(panel):
    assert panel.request("GET", f"/console?token={TOKEN}")[0] == 200
    assert panel.request("GET", f"/console/queue?token={TOKEN}")[1]["audit"] is None  # the audit log is written
    wrong = TOKEN[::-1]  # a poll is logged only when it fails: this one does, its token hidden too
    assert panel.request("GET", f"/console/queue?token={wrong}")[0] == 401
    log = panel.work / "server.log"
    deadline = time.monotonic() + waiting.seconds(60)
    while "/console/queue?token=[hidden]" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)  # the access log line follows the answer
    text = log.read_text()
    assert "GET /console?token=[hidden]" in text and "/console/queue?token=[hidden]" in text
    assert wrong not in text
    assert TOKEN not in text and TOKEN not in (panel.work / "panel" / "audit.jsonl").read_text()


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
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        # wait_for_function evaluates with eval, which the pages' policy forbids
        # (the policy has a test of its own: test_pages_run_no_inline_script...)
        audience = browser.new_page(bypass_csp=True)
        audience.goto(f"http://127.0.0.1:{panel.port}/ask")
        audience.fill("#text", "  ?? ")  # the page sends it; the server's reason is shown
        audience.click("button[type=submit]")
        audience.wait_for_function("document.querySelector('#status').textContent.includes('the question is empty')")
        audience.fill("#text", "What is a tokenised deposit, in plain words?")
        audience.fill("#name", "Leung")
        audience.click("button[type=submit]")
        audience.wait_for_function("document.querySelector('#status').textContent.includes('with the moderator')")
        moderator = browser.new_page(bypass_csp=True)
        moderator.goto(f"http://127.0.0.1:{panel.port}/console?token={TOKEN}")
        row = moderator.locator("li", has_text="tokenised deposit, in plain words")
        row.wait_for(timeout=waiting.ms(10))
        moderator.fill("#say-text", "   ")
        moderator.click("#say")
        moderator.wait_for_function("document.querySelector('#status').textContent.includes('nothing to say')")
        assert "Leung" in row.inner_text()
        row.locator("select.to").select_option("ravi")
        row.locator("button.approve").click()
        moderator.wait_for_function(
            "[...document.querySelectorAll('li')].some(li => li.textContent.includes('plain words')"
            " && li.textContent.includes('approved · to Ravi Menon'))"
        )
        browser.close()
    question = next(q for q in open_questions(panel) if "plain words" in q["text"])
    assert (question["status"], question["to"], question["name"]) == ("approved", "ravi", "Leung")


def test_pages_run_no_inline_script_and_show_html_as_text_in_chromium(panel):
    """Every page carries a Content-Security-Policy, runs under it with no
    violation, and shows what the audience sends as text, never as HTML."""
    from playwright.sync_api import sync_playwright

    question = '<img src=x onerror="window.pwned=1">Is <b>this</b> bold?'
    name = "<script>window.pwned=2</script>Eve"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox", "--disable-gpu", "--no-first-run"]
        )
        page = browser.new_page()  # with the policy enforced
        refused = []
        page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
        for path in ("/", "/ask", f"/console?token={TOKEN}", "/stage"):
            response = page.goto(f"http://127.0.0.1:{panel.port}{path}")
            policy = response.headers.get("content-security-policy", "")
            assert "script-src 'self'" in policy and "unsafe-inline" not in policy, (path, policy)
        page.goto(f"http://127.0.0.1:{panel.port}/ask")
        page.fill("#text", question)
        page.fill("#name", name)
        page.click("button[type=submit]")
        page.locator("#status", has_text="with the moderator").wait_for()
        page.goto(f"http://127.0.0.1:{panel.port}/console?token={TOKEN}")
        row = page.locator("li", has_text="<b>this</b> bold?")
        row.wait_for(timeout=waiting.ms(10))
        assert question in row.inner_text() and name in row.inner_text()
        assert row.locator("img, b, script").count() == 0  # no element was made of them
        assert page.evaluate("window.pwned") is None
        # an inline script, as an injection would add, is refused
        page.evaluate("""() => { const s = document.createElement('script');
            s.textContent = 'window.pwned = 3'; document.body.append(s); }""")
        assert page.evaluate("window.pwned") is None
        browser.close()
    assert any("inline script" in text for text in refused), refused  # and only that one
    assert all("inline script" in text for text in refused), refused


# -- the live stage ---------------------------------------------------------------------------
import asyncio  # noqa: E402

from stage.panel.order import BETWEEN_SPEAKERS  # noqa: E402
from stage.tools.call_client import StageViewer  # noqa: E402
from stage.transport.webrtc import restrict_ice  # noqa: E402

restrict_ice(["127.0.0.1"])  # this process's own peers stay on loopback


async def control(panel, path: str, body: dict | None = None):
    return await asyncio.to_thread(panel.request, "POST", path, body or {}, TOKEN)


async def heard(viewer, since: float, seconds: float) -> bool:
    """Until the stage is heard after ``since``; False if it stays silent."""
    return await until(lambda: viewer.first_sound_after(since) is not None, seconds)


async def quiet(viewer, seconds: float = 1.5, limit: float = 40) -> None:
    """Until the stage has been silent for ``seconds``."""
    await until(lambda: (viewer.last_sound() or 0) < time.perf_counter() - seconds, limit)


def audit(panel) -> list[dict]:
    return [json.loads(line) for line in (panel.work / "panel" / "audit.jsonl").read_text().splitlines()]


def test_ask_now_is_answered_on_stage_with_captions_and_sources(panel):
    async def run():
        viewer = StageViewer(f"http://127.0.0.1:{panel.port}", 2)
        await viewer.connect()
        await asyncio.sleep(1.5)
        status, asked = await asyncio.to_thread(
            panel.request, "POST", "/ask", {"text": "How do banks detect fraud?"}, None, "127.0.0.31"
        )
        await control(panel, f"/console/questions/{asked['id']}", {"action": "approve", "to": "ravi"})
        sent = time.perf_counter()
        status, answer = await control(panel, "/console/ask", {"id": asked["id"]})
        assert status == 200 and answer["to"] == "ravi"
        assert await heard(viewer, sent, 30)
        await quiet(viewer)
        await viewer.close()
        return viewer, asked["id"]

    viewer, qid = asyncio.run(run())
    said = viewer.captions()
    assert said and all(c["panelist"] == "ravi" and c["name"] == "Ravi Menon" for c in said)
    assert all(c["sources"] for c in said if c["kind"] in ("model", "extractive"))
    assert any(m["type"] == "asked" and m["question"] == "How do banks detect fraud?" for _, m in viewer.messages)
    # both faces came, side by side
    assert len(viewer.frames) == 2 and all(len(f) >= 5 for f in viewer.frames.values())
    assert viewer.frames[0][-1][1].shape == (512, 512, 3)
    status, queue = panel.request("GET", "/console/queue", token=TOKEN)
    assert next(q for q in queue["questions"] if q["id"] == qid)["status"] == "answered"
    events = [r["event"] for r in audit(panel)]
    assert "ask" in events and "said" in events and "answer" in events
    said_records = [r for r in audit(panel) if r["event"] == "said" and r["panelist"] == "ravi"]
    assert said_records and said_records[-1]["text"] == said[-1]["text"]
    # the answer's record names its sources sentence by sentence, as rehearsal's report does
    answer = [r for r in audit(panel) if r["event"] == "answer" and r["panelist"] == "ravi"][-1]
    assert answer["sources"] and answer["cited"] and all(line["titles"] for line in answer["cited"])
    assert said[0]["text"].split()[0] in answer["cited"][0]["text"]
    status, feed = panel.request("GET", "/console/feed?after=0", token=TOKEN)
    assert any(m["type"] == "clause" and m["panelist"] == "ravi" for m in feed)  # before it was heard


def test_stop_hold_and_say_work_mid_answer(panel, cards):
    async def run():
        viewer = StageViewer(f"http://127.0.0.1:{panel.port}", 2)
        await viewer.connect()
        await asyncio.sleep(1.5)
        results = {}
        # stop: a long approved answer, cut a second in
        sent = time.perf_counter()
        await control(panel, "/console/ask", {"text": "What is open banking?", "to": "ada"})
        assert await heard(viewer, sent, 30)
        await asyncio.sleep(1.0)
        stopped = time.perf_counter()
        await control(panel, "/console/stop")
        await quiet(viewer, 1.5)
        results["stop"] = (viewer.last_sound() or 0) - stopped
        # hold: the speaker says a holding line instead, then idles
        sent = time.perf_counter()
        await control(panel, "/console/ask", {"text": "What is open banking?", "to": "ada"})
        assert await heard(viewer, sent, 30)
        await asyncio.sleep(0.8)
        held = time.perf_counter()
        await control(panel, "/console/hold")
        await quiet(viewer, 1.5)
        results["hold"] = [m for t, m in viewer.messages if t > held and m.get("type") == "caption"]
        # say: the moderator's words, verbatim, from the panelist named
        said = time.perf_counter()
        await control(panel, "/console/say", {"to": "ravi", "text": "We will take one more question."})
        assert await heard(viewer, said, 30)
        await quiet(viewer, 1.5)
        results["say"] = [m for t, m in viewer.messages if t > said and m.get("type") == "caption"]
        await viewer.close()
        return results

    results = asyncio.run(run())
    assert results["stop"] < 0.2, results["stop"]  # silence within 200 ms, at the viewer
    holding = results["hold"]
    assert holding and holding[0]["panelist"] == "ada" and holding[0]["kind"] == "holding"
    assert " ".join(c["text"] for c in holding) in cards["ada"].holding_lines
    assert [(c["panelist"], c["text"]) for c in results["say"]] == [("ravi", "We will take one more question.")]
    assert {"stop", "hold", "say"} <= {r["event"] for r in audit(panel)}


def test_a_question_to_all_is_answered_one_panelist_after_the_other(panel):
    async def run():
        viewer = StageViewer(f"http://127.0.0.1:{panel.port}", 2)
        await viewer.connect()
        await asyncio.sleep(1.5)
        sent = time.perf_counter()
        await control(panel, "/console/ask", {"text": "Where do banks use AI today?", "to": "all"})
        assert await until(
            lambda: any(
                m.get("panelist") == "ravi" for _, m in viewer.messages if m.get("type") == "caption" and _ > sent
            ),
            60,
        )
        await quiet(viewer, 2.0)
        await viewer.close()
        return [m for t, m in viewer.messages if t > sent and m.get("type") == "caption"]

    said = asyncio.run(run())
    order = [c["panelist"] for c in said]
    assert order == sorted(order, key=["ada", "ravi"].index) and set(order) == {"ada", "ravi"}
    last_ada = max(c["end"] for c in said if c["panelist"] == "ada")
    first_ravi = min(c["start"] for c in said if c["panelist"] == "ravi")
    assert last_ada + BETWEEN_SPEAKERS <= first_ravi + 0.001  # one voice at a time, with rehearsal's pause between


def test_stage_controls_need_the_token_and_good_input(panel):
    for path in ("/console/ask", "/console/stop", "/console/hold", "/console/say", "/console/feed"):
        method = "GET" if path.endswith("feed") else "POST"
        assert panel.request(method, path, {}, token="nope")[0] == 401
    assert panel.request("POST", "/console/ask", {"text": "Hi?", "to": "mei"}, TOKEN)[0] == 400
    assert panel.request("POST", "/console/ask", {"id": "nope"}, TOKEN)[0] == 404
    assert panel.request("POST", "/console/say", {"to": "ada", "text": ""}, TOKEN)[0] == 400


def test_the_console_refuses_an_empty_question_or_line_clearly(panel):
    before = len(audit(panel))
    for text in ("", "   ", " ?? "):
        status, answer = panel.request("POST", "/console/ask", {"text": text, "to": "ada"}, TOKEN)
        assert status == 400 and answer["error"] == "the question is empty: say or type what you want to ask"
        status, answer = panel.request("POST", "/console/say", {"text": text, "to": "ada"}, TOKEN)
        assert status == 400 and answer["error"].startswith("there is nothing to say")
    status, asked = panel.request("POST", "/ask", {"text": "Empty later?"}, client="127.0.0.26")
    assert panel.request("POST", f"/console/questions/{asked['id']}", {"action": "edit", "text": "?"}, TOKEN)[0] == 400
    # nothing was asked or said: the audit log has only the audience's question
    assert [r["event"] for r in audit(panel)[before:]] == ["question"]
    assert panel.request("POST", "/stage/offer", {"sdp": "v=0 garbage", "type": "offer"})[0] == 400


def test_the_moderators_microphone_asks_the_panelist_it_names(panel, joe):
    import aiohttp
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from stage.tools.bench.common import speech48
    from stage.tools.call_client import ScriptedMicrophone

    async def run():
        viewer = StageViewer(f"http://127.0.0.1:{panel.port}", 2)
        await viewer.connect()
        microphone, pc = ScriptedMicrophone(), RTCPeerConnection()
        pc.addTrack(microphone)
        await pc.setLocalDescription(await pc.createOffer())
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"http://127.0.0.1:{panel.port}/console/mic",
                json={"sdp": pc.localDescription.sdp, "type": "offer"},
                headers={"Authorization": f"Bearer {TOKEN}"},
            ) as response:
                assert response.status == 200
                answer = await response.json()
        await pc.setRemoteDescription(RTCSessionDescription(**answer))
        await asyncio.sleep(1.5)
        microphone.say(speech48(joe, "Ravi, how do banks detect fraud?"))
        spoke = time.perf_counter()
        assert await until(
            lambda: any(
                m.get("panelist") == "ravi" for t, m in viewer.messages if t > spoke and m.get("type") == "caption"
            ),
            40,
        )
        await quiet(viewer, 1.5)
        await pc.close()
        await viewer.close()
        return [m for t, m in viewer.messages if m.get("type") == "caption"]

    said = asyncio.run(run())
    moderator = [c for c in said if c["panelist"] == "moderator" and c["final"]]
    assert moderator and "fraud" in moderator[-1]["text"].lower() and moderator[-1]["name"] == "Grace Ho"
    assert any(c["panelist"] == "ravi" for c in said)
    record = [r for r in audit(panel) if r["event"] == "moderator"][-1]
    assert record["to"] == "ravi" and "fraud" in record["text"].lower()
    assert panel.request("POST", "/console/mic", {"sdp": "x", "type": "offer"}, "nope")[0] == 401


def test_a_panelist_whose_model_fails_holds_and_the_panel_goes_on(tmp_path, cards):
    # a model server that is not there: every generated answer fails
    server = PanelServer(tmp_path, "llm:\n  backend: http://127.0.0.1:9/v1\n  stall_seconds: 1\n").start()

    async def run():
        viewer = StageViewer(f"http://127.0.0.1:{server.port}", 2)
        await viewer.connect()
        await asyncio.sleep(1.5)
        said = {}
        for pid, question in (("ravi", "How do banks detect fraud?"), ("ada", "When did FPS launch?")):
            sent = time.perf_counter()
            await control(server, "/console/ask", {"text": question, "to": pid})
            assert await heard(viewer, sent, 30)
            await quiet(viewer, 1.5)
            said[pid] = [m for t, m in viewer.messages if t > sent and m.get("type") == "caption"]
        await viewer.close()
        return said

    try:
        said = asyncio.run(run())
    finally:
        server.stop()
    for pid in ("ravi", "ada"):
        assert said[pid] and all(c["kind"] == "holding" and c["panelist"] == pid for c in said[pid])
        assert " ".join(c["text"] for c in said[pid]) in cards[pid].holding_lines
    flags = [r for r in audit(server) if r["event"] == "guardrail"]
    assert {f["rule"] for f in flags} == {"model-failure"} and len(flags) == 2


def test_ask_console_and_stage_pages_in_chromium(panel, cards):
    from playwright.sync_api import sync_playwright

    flags = [
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--autoplay-policy=no-user-gesture-required",
        "--allow-loopback-in-peer-connection",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--force-webrtc-ip-handling-policy=default",
    ]
    base = f"http://127.0.0.1:{panel.port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=flags)
        stage = browser.new_page(bypass_csp=True)
        stage.goto(f"{base}/stage")
        stage.wait_for_function(
            "window.stageConnected && [...document.querySelectorAll('video')]"
            ".filter(v => v.videoWidth === 512).length === 2",
            timeout=waiting.ms(30),
        )
        assert stage.locator(".seat .label").all_inner_texts() == ["AI avatar", "AI avatar"]
        assert stage.locator(".third b").all_inner_texts() == ["Ada Lim", "Ravi Menon"]
        audience = browser.new_page(bypass_csp=True)
        audience.goto(f"{base}/ask")
        audience.fill("#text", "How do banks detect fraud?")
        audience.click("button[type=submit]")
        audience.wait_for_function("document.querySelector('#status').textContent.includes('with the moderator')")
        console = browser.new_page(bypass_csp=True)
        console.goto(f"{base}/console?token={TOKEN}")
        row = console.locator("#queue li", has_text="How do banks detect fraud?").first
        row.wait_for(timeout=waiting.ms(10))
        row.locator("select.to").select_option("ravi")
        row.locator("button.approve").click()
        console.wait_for_function(
            "[...document.querySelectorAll('#queue li')].some(li => li.textContent.includes("
            "'detect fraud') && li.textContent.includes('approved · to Ravi Menon'))"
        )
        console.locator("#queue li", has_text="approved · to Ravi Menon").first.locator("button.ask-now").click()
        # answered on stage: Ravi's captions, his seat highlighted while he speaks
        stage.wait_for_function(
            "[...document.querySelectorAll('#captions p')].some(p => p.textContent.startsWith('Ravi Menon:'))",
            timeout=waiting.ms(40),
        )
        stage.wait_for_function(
            "document.querySelector('.seat[data-id=ravi]').classList.contains('speaking')", timeout=waiting.ms(10)
        )
        # the console showed what Ravi would say, with its sources, and the decisions
        console.wait_for_function(
            "document.querySelector('#transcript').textContent.includes('Ravi Menon:')", timeout=waiting.ms(10)
        )
        # hold mid-answer: a holding line, from the console's button
        console.evaluate(
            "fetch('/console/ask', {method: 'POST', headers: {'Authorization': 'Bearer "
            + TOKEN
            + "', 'Content-Type': 'application/json'}, body: JSON.stringify({text: 'What is open banking?', to: 'ada'})})"
        )
        stage.wait_for_function(
            "[...document.querySelectorAll('#captions p')].some(p => p.textContent.startsWith('Ada Lim: Open banking'))",
            timeout=waiting.ms(30),
        )
        console.click("#hold")
        holding = [line.split(",")[0] for line in cards["ada"].holding_lines]
        stage.wait_for_function(
            "lines => [...document.querySelectorAll('#captions p')].some(p => lines.some(l => p.textContent.includes(l)))",
            arg=holding,
            timeout=waiting.ms(20),
        )
        # stop: the highlight goes, and nothing more is said
        console.click("#stop")
        stage.wait_for_function("!document.querySelector('.seat.speaking')", timeout=waiting.ms(10))
        before = stage.locator("#captions").inner_text()
        stage.wait_for_timeout(2000)
        assert stage.locator("#captions").inner_text() == before
        browser.close()


def test_a_server_can_translate_the_captions_in_place_of_the_bundled_model(tmp_path, llama_server):
    # any OpenAI-compatible server (here llama.cpp's, with the small model it has) replaces the
    # bundled translator; its time limit is generous, so a busy machine does not change what it says
    show = tmp_path / "show.yaml"
    show.write_text((ROOT / "prompts" / "shows" / "demo.yaml").read_text() + "translation:\n  to: French\n")
    server = PanelServer(
        tmp_path,
        extra=f"translation:\n  backend: {llama_server.url}\n  model: smollm2\n  seconds: 60\n  cache: false\n",
        show=show,
    ).start()

    async def run():
        viewer = StageViewer(f"http://127.0.0.1:{server.port}", 2)
        await viewer.connect()
        await asyncio.sleep(1.0)
        sent = time.perf_counter()
        await control(server, "/console/say", {"to": "ada", "text": "Good evening, everyone."})
        assert await until(lambda: any(m.get("type") == "translation" for _, m in viewer.messages), 90)
        await viewer.close()
        return [m for t, m in viewer.messages if t > sent]

    try:
        panel_info = server.request("GET", "/stage/panel")[1]
        messages = asyncio.run(run())
    finally:
        server.stop()
    assert panel_info["translation"] == "French"
    caption = next(m for m in messages if m["type"] == "caption")
    line = next(m for m in messages if m["type"] == "translation")
    assert line["of"] == caption["seq"] and line["text"] and line["language"] == "French"


def test_no_second_caption_line_without_a_translation_model(panel):
    assert panel.request("GET", "/stage/panel")[1]["translation"] is None
    status, feed = panel.request("GET", "/console/feed?after=0", token=TOKEN)
    assert status == 200 and not [m for m in feed if m["type"] == "translation"]


def test_an_answer_keeps_to_its_personas_time_limit(cards, config, runtime):
    from avatar.rigs import load_rig
    from stage.core.events import AnswerEnd, SpeechPlaced
    from stage.session.call import CallSession
    from stage.think.thinker import thinker_for
    from voices.catalog import VoiceCatalog

    card = cards["ada"]
    session = CallSession(
        "ada", thinker_for(card, config), VoiceCatalog().engine(card.voice), load_rig("stylized", 256), runtime=runtime
    )
    session.time_limit = 3.0  # Ada's approved answer on open banking runs about 12 s

    async def run():
        await session.ask("What is open banking?")
        await session.close()

    asyncio.run(run())
    ends = [e for _, e in session.events if isinstance(e, AnswerEnd)]
    assert ends and ends[-1].outcome == "cut at the time limit"
    spoken = [e for _, e in session.events if isinstance(e, SpeechPlaced)]
    assert 3.0 <= spoken[-1].end - spoken[0].start < 8.0  # the clause that crossed the limit ends the answer
