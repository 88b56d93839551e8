import json
import os
import subprocess
import sys

import cv2

from stage.tools.strip import TILE, make_strip


def fireside(*args: str) -> subprocess.CompletedProcess:
    command = os.path.join(os.path.dirname(sys.executable), "fireside")
    return subprocess.run([command, *args], capture_output=True, text=True, timeout=300)


def test_bench_render_prints_json_records():
    # its own process: the benchmark pins itself to one core
    run = fireside("bench", "render", "--json", "--quick")
    assert run.returncode == 0, run.stderr
    records = {r["name"]: r for r in json.loads(run.stdout)}
    assert set(records) == {
        "render.stylized.fps",
        "render.stylized.core_share_at_25fps",
        "render.photo.fps",
        "render.photo.core_share_at_25fps",
    }
    assert all(r["value"] > 0 and r["unit"] for r in records.values())


def test_bench_tts_prints_a_table_without_json():
    run = fireside("bench", "tts", "--quick")
    assert run.returncode == 0, run.stderr
    assert "tts.joe.first_audio.p50" in run.stdout and "real_time_factor" in run.stdout


def test_strip_shows_both_rigs(tmp_path, config, portrait):
    path = make_strip(tmp_path / "strip.png", config, portrait)
    image = cv2.imread(str(path))
    assert image.shape == (2 * TILE, 8 * TILE, 3)
    # the two rows are two different avatars
    assert abs(float(image[:TILE].mean()) - float(image[TILE:].mean())) > 10


def test_bench_panel_asks_and_stops_on_a_real_stage():
    run = fireside("bench", "panel", "--json", "--quick")
    assert run.returncode == 0, run.stderr
    records = {r["name"]: r["value"] for r in json.loads(run.stdout)}
    assert records["panel.rounds"] == 3  # each question was heard on stage, then stopped
    assert {"panel.ask_to_first_audio.p50", "panel.stop_to_silence.p95"} <= set(records)
