"""Rehearsal: a run-of-show rendered to video, captions and a report, with
the real voices, the embedded model and the real encoder."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import av
import numpy as np
import pytest
from markupsafe import escape

from stage.offline.rehearsal import rehearse
from stage.panel.show import ShowError, load_show
from stage.tools.cli import main as fireside

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "prompts" / "shows" / "demo.yaml"


def cue_seconds(stamp: str) -> float:
    h, m, s = stamp.replace(",", ".").split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def read_cues(path: Path) -> list[tuple[float, float, str]]:
    """Each cue's start, end and text (its lines joined by newlines)."""
    cues = []
    for line_no, line in enumerate(lines := path.read_text(encoding="utf-8").splitlines()):
        if " --> " in line:
            start, end = line.split(" --> ")
            text = []
            for following in lines[line_no + 1 :]:
                if not following.strip():
                    break
                text.append(following)
            cues.append((cue_seconds(start), cue_seconds(end.split()[0]), "\n".join(text)))
    return cues


def decode(path: Path) -> tuple[float, list[np.ndarray], np.ndarray]:
    """(duration, a frame a second, the audio at 48 kHz mono float)."""
    with av.open(str(path)) as container:
        duration = float(container.duration) / av.time_base
        frames = [f.to_ndarray(format="rgb24") for i, f in enumerate(container.decode(video=0)) if i % 25 == 0]
    with av.open(str(path)) as container:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    return duration, frames, audio


@pytest.fixture(scope="module")
def demo(cards, catalog, config, tmp_path_factory):
    show = load_show(DEMO, cards, catalog)
    return rehearse(show, cards, config, tmp_path_factory.mktemp("demo"))


def test_the_demo_show_renders_video_captions_and_report(demo):
    files = {p.name for p in demo.files}
    assert files == {"rehearsal.mp4", "captions.srt", "captions.vtt", "report.json", "report.html"}
    duration, frames, audio = decode(demo.folder / "rehearsal.mp4")
    segments = demo.report["segments"]
    total = sum(s["duration"] for s in segments)
    assert abs(duration - total) <= 0.2
    assert frames[0].shape == (720, 1280, 3)
    # every turn of the show is in the report, with its speaking time
    kinds = [t["kind"] for t in demo.report["turns"]]
    assert kinds.count("answer") == 5 and kinds.count("question") == 4 and "line" in kinds
    assert all(t["speaking_seconds"] > 0.3 for t in demo.report["turns"])
    answers = [t for t in demo.report["turns"] if t["kind"] == "answer"]
    assert all(t["first_audio_ms"] > 0 for t in answers)
    assert [t["name"] for t in answers] == ["Ada Lim", "Ravi Menon", "Ada Lim", "Ada Lim", "Ravi Menon"]
    summary = demo.report["summary"]
    assert summary["planned_seconds"] == 101.0 and abs(summary["duration_seconds"] - total) < 0.01
    html = (demo.folder / "report.html").read_text(encoding="utf-8")
    assert "AI and the future of banking" in html and "Ravi Menon" in html
    # the question about the sandbox report is answered from the PDF, cited by title and page,
    # sentence by sentence
    report = answers[2]
    assert any(s.startswith("knowledge/ada/genai-sandbox-report.pdf#page=") for s in report["sources"])
    assert report["cited"] and all(c["titles"] for c in report["cited"])
    title = report["cited"][0]["titles"][0]
    assert title.startswith("Findings of Harbourside Bank") and ", page " in title and escape(title) in html
    assert "knowledge/ada/genai-sandbox-report.pdf" not in html


def test_captions_are_timed_to_the_speech(demo):
    _, _, audio = decode(demo.folder / "rehearsal.mp4")
    srt, vtt = read_cues(demo.folder / "captions.srt"), read_cues(demo.folder / "captions.vtt")
    assert srt and [c[:2] for c in srt] == [c[:2] for c in vtt]
    turns = demo.report["turns"]
    for turn in turns:
        # each cue lies within its speaker's turn (held a second at least), and the turn's first names the speaker
        within = [c for c in srt if turn["start"] - 0.01 <= c[0] < turn["end"]]
        assert within and within[0][2].startswith(turn["name"] + ":"), (turn["name"], within[:1])
        assert all(end <= turn["end"] + 1.0 for _, end, _ in within)

    def loudness(a: float, b: float) -> float:
        part = audio[int(a * 48000) : int(b * 48000)]
        return float(np.sqrt(np.mean(part**2))) if len(part) else 0.0

    # sound under the captions, silence where no one speaks
    assert all(loudness(s, e) > 0.01 for s, e, _ in srt if e - s > 0.3)
    gaps = [(a["end"] + 0.05, b["start"] - 0.05) for a, b in zip(turns, turns[1:]) if b["start"] - a["end"] > 0.3]
    assert gaps and all(loudness(a, b) < 0.003 for a, b in gaps)


