"""Captions in Chinese, with the bundled model (Qwen2.5 0.5B here, for its
speed; the stage's default is the 1.5B, measured by `fireside bench
translate`): the script and the glossary whatever the model writes, lines
that come late or not at all, a question asked in Chinese, rehearsal's
captions per language, the call's chosen language and the command."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pysubs2
import pytest

from stage.core.clock import Clock
from stage.core.config import TranslationSettings
from stage.core.paths import PROMPTS, SHOWS
from stage.core.wire import CaptionMessage, TranslationMessage
from stage.session.translating import Translations
from stage.think.translation import (
    Glossary,
    TranslationError,
    Translator,
    in_script,
    is_chinese,
    language,
    simplified,
    traditional,
)
from stage.timeline.cues import lines as subtitle_lines
from tests import waiting
from tests.servers import ROOT, free_port
from tests.test_console import TOKEN, PanelServer, control

SMALL = "qwen2.5-0.5b"
SETTINGS = TranslationSettings(model=SMALL, threads=2, cache=False)  # each test translates
GLOSSARY = Glossary.load(PROMPTS / "glossaries" / "hong-kong.yaml")
CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def hong_kong() -> Translator:
    return Translator(SETTINGS, "zh-Hant-HK", GLOSSARY)


def test_the_script_is_the_languages_whatever_the_model_writes():
    assert in_script("这个银行的客户说", language("zh-Hant-HK")) == "這個銀行的客戶說"
    assert in_script("這個銀行的客戶說", language("zh-Hans")) == "这个银行的客户说"
    assert simplified("這個銀行，说") == ["说"] and traditional("这个银行，說") == ["說"]
    assert simplified("已批准的來源") == []  # 准 is Traditional too, in 批准 (not in 標准)
    # Hong Kong quotes with corner brackets; the mainland keeps its quotation marks
    assert in_script('不会要求“安全账户”或"密码"', language("zh-Hant-HK")) == "不會要求「安全賬戶」或「密碼」"
    assert in_script("“安全账户”", language("zh-Hans")) == "“安全账户”"
    assert language("French").name == "French" and language("zh-hans").tag == "zh-Hans"
    assert is_chinese("轉數快是甚麼時候推出的？") and not is_chinese("What is 轉數快?")
    # a subtitle's Chinese is cut between characters, its numbers and acronyms whole
    said = "FPS於2018年9月推出，讓市民和商戶可以全天候即時轉賬。"
    assert "".join(subtitle_lines(said)) == said and all(len(x) <= 16 for x in subtitle_lines(said)), said


def test_the_glossary_and_the_names_hold_and_no_english_is_left(hong_kong):
    for text, terms in (
        ("Ada, when did the HKMA launch FPS?", ("香港金融管理局", "轉數快")),
        ("Is the e-HKD tested in a sandbox?", ("數碼港元", "沙盒")),
    ):
        done = hong_kong.translate_now(text)
        assert all(term in done.text for term in terms) and not done.missing, done
        assert not done.english_left and not simplified(done.text), done  # written as Hong Kong writes
    assert hong_kong.translate_now("Ada, over to you.").text.startswith("Ada")  # a name, not 阿達
    # a name addressed is kept apart, where the model would make it a name of its own (李明)
    addressed = hong_kong.translate_now("Mei, would an e-HKD add anything that FPS does not already offer?")
    assert addressed.text.startswith("Mei，") and "數碼港元" in addressed.text, addressed
    simple = Translator(SETTINGS, "zh-Hans", Glossary({"Mei": "Mei"})).translate_now("Mei, thank you very much.")
    assert simple.text.startswith("Mei") and CHINESE.search(simple.text) and not traditional(simple.text), simple


def test_a_glossary_that_cannot_be_read_is_named(tmp_path):
    broken = tmp_path / "glossary.yaml"
    broken.write_text("- a list\n- not terms\n")
    with pytest.raises(TranslationError, match="glossary is a mapping"):
        Glossary.load(broken)
    broken.write_text("HKMA: [not, a, word]\n")
    with pytest.raises(TranslationError, match="term: translation"):
        Glossary.load(broken)
    with pytest.raises(TranslationError, match="no such glossary"):
        Glossary.load(tmp_path / "missing.yaml")


def test_a_show_whose_glossary_is_missing_fails_at_load(tmp_path, cards, catalog):
    from stage.panel.show import ShowError, load_show

    show = tmp_path / "show.yaml"
    text = (SHOWS / "hong-kong.yaml").read_text().replace("../glossaries/hong-kong.yaml", "nowhere.yaml")
    show.write_text(text)
    with pytest.raises(ShowError, match=r"show.yaml:\d+: translation.glossary: .*nowhere.yaml: no such glossary"):
        load_show(show, cards, catalog)


def caption(seq: int, text: str) -> CaptionMessage:
    return CaptionMessage(speaker="ada", panelist="ada", text=text, answer=1, seq=seq)


def test_a_line_waits_for_its_caption_and_a_late_one_is_dropped(hong_kong):
    text = "Fraud models score every card payment in real time."

    async def run():
        published: list = []
        lines = Translations(hong_kong, published.append, Clock(), seconds=60)
        lines.prepare(text)  # thought: translated while it is voiced
        await lines._waiting[0].done  # ready before its words are heard ...
        shown_before = list(published)
        lines.add(caption(7, text))  # ... and shown only after its caption
        await waiting.until(lambda: published, 10)
        late: list = []
        hurried = Translations(hong_kong, late.append, Clock(), seconds=0.01)
        hurried.add(caption(8, "Open banking lets customers share their data with other firms."))
        await waiting.until(lambda: hurried.dropped, 30)
        await asyncio.sleep(0)
        for each in (lines, hurried):
            each.close()
        return shown_before, published, late, hurried.dropped

    shown_before, published, late, dropped = asyncio.run(run())
    assert shown_before == []
    [line] = published
    assert isinstance(line, TranslationMessage) and line.of == 7 and line.answer == 1 and CHINESE.search(line.text)
    assert late == [] and dropped == 1  # the English stood alone


def test_a_clause_heard_in_pieces_has_one_line_after_its_last(hong_kong):
    clause = "Cross-border payments are still slow and expensive because they pass through correspondent banks."

    async def run():
        published: list = []
        lines = Translations(hong_kong, published.append, Clock(), seconds=60)
        lines.prepare(clause)
        lines.add(caption(4, "Cross-border payments are still slow and expensive"))
        await lines._waiting[0].done
        held_back = list(published)  # ready, but half its words are still to be heard
        lines.add(caption(5, "because they pass through correspondent banks."))
        await waiting.until(lambda: published, 10)
        lines.close()
        return held_back, published

    held_back, published = asyncio.run(run())
    assert held_back == [] and [(m.since, m.of) for m in published] == [(4, 5)]


def test_what_may_be_said_is_translated_ahead_and_shown_from_the_cache(tmp_path):
    text = "The Faster Payment System runs around the clock, every day of the year."
    kept = Translator(TranslationSettings(model=SMALL, threads=2), "zh-Hant-HK", GLOSSARY)

    async def run():
        published: list = []
        lines = Translations(kept, published.append, Clock(), seconds=60)
        lines.warm([text])
        lines.start()
        await waiting.until(lambda: lines.warmed == 1, 60)
        # the model gone: the line still comes, from what was translated ahead
        kept.model = Translator(TranslationSettings(backend=f"http://127.0.0.1:{free_port()}/v1"), "en").model
        lines.add(caption(9, text))
        await waiting.until(lambda: published or lines.dropped, 30)
        lines.close()
        return published

    [line] = asyncio.run(run())
    assert "轉數快" in line.text and line.of == 9


def test_a_failing_model_leaves_the_caption_alone():
    dead = TranslationSettings(backend=f"http://127.0.0.1:{free_port()}/v1", model="any", seconds=5)
    translator = Translator(dead, "zh-Hant-HK")
    with pytest.raises(TranslationError):
        translator.translate_now("Good evening.")

    async def run():
        published: list = []
        lines = Translations(translator, published.append, Clock(), seconds=30)
        lines.add(caption(3, "Good evening."))
        await waiting.until(lambda: lines.dropped, 30)
        lines.close()
        return published, lines.dropped

    assert asyncio.run(run()) == ([], 1)


def test_the_translate_command_reads_lines_and_writes_one_for_each():
    fireside = [sys.executable, "-m", "stage.tools.cli", "translate", "--model", SMALL]
    done = subprocess.run(
        [*fireside, "--to", "zh-Hans", "--glossary", str(PROMPTS / "glossaries" / "hong-kong.yaml")],
        input="Good evening.\n\nThe HKMA runs FPS.\n",
        capture_output=True,
        text=True,
        timeout=waiting.seconds(300),
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")[:3]
    assert lines[1] == "" and all(CHINESE.search(line) for line in (lines[0], lines[2])), done.stdout
    assert "香港金融管理局" in lines[2] and "转数快" in lines[2], lines  # the glossary's terms, in the chosen script
    assert not traditional(lines[0] + lines[2]), lines
    garbled = subprocess.run(
        [*fireside, "--to", "zh-Hans"], input=b"\xff\xfe bad\n", capture_output=True, timeout=120, cwd=ROOT
    )
    assert garbled.returncode == 2 and b"not UTF-8" in garbled.stderr


def test_rehearsal_writes_captions_for_each_language(tmp_path):
    config = tmp_path / "fireside.yaml"
    config.write_text(f"translation:\n  model: {SMALL}\n  threads: 2\n")
    done = subprocess.run(
        [sys.executable, "-m", "stage.tools.cli", "--config", str(config), "rehearse"]
        + [str(SHOWS / "hong-kong.yaml"), "--out", str(tmp_path / "out"), "--no-video"],
        capture_output=True,
        text=True,
        timeout=waiting.seconds(900),
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    english = pysubs2.load(str(tmp_path / "out" / "captions.srt"))
    chinese = pysubs2.load(str(tmp_path / "out" / "captions.zh-Hant-HK.srt"))
    assert (tmp_path / "out" / "captions.zh-Hant-HK.vtt").exists()
    assert len(chinese) >= 4 and all(CHINESE.search(cue.plaintext) for cue in chinese)
    for cue in chinese:
        assert all(len(line) <= 16 for line in cue.plaintext.split("\n")), cue.plaintext  # subtitle lines
        assert not simplified(cue.plaintext), cue.plaintext
        # timed with the English: while the words it translates are heard
        assert any(e.start - 100 <= cue.start < e.end + 100 for e in english), cue
    names = [cue.plaintext.split("：")[0] for cue in chinese if "：" in cue.plaintext]
    assert "Grace Ho" in names and "Ada Lim" in names, names  # a turn's first cue names who speaks


def test_the_video_can_burn_in_both_lines():
    import numpy as np

    from avatar.composite import SECOND, StageCompositor

    compositor = StageCompositor("Payments in Hong Kong", [("Ada", "Payments"), ("Mei", "Money")], 1280, 720)
    both = compositor._caption("Ada", "Ada: FPS launched in 2018.", "Ada：轉數快於2018年推出。")
    english = compositor._caption("Ada", "Ada: FPS launched in 2018.")
    assert both.shape[0] > english.shape[0]
    lower = both[english.shape[0] - 8 :]
    assert (np.abs(lower.astype(int) - SECOND).sum(axis=2) < 60).sum() > 200  # the second line, in its colour


def test_a_question_asked_in_chinese_reaches_the_panel_in_english(tmp_path):
    """The audience asks in Chinese: the console shows both, the panel is asked in
    English, and the stage shows the question and the answer in both languages,
    each Chinese line after its English one, and under it in Chromium."""
    from playwright.sync_api import sync_playwright

    from stage.tools.call_client import StageViewer
    from tests.test_evening import CHROMIUM, SHOTS, WEBRTC

    server = PanelServer(
        tmp_path,
        extra=f"translation:\n  model: {SMALL}\n  threads: 2\n  seconds: 30\n  cache: false\n",
        show=SHOWS / "hong-kong.yaml",
    ).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        # translated before it is queued: the first waits for the question translator to load
        status, posted = server.request(
            "POST", "/ask", {"text": "轉數快是甚麼時候推出的？", "name": "陳小姐"}, timeout=120
        )
        assert status == 201
        queued = next(q for q in server.request("GET", "/console/queue", token=TOKEN)[1]["questions"])
        assert queued["original"] == "轉數快是甚麼時候推出的？" and not is_chinese(queued["text"]), queued
        assert re.search(r"FPS|Faster Payment", queued["text"]), queued

        async def run():
            viewer = StageViewer(base, 2)
            await viewer.connect()
            await asyncio.sleep(1.0)
            await control(server, "/console/ask", {"id": posted["id"], "to": "ada"})
            ended = lambda: any(m.get("type") == "answer_end" for _, m in viewer.messages)  # noqa: E731
            assert await waiting.until(ended, 120), viewer.messages
            # the last caption's clause has its line (or was dropped: the test says which below)
            last = max(m["seq"] for _, m in viewer.messages if m.get("type") == "caption")
            await waiting.until(
                lambda: any(m.get("of") == last for _, m in viewer.messages) or translated()["dropped"], 60
            )
            await viewer.close()
            return viewer.messages

        def translated():
            return server.request("GET", "/stage/panel")[1]["translated"]

        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM + WEBRTC)
            stage = chromium.new_page(viewport={"width": 1280, "height": 720})
            stage.goto(f"{base}/stage")
            stage.wait_for_function("document.querySelectorAll('.seat').length == 2", timeout=waiting.ms(30))
            with ThreadPoolExecutor(1) as thread:  # Playwright's own loop runs in this one
                messages = thread.submit(asyncio.run, run()).result()
            stage.wait_for_function(
                "[...document.querySelectorAll('#captions p.translation')].length >= 2", timeout=waiting.ms(60)
            )
            SHOTS.mkdir(parents=True, exist_ok=True)
            stage.screenshot(path=str(SHOTS / "stage-chinese-captions.png"))
            # each Chinese line right under the English one it translates
            pairs = stage.evaluate(
                "[...document.querySelectorAll('#captions p.translation')].map(p => "
                "[p.previousElementSibling.classList.contains('translation'), p.textContent])"
            )
            chromium.close()
    finally:
        server.stop()
    asked = next(m for _, m in messages if m.get("type") == "asked")
    assert asked["original"] == "轉數快是甚麼時候推出的？" and asked["question"] == queued["text"]
    said = {m["seq"]: (t, m) for t, m in messages if m.get("type") == "caption"}
    assert "2018" in " ".join(m["text"] for _, m in said.values())  # answered, in English
    translated = [(t, m) for t, m in messages if m.get("type") == "translation"]
    assert translated and all(m["of"] in said and m["since"] <= m["of"] for _, m in translated)
    assert max(m["of"] for _, m in translated) == max(said)  # the answer's last words have their line
    assert all(t >= said[m["of"]][0] for t, m in translated)  # never before its English
    assert all(CHINESE.search(m["text"]) and not simplified(m["text"]) for _, m in translated)
    assert pairs and not any(after_line for after_line, _ in pairs), pairs


def test_a_call_has_its_captions_in_the_language_the_caller_chose(tmp_path, joe):
    """The call page in Chromium: the caller picks Simplified Chinese from the
    languages the server offers, asks aloud, and reads the answer's Chinese
    line under its English words."""
    from playwright.sync_api import sync_playwright

    from stage.tools.call_client import CallClient
    from tests.test_call import chromium_hearing, spoken
    from tests.test_evening import SHOTS

    config = tmp_path / "fireside.yaml"
    config.write_text(
        f"call:\n  ice_addresses: [127.0.0.1]\ntranslation:\n  model: {SMALL}\n  threads: 2\n  cache: false\n"
    )
    port = free_port()
    log = open(tmp_path / "server.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "stage.tools.cli", "--config", str(config), "serve", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert waiting.wait_until(lambda: _answers(f"{base}/status") or process.poll() is not None, 120)
        assert process.poll() is None, (tmp_path / "server.log").read_text()

        async def refused():
            client = CallClient(base, "ada", captions="Klingon")
            with pytest.raises(RuntimeError, match="400"):
                await client.connect()
            await client.close()

        asyncio.run(refused())  # a language the server does not offer
        with sync_playwright() as p:
            # through Chromium's audio Whisper may hear "FPS" as "FBS" (then a holding line,
            # without sources): a question of common words
            browser = chromium_hearing(p, spoken(joe, "How do banks detect fraud?", tmp_path / "question.wav"))
            page = browser.new_page(bypass_csp=True)  # wait_for_function evaluates with eval
            page.goto(base + "/")
            page.wait_for_selector("#language option[value=zh-Hans]", state="attached")
            offered = page.locator("#language option").all_inner_texts()
            page.select_option("#persona", "ravi")
            page.select_option("#language", "zh-Hans")
            page.click("#start")
            page.wait_for_selector("#captions li.avatar .translation", timeout=waiting.ms(120))
            page.wait_for_selector("#captions li.avatar .sources", timeout=waiting.ms(60))
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "call-chinese-captions.png"))
            english = page.locator("#captions li.avatar .words").first.inner_text()
            line = page.locator("#captions li.avatar .translation").first
            chinese, lang = line.inner_text(), line.get_attribute("lang")
            page.click("#hangup")
            browser.close()
    finally:
        process.terminate()
        process.wait(20)
    assert offered[0] == "English" and len(offered) == 3 and all(CHINESE.search(o) for o in offered[1:]), offered
    assert len(english.split()) > 5 and not is_chinese(english), (
        english
    )  # the answer (with its sources), in English ...
    assert lang == "zh-Hans" and CHINESE.search(chinese) and not traditional(chinese), chinese  # ... and under it


def _answers(url: str) -> bool:
    import urllib.request

    try:
        urllib.request.urlopen(url, timeout=1)
        return True
    except OSError:
        time.sleep(0.3)
        return False
