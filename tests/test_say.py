"""`fireside say`: the MP4, its sync, and every bad input named in the issue."""

import os
import subprocess
import sys

import av
import numpy as np
import pytest

from avatar.rigs.stylized import MOUTH_INSIDE
from stage.tools.cli import main
from tests import waiting

TEXT = "Good evening. I am glad to be here, and I look forward to your questions about open banking."


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("say") / "clip.mp4"
    assert main(["say", TEXT, "--out", str(path)]) == 0
    return path


def decode(path):
    with av.open(str(path)) as container:
        video = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
        rate = container.streams.audio[0].rate
    return video, audio, rate


def test_clip_is_h264_and_aac(clip, capsys):
    with av.open(str(clip)) as container:
        v, a = container.streams.video[0], container.streams.audio[0]
        assert v.codec_context.name == "h264" and a.codec_context.name == "aac"
        assert (v.width, v.height) == (512, 512) and v.average_rate == 25
        assert abs(float(v.duration * v.time_base) - float(a.duration * a.time_base)) <= 0.040


def test_audio_and_video_durations_agree(clip):
    frames, audio, rate = decode(clip)
    video_seconds = len(frames) / 25
    assert video_seconds > 4
    assert abs(len(audio) / rate - video_seconds) <= 0.040


def test_the_mouth_moves_with_the_voice(clip):
    """Lips follow the audio: openness (dark mouth pixels) tracks loudness,
    and it tracks it best with no time shift (audio and video in sync)."""
    frames, audio, rate = decode(clip)
    from avatar.rigs.stylized import StylizedRig

    x0, y0, x1, y1 = StylizedRig.mouth_box_at(512)
    inside = np.array(MOUTH_INSIDE, np.float32)
    openness = np.array([(np.abs(f[y0:y1, x0:x1].astype(np.float32) - inside).sum(2) < 60).sum() for f in frames])
    per_frame, half = rate // 25, rate // 50  # loudness over the 40 ms centred on each frame
    loudness = np.array(
        [np.sqrt(np.mean(audio[max(0, i * per_frame - half) : i * per_frame + half] ** 2)) for i in range(len(frames))]
    )
    assert max(openness[:5].max(), openness[-5:].max()) < 0.05 * openness.max()  # rests before and after

    def corr(shift):
        o = openness[max(0, shift) : len(openness) + min(0, shift)]
        a = loudness[max(0, -shift) : len(loudness) - max(0, shift)]
        return float(np.corrcoef(o, a)[0, 1])

    at_zero = corr(0)
    assert at_zero > 0.4
    assert at_zero >= max(corr(s) for s in (-6, -4, 4, 6))


def test_say_prints_where_and_how_long(tmp_path, capsys):
    out = tmp_path / "hello.mp4"
    assert main(["say", "Hello.", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out) in printed and " in " in printed and out.stat().st_size > 1000


def test_photo_avatar_and_another_voice(tmp_path, portrait, capsys):
    out = tmp_path / "photo.mp4"
    assert (
        main(["say", "你好，欢迎。", "--voice", "espeak-cmn", "--avatar", f"photo:{portrait}", "--out", str(out)]) == 0
    )
    frames, audio, rate = decode(out)
    assert abs(len(audio) / rate - len(frames) / 25) <= 0.040


def bad(args, capsys):
    code = main(args)
    return code, capsys.readouterr().err


def test_empty_text(tmp_path, capsys):
    code, message = bad(["say", "   ", "--out", str(tmp_path / "x.mp4")], capsys)
    assert code == 2 and "no text to speak" in message
    assert not (tmp_path / "x.mp4").exists()


def test_nothing_speakable_and_broken_text(tmp_path, capsys):
    code, message = bad(["say", "... !?", "--out", str(tmp_path / "x.mp4")], capsys)
    assert code == 2 and "nothing speakable" in message
    broken = b"caf\xe9 au lait".decode("utf-8", "surrogateescape")  # how Python passes non-UTF-8 argv
    code, message = bad(["say", broken, "--out", str(tmp_path / "x.mp4")], capsys)
    assert code == 2 and "not valid UTF-8" in message


def test_unknown_voice_lists_known_voices(tmp_path, capsys):
    code, message = bad(["say", "Hi.", "--voice", "nobody", "--out", str(tmp_path / "x.mp4")], capsys)
    assert code == 2 and "unknown voice 'nobody'" in message and "joe" in message and "espeak-yue" in message


def test_portrait_without_a_face(tmp_path, capsys):
    import cv2

    wall = tmp_path / "wall.jpg"
    cv2.imwrite(str(wall), np.full((300, 300, 3), 128, np.uint8))
    code, message = bad(["say", "Hi.", "--avatar", f"photo:{wall}", "--out", str(tmp_path / "x.mp4")], capsys)
    assert code == 2 and "no face found" in message
    assert not (tmp_path / "x.mp4").exists()


@pytest.mark.parametrize("where", ["missing-folder/x.mp4", "clip.txt", "."])
def test_unwritable_output(tmp_path, capsys, where):
    code, message = bad(["say", "Hi.", "--out", str(tmp_path / where)], capsys)
    assert code == 2 and "fireside: error:" in message


def test_read_only_file_system(capsys):
    code, message = bad(["say", "Hi.", "--out", "/proc/fireside.mp4"], capsys)
    assert code == 2 and "cannot write" in message


def test_the_console_command(tmp_path):
    run = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "fireside"), "voices", "--json"],
        capture_output=True,
        text=True,
        timeout=waiting.seconds(120),
    )
    assert run.returncode == 0, run.stderr
    assert "espeak-cmn" in run.stdout and '"sample_rate": 22050' in run.stdout