def test_captions_read_as_subtitles(demo):
    """Two lines of 42 characters at most, broken where a phrase ends when one is
    near, each cue a second on screen at least (where the next leaves the room)."""
    srt = read_cues(demo.folder / "captions.srt")
    lines = [line for _, _, text in srt for line in text.split("\n")]
    assert all(len(text.split("\n")) <= 2 for _, _, text in srt)
    assert all(len(line) <= 42 for line in lines), [line for line in lines if len(line) > 42]
    dangling = [line for line in lines if line.split()[-1].lower() in ("and", "or", "but", "to", "of", "the", "a")]
    assert len(dangling) <= len(lines) // 10, dangling  # a line rarely ends on a word that opens the next
    for (start, end, _), following in zip(srt, srt[1:] + [(float("inf"), 0, "")]):
        assert end - start >= 0.999 or following[0] - end < 0.01, (start, end)
    assert sum(len(text.split("\n")) == 2 for _, _, text in srt) >= len(srt) // 2  # mostly two lines, not one cut short


def test_the_speaker_is_highlighted(demo):
    from avatar.composite import HIGHLIGHT, StageCompositor

    _, frames, _ = decode(demo.folder / "rehearsal.mp4")
    compositor = StageCompositor("", [("a", ""), ("b", "")])
    turns = demo.report["turns"]

    def border(frame, seat) -> bool:
        s = compositor.seats[seat]
        strip = frame[s.y - 5 : s.y - 1, s.x + 20 : s.x + s.size - 20].astype(int)
        return bool(np.abs(strip - HIGHLIGHT).sum(2).mean() < 40)

    checked = 0
    for second, frame in enumerate(frames):
        speaker = next((t["speaker"] for t in turns if t["start"] + 0.1 < second < t["end"] - 0.1), None)
        # a second within 0.1 s of a turn's edge is not judged either way
        near = {t["speaker"] for t in turns if t["start"] - 0.1 < second < t["end"] + 0.1}
        if speaker in ("ada", "ravi"):
            seat = ["ada", "ravi"].index(speaker)
            assert border(frame, seat) and not border(frame, 1 - seat)
            checked += 1
        elif not near & {"ada", "ravi"}:
            assert not border(frame, 0) and not border(frame, 1)
    assert checked >= 10


def test_the_same_show_gives_the_same_words_at_the_same_times(demo, cards, catalog, config, tmp_path):
    again = rehearse(load_show(DEMO, cards, catalog), cards, config, tmp_path, video=False)
    words = [(t["speaker"], t["text"], t["start"], t["end"]) for t in demo.report["turns"]]
    assert words == [(t["speaker"], t["text"], t["start"], t["end"]) for t in again.report["turns"]]
    assert (demo.folder / "captions.srt").read_text() == (tmp_path / "captions.srt").read_text()


