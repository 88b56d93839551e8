"""The panel's record: the question queue, its audit log, restarts and limits."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from stage.panel.audit import AuditLog
from stage.panel.queue import MAX_QUESTION, PanelError, QuestionQueue, RateLimit, TooMany


def queue_at(tmp_path) -> QuestionQueue:
    return QuestionQueue(AuditLog(tmp_path / "audit.jsonl"), ["ada", "ravi"])


def test_a_question_goes_from_the_audience_to_an_answer(tmp_path):
    queue = queue_at(tmp_path)
    q = queue.submit("  What is   open banking? ", name="Mina", client="10.0.0.7")
    assert (q.text, q.name, q.status, q.to) == ("What is open banking?", "Mina", "pending", None)
    queue.edit(q.id, "What does open banking mean for small firms?")
    queue.approve(q.id, to="ada")
    queue.mark(q.id, "asked")
    queue.mark(q.id, "answered", outcome="answered", sources=["knowledge/ada/open-banking.md#x"])
    q = queue.get(q.id)
    assert (q.text, q.edited, q.status, q.to) == (
        "What does open banking mean for small firms?",
        True,
        "answered",
        "ada",
    )
    events = [r["event"] for r in queue.log.records()]
    assert events == ["question", "edited", "status", "status", "status"]
    assert queue.log.records()[-1]["sources"] == ["knowledge/ada/open-banking.md#x"]
    assert all(r["at"].endswith("+00:00") for r in queue.log.records())


def test_the_queue_is_what_the_log_says_after_a_restart(tmp_path):
    queue = queue_at(tmp_path)
    a, b, c = (queue.submit(t) for t in ("First?", "Second?", "Third?"))
    queue.move(c.id, 0)
    queue.reject(b.id)
    queue.assign(a.id, "all")
    before = queue.listing()
    again = queue_at(tmp_path)  # a new server process reads the same log
    assert again.listing() == before
    assert [q.text for q in again.open()] == ["Third?", "First?"]
    assert again.get(a.id).to == "all" and again.get(b.id).status == "rejected"


def test_a_torn_last_line_loses_nothing_before_it(tmp_path):
    queue = queue_at(tmp_path)
    queue.submit("Kept?")
    with open(tmp_path / "audit.jsonl", "a", encoding="utf-8") as log:
        log.write('{"event": "question", "id": "x", "te')  # the power went mid-write
    again = queue_at(tmp_path)
    assert [q.text for q in again.open()] == ["Kept?"]
    again.submit("After?")  # and the log goes on
    assert [q.text for q in queue_at(tmp_path).open()] == ["Kept?", "After?"]


def test_reordering(tmp_path):
    queue = queue_at(tmp_path)
    ids = [queue.submit(f"Q{i}?").id for i in range(4)]
    queue.move(ids[3], 1)
    queue.move(ids[0], 99)
    assert [q.text for q in queue.open()] == ["Q3?", "Q1?", "Q2?", "Q0?"]


@pytest.mark.parametrize(
    "text, name, reason",
    [
        ("", "", "empty"),
        ("   ", "", "empty"),
        ("  ?? ", "", "the question is empty: say or type"),
        ("x" * (MAX_QUESTION + 1), "", "at most"),
        ("Fine?", "n" * 61, "name"),
    ],
)
def test_bad_questions_are_refused_and_not_logged(tmp_path, text, name, reason):
    queue = queue_at(tmp_path)
    with pytest.raises(PanelError, match=reason):
        queue.submit(text, name)
    assert queue.log.records() == []


def test_bad_moderator_actions_are_refused(tmp_path):
    queue = queue_at(tmp_path)
    q = queue.submit("Why?")
    with pytest.raises(PanelError, match="not on the panel"):
        queue.approve(q.id, to="mei")
    with pytest.raises(PanelError, match="no question"):
        queue.reject("nope")
    with pytest.raises(PanelError, match="1 to"):
        queue.edit(q.id, " ")
    with pytest.raises(PanelError, match="a word among them"):
        queue.edit(q.id, "?!")
    assert [r["event"] for r in queue.log.records()] == ["question"]


def test_non_utf8_and_foreign_records_in_the_log_are_survived(tmp_path):
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b'\xff\xfe not json\n[1, 2]\n{"event": "stop", "panelist": "ada"}\n')
    queue = QuestionQueue(AuditLog(path), ["ada"])
    assert queue.open() == []
    queue.submit("Still works?")
    assert json.loads(path.read_text(encoding="utf-8", errors="replace").splitlines()[-1])["text"] == "Still works?"


def test_rate_limit_per_client():
    limit = RateLimit(count=2, seconds=60)
    limit.check("a")
    limit.check("a")  # checking is not asking: only what is taken counts
    limit.took("a")
    limit.took("a")
    with pytest.raises(TooMany, match="at most 2 questions every 60 s"):
        limit.check("a")
    limit.check("b")  # another client is not held back


def verify_command(path) -> subprocess.CompletedProcess:
    """``fireside audit verify PATH``, run."""
    command = os.path.join(os.path.dirname(sys.executable), "fireside")
    return subprocess.run([command, "audit", "verify", str(path)], capture_output=True, text=True)


def test_the_audit_log_is_chained_and_verify_names_the_line_changed(tmp_path):
    from stage.panel.audit import verify

    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    for n in range(5):
        log.write("say", panelist="ada", text=f"line {n}")
    AuditLog(path).write("stop")  # a restart goes on with the chain
    assert verify(path) == (6, [])
    lines = path.read_text().splitlines(keepends=True)

    def problems(changed: list[str]) -> list[str]:
        path.write_text("".join(changed))
        return [str(p) for p in verify(path)[1]]

    edited = lines.copy()
    edited[2] = edited[2].replace("line 2", "line two")
    assert problems(edited) == ["line 3: edited: the record does not match its hash"]
    assert problems(lines[:1] + lines[2:]) == ["line 2: does not follow line 1: a record was removed, added or moved"]
    swapped = lines[:3] + [lines[4], lines[3]] + lines[5:]
    assert problems(swapped)[0].startswith("line 4: does not follow line 3")
    assert problems(lines[1:])[0].startswith("line 1: does not follow the log's start")
    assert problems(lines + ['{"event": "stop"}\n']) == ["line 7: a record with no hash: not written by this log"]
    # the command says the same, and fails
    path.write_text("".join(edited))
    done = verify_command(path)
    assert done.returncode == 1 and "line 3: edited" in done.stdout
    path.write_text("".join(lines))
    done = verify_command(path)
    assert done.returncode == 0 and "6 records, the chain holds" in done.stdout


def test_a_full_disk_loses_no_record_and_says_so(tmp_path):
    """The file may grow no further (RLIMIT_FSIZE: writes fail as on a full
    disk): records wait, the log says why, and all of them reach the file,
    in order and chained, once it can grow again."""
    import resource
    import signal

    from stage.panel.audit import verify

    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.write("opened")
    before = path.read_bytes()
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (len(before), hard))
    try:
        log.write("question", text="one")
        log.write("question", text="two")
        failing = log.failing
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert failing and "cannot be written" in failing and "2 records wait" in failing
    assert path.read_bytes() == before  # what was logged is untouched
    assert [r["event"] for r in log.records()] == ["opened", "question", "question"]  # the queue still sees them
    log.write("stop")
    assert log.failing is None
    assert [r.get("text") for r in AuditLog(path).records()] == [None, "one", "two", None]
    assert verify(path) == (4, [])


def test_the_panel_leaves_the_same_gaps_on_the_show_clock_and_on_real_time():
    """One order for the live stage and rehearsal: the first answer RESPONSE_GAP
    after a question on the clock, each next one BETWEEN_SPEAKERS after the last word."""
    import asyncio

    from stage.core.clock import Clock, ShowClock
    from stage.panel.order import BETWEEN_SPEAKERS, RESPONSE_GAP, Panel

    def panel_on(clock, speech: float):
        started = []

        async def answer(pid: str) -> float:
            started.append((pid, clock.now()))
            await asyncio.sleep(0)  # as a real answer, it yields while it thinks
            return clock.now() + speech

        return Panel(clock), started, answer

    show = ShowClock(1.0)
    panel, started, answer = panel_on(show, 2.0)
    done = asyncio.run(panel.in_turn(["ada", "ravi", "mei"], answer, asked_at=1.0))
    first = 1.0 + RESPONSE_GAP
    second = first + 2.0 + BETWEEN_SPEAKERS
    third = second + 2.0 + BETWEEN_SPEAKERS
    assert started == [("ada", first), ("ravi", second), ("mei", third)]
    assert done == third + 2.0  # back when the last word is said

    real = Clock()
    panel, started, answer = panel_on(real, 0.05)
    asyncio.run(panel.in_turn(["ada", "ravi"], answer))
    assert started[0][1] < 0.5  # a live question is answered at once: its thinking is its gap
    assert started[1][1] >= started[0][1] + 0.05 + BETWEEN_SPEAKERS
