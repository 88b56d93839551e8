import json
import os
import subprocess
import sys

import cv2

from stage.tools.strip import SENTENCE, TILE, make_side_by_side, make_strip
from tests import waiting


def fireside(*args: str, seconds: float = 300) -> subprocess.CompletedProcess:
    command = os.path.join(os.path.dirname(sys.executable), "fireside")
    return subprocess.run([command, *args], capture_output=True, text=True, timeout=waiting.seconds(seconds))


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


def test_side_by_side_video_has_both_rigs_and_the_voice(tmp_path, config, portrait):
    import av
    import numpy as np

    path = make_side_by_side(tmp_path / "rigs.mp4", config, portrait)
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        sound = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    size = config.avatar.size
    assert frames[0].shape == (size, 2 * size, 3)
    assert len(frames) / config.avatar.fps > 0.05 * len(SENTENCE)  # the whole sentence, a few seconds
    assert np.abs(sound).max() > 0.1  # its voice
    left, right = frames[len(frames) // 2][:, :size], frames[len(frames) // 2][:, size:]
    assert abs(float(left.mean()) - float(right.mean())) > 10  # two different avatars


def test_bench_panel_asks_and_stops_on_a_real_stage():
    run = fireside("bench", "panel", "--json", "--quick")
    assert run.returncode == 0, run.stderr
    records = {r["name"]: r["value"] for r in json.loads(run.stdout)}
    assert records["panel.rounds"] == 3  # each question was heard on stage, then stopped
    assert {"panel.ask_to_first_audio.p50", "panel.stop_to_silence.p95"} <= set(records)


def test_bench_soak_holds_a_call_for_two_minutes():
    """The soak's figures, from a call held two minutes with a question every
    20 s: every question answered, and nothing leaks (its figures over 30
    minutes are in the README; timings are reported, not asserted)."""
    run = fireside("bench", "soak", "--minutes", "2", "--json", seconds=900)
    assert run.returncode == 0, run.stderr[-3000:]
    records = {r["name"]: r["value"] for r in json.loads(run.stdout)}
    assert records["soak.questions"] == 6 and records["soak.answered"] == 6, records
    # descriptors: none left open by six answers (a leak grows by a few per answer)
    assert records["soak.fds.end"] <= records["soak.fds.after_warmup"] + 2, records
    assert {"soak.av_offset.first_minute", "soak.av_offset.last_minute", "soak.rss.growth"} <= set(records)
    assert "soak.minute_01.rss" in records and "soak.dropped_frames.total" in records


def test_bench_fuzz_finds_no_crash_on_any_surface():
    """Generated bad input on every surface (60 each with --quick; the
    bench's 1,000 each are in the README): no crash, the server alive, a
    call held through it all still up, and an endless stream cut into turns."""
    run = fireside("bench", "fuzz", "--json", "--quick", seconds=600)
    assert run.returncode == 0, run.stderr[-3000:]
    records = {r["name"]: r["value"] for r in json.loads(run.stdout)}
    surfaces = {name.split(".inputs")[0] for name in records if name.endswith(".inputs") and name != "fuzz.inputs"}
    assert {"fuzz.sdp", "fuzz.yaml.card", "fuzz.yaml.show", "fuzz.yaml.config", "fuzz.audio"} <= surfaces
    assert {"fuzz.http.POST.offer", "fuzz.http.POST.ask", "fuzz.http.POST.console.say"} <= surfaces
    assert all(records[f"{s}.inputs"] >= 50 for s in surfaces), records
    assert records["fuzz.crashes"] == 0, run.stderr[-3000:]
    assert records["fuzz.server_alive"] == 1 and records["fuzz.held_call_survived"] == 1
    # bad cards are refused, good ones load: the fuzz reaches past the first error
    assert 0 < records["fuzz.yaml.card.refused"] < 100, records
    assert records["fuzz.audio.endless_turns_in_70s"] == 3  # max_turn (30 s) ends each turn of endless speech