def test_three_panelists_a_recorded_moderator_and_a_scripted_answer(cards, catalog, config, joe, tmp_path):
    # the moderator's recorded question, as a producer would drop in a WAV
    pcm = np.concatenate([p.audio.pcm for p in joe.synthesize("When did FPS launch?")])
    with wave.open(str(tmp_path / "question.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(joe.sample_rate)
        w.writeframes(pcm.astype(np.int16).tobytes())
    show = tmp_path / "three.yaml"
    show.write_text(
        """
title: Three on stage
moderator: {name: Grace Ho, voice: espeak-en}
panelists: [ada, ravi, mei]
segments:
  - wav: question.wav
    to: all
    slot: 40s
  - ask: What is model risk?
    to: ravi
    answer: Model risk is the risk of losses when a model is wrong or used wrongly.
    slot: 8
  - line: Thank you, Grace.
    by: mei
    slot: 0:03
""",
        encoding="utf-8",
    )
    result = rehearse(load_show(show, cards, catalog), cards, config, tmp_path / "out")
    turns = result.report["turns"]
    assert "launch" in turns[0]["text"].lower() and turns[0]["kind"] == "question"
    assert [t["speaker"] for t in turns if t["kind"] == "answer"] == ["ada", "ravi", "mei", "ravi"]
    assert turns[-2]["text"].startswith("Model risk is") and turns[-2]["outcome"] == "scripted"
    assert turns[-1] == {**turns[-1], "speaker": "mei", "kind": "line", "text": "Thank you, Grace."}
    # the 3 s line overruns nothing; the question to all overruns or not, and says which
    overruns = {s["index"]: s["overrun"] for s in result.report["segments"]}
    assert overruns[2] < 0 and len(overruns) == 3
    duration, frames, _ = decode(tmp_path / "out" / "rehearsal.mp4")
    assert abs(duration - sum(s["duration"] for s in result.report["segments"])) <= 0.2
    from avatar.composite import StageCompositor

    seats = StageCompositor("", [("", "")] * 3).seats
    assert len(seats) == 3 and seats[2].x + seats[2].size <= 1280
    # three faces: skin in the middle of each seat
    middle = frames[len(frames) // 2]
    for s in seats:
        r, g, b = middle[s.y + s.size // 2, s.x + s.size // 2].astype(int)
        assert r > g > b and r > 150


BROKEN = [
    ("title: x\npanelists: [ada\nsegments: []\n", ":3", "not valid YAML"),
    ("title: x\npanelists: [ada]\nsegments:\n  - say: Hello\n    slot: soon\n", ":5", "not a length of time"),
    ("title: x\npanelists: [ada]\nsegments:\n  - say: Hello\n", ":4", "slot"),
    (
        "title: x\npanelists: [ada]\nsegments:\n  - say: Hi\n    slot: 3\n  - ask: Why?\n    slot: 5\n",
        ":6",
        "needs 'to'",
    ),
    (
        'title: x\npanelists: [ada]\nsegments:\n  - ask: "  ?? "\n    to: ada\n    slot: 3\n',
        ":4",
        "the question is empty",
    ),
    ("title: x\npanelists: [ada, nobody]\nsegments:\n  - say: Hi\n    slot: 3\n", ":2", "unknown persona 'nobody'"),
    ("title: x\npanelists: [ada]\nsegments:\n  - line: Hi\n    by: ravi\n    slot: 3\n", ":5", "not on this panel"),
    (
        "title: x\nmoderator: {voice: joe}\npanelists: [ravi]\nsegments:\n  - say: Hi\n    slot: 3\n",
        ":2",
        "sound different",
    ),
    ("title: x\npanelists: [ada]\nsegments:\n  - wav: missing.wav\n    slot: 3\n", ":4", "does not exist"),
    (
        "title: x\npanelists: [ada]\nsegments:\n  - say: Hi\n    line: Hello\n    by: ada\n    slot: 3\n",
        ":4",
        "not say and line",
    ),
]


@pytest.mark.parametrize("text, line, reason", BROKEN)
def test_a_broken_show_fails_with_its_line_and_reason(text, line, reason, cards, catalog, tmp_path):
    path = tmp_path / "show.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ShowError) as err:
        load_show(path, cards, catalog)
    assert f"{path}{line}" in str(err.value) and reason in str(err.value)


def test_the_command_dry_run_and_errors(tmp_path, capsys):
    def said() -> tuple[str, str]:
        out, err = capsys.readouterr()
        return " ".join(out.split()), " ".join(err.split())  # as read, not as rich wrapped it

    assert fireside(["rehearse", str(DEMO), "--dry-run"]) == 0
    assert "the show file is valid" in said()[0]
    broken = tmp_path / "broken.yaml"
    broken.write_bytes(b"title: \xff\xfe\n")
    assert fireside(["rehearse", str(broken), "--dry-run"]) == 2
    assert "not UTF-8" in said()[1]
    assert fireside(["rehearse", str(tmp_path / "none.yaml"), "--dry-run"]) == 2
    assert "no such show file" in said()[1]
    (tmp_path / "file").write_text("")
    assert fireside(["rehearse", str(DEMO), "--out", str(tmp_path / "file")]) == 2
    assert "not a folder" in said()[1]
    assert not list(tmp_path.glob("*.mp4"))


def test_the_report_only_run_writes_captions_and_report(cards, catalog, config, tmp_path):
    show = tmp_path / "short.yaml"
    show.write_text(
        "title: Short\npanelists: [ravi]\nsegments:\n  - ask: What is an authorised push payment scam?\n    to: ravi\n"
        "    slot: 2s\n",
        encoding="utf-8",
    )
    result = rehearse(load_show(show, cards, catalog), cards, config, tmp_path / "out", video=False)
    assert {p.name for p in result.files} == {"captions.srt", "captions.vtt", "report.json", "report.html"}
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    answer = data["turns"][1]
    # an approved answer, with its source, runs past a 2 s slot: the report says so
    assert answer["outcome"] == "approved" and answer["sources"]
    assert data["segments"][0]["overrun"] > 0 and data["summary"]["segments_over_slot"] == [0]


def test_answers_from_an_openai_compatible_server(cards, catalog, config, llama_server, tmp_path):
    show = tmp_path / "server.yaml"
    show.write_text(
        "title: Served\npanelists: [ravi]\nsegments:\n  - ask: How do banks detect fraud?\n"
        "    to: ravi\n    slot: 20s\n",
        encoding="utf-8",
    )
    # a server's first request evaluates the persona's whole prompt: slow on 2 busy cores
    patient = config.model_copy(update={"llm": config.llm.model_copy(update={"stall_seconds": 60.0})})
    result = rehearse(
        load_show(show, cards, catalog), cards, patient, tmp_path / "out", backend=llama_server.url, video=False
    )
    answer = result.report["turns"][1]
    assert answer["kind"] == "answer" and answer["text"]
    assert not [g for g in answer["guardrails"] if g["rule"] == "model-failure"]
    assert "knowledge/ravi/scams.md#how-banks-detect-fraud" in answer["sources"]
