"""The command line as a new user meets it: help first, every option said,
broken cards named (and the good ones still listed), readable in a pipe."""

import argparse
import os
import subprocess
import sys

import pytest

from stage.think.persona import PersonaError, load_persona
from stage.tools.cli import _parser, main
from tests import waiting
from tests.servers import ROOT
from tests.test_personas import GOOD

FIRESIDE = os.path.join(os.path.dirname(sys.executable), "fireside")


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``fireside ARGS`` in a pipe, as a script or ``| less`` would run it."""
    return subprocess.run(
        [FIRESIDE, *args],
        capture_output=True,
        text=True,
        timeout=waiting.seconds(120),
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_fireside_alone_prints_the_help():
    done = run()
    assert done.returncode == 0, done.stderr
    assert "usage: fireside" in done.stdout and "serve" in done.stdout and "rehearse" in done.stdout


def _parsers(parser: argparse.ArgumentParser, name: str = "fireside"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_every_option_and_argument_says_what_it_is_and_its_default():
    missing, no_default = [], []
    for name, parser in _parsers(_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            what = f"{name} {'/'.join(action.option_strings) or action.dest}"
            if not action.help:
                missing.append(what)
            elif action.default not in (None, False, [], argparse.SUPPRESS) and "default" not in action.help:
                no_default.append(what)
    assert missing == [] and no_default == []


def test_bench_names_say_which_take_minutes():
    done = run("bench", "--help")
    assert "soak: a call held for --minutes (30 minutes)" in " ".join(done.stdout.split())
    assert "livekit: LiveKit rooms" in " ".join(done.stdout.split())


def test_say_help_lists_the_looks_and_a_missing_portrait_is_named(tmp_path, capsys):
    assert "default, silver, auburn" in " ".join(run("say", "--help").stdout.split())
    code = main(["say", "Hi.", "--avatar", "photo:MISSING.jpg", "--out", str(tmp_path / "x.mp4")])
    assert code == 2 and "MISSING.jpg does not exist" in capsys.readouterr().err


def personas_folder(tmp_path, **cards: str):
    folder = tmp_path / "prompts" / "personas"
    folder.mkdir(parents=True)
    (tmp_path / "prompts" / "knowledge").mkdir()
    for name, text in cards.items():
        (folder / f"{name}.yaml").write_text(text)
    config = tmp_path / "fireside.yaml"
    config.write_text(f"personas:\n  folder: {folder}\n")
    return config


def test_a_card_naming_an_unknown_voice_or_portrait_fails_at_load_naming_card_and_field(tmp_path):
    config = personas_folder(tmp_path, test=GOOD + "voice: nobody\n")
    path = tmp_path / "prompts" / "personas" / "test.yaml"
    with pytest.raises(PersonaError, match=rf"{path}: voice: unknown voice 'nobody'; known voices: .*joe"):
        load_persona(path, voices={"joe", "espeak-en"})
    path.write_text(GOOD + "avatar: photo:nowhere.jpg\n")
    with pytest.raises(PersonaError, match=rf"{path}: avatar: the portrait nowhere.jpg does not exist"):
        load_persona(path)
    # and a show's dry run, which loads the cards, says so before anything is rendered
    path.write_text(GOOD.replace("id: test", "id: ada") + "voice: nobody\n")
    done = run("--config", str(config), "rehearse", "prompts/shows/demo.yaml", "--dry-run")
    assert done.returncode == 2 and f"{path}: voice: unknown voice 'nobody'" in " ".join(done.stderr.split())


def test_a_dry_run_warns_of_segments_likely_to_overrun(tmp_path):
    show = tmp_path / "show.yaml"
    show.write_text(
        "title: Tight\nmoderator: {name: Grace Ho, voice: espeak-en}\npanelists: [ravi]\nsegments:\n"
        "  - say: Good evening, and welcome to a very short show indeed.\n    slot: 8s\n"
        "  - ask: Ravi, how do banks detect fraud?\n    to: ravi\n    slot: 5s\n"
    )
    done = run("rehearse", str(show), "--dry-run")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "segment 2" in warnings[0] and "over its 0:05.0 slot" in warnings[0], done.stderr


def test_one_broken_card_does_not_hide_the_others_and_a_pipe_gets_whole_lines(tmp_path):
    long_title = "AI-in-Banking Strategist and Head of Customer Experience Research"
    good = GOOD.replace("title: Tester", f"title: {long_title}")
    config = personas_folder(tmp_path, good=good, broken=GOOD.replace("id: test", "id: other") + "voice: nobody\n")
    done = run("--config", str(config), "personas")
    assert done.returncode == 2
    assert f"test\tTest Person\t{long_title}\tjoe" in done.stdout  # whole, tab-separated, nothing cut
    assert "…" not in done.stdout
    assert "broken.yaml: voice: unknown voice 'nobody'" in " ".join(done.stderr.split())


def test_added_knowledge_is_listed_and_removed(tmp_path):
    env = {"FIRESIDE_DATA": str(tmp_path / "data"), "FIRESIDE_CACHE": str(tmp_path / "cache")}
    note = tmp_path / "note.md"
    days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    hours = " ".join(f"On {day} in week {w} the branch opens at {7 + w % 3}." for w in range(6) for day in days)
    note.write_text(f"# Branch hours\n\n{hours}\n")
    added = run("knowledge", "add", "mei", str(note), env=env)
    assert added.returncode == 0
    # indexing (42 sentences, uncached) shows its progress in a pipe: a line a quarter of the way
    assert "indexing added/note.md: 42 of 42 sentences" in added.stderr, added.stderr
    listed = run("knowledge", "show", "mei", "--added", env=env)
    assert listed.returncode == 0 and "added/note.md" in listed.stdout and "knowledge/mei" not in listed.stdout
    wrong = run("knowledge", "remove", "mei", "other.md", env=env)
    assert wrong.returncode == 2 and "no added document 'other.md'; added: note.md" in " ".join(wrong.stderr.split())
    assert run("knowledge", "remove", "mei", "note.md", env=env).returncode == 0
    assert "added/note.md" not in run("knowledge", "show", "mei", "--added", env=env).stdout
    assert not (tmp_path / "data" / "knowledge" / "mei" / "note.md").exists()
