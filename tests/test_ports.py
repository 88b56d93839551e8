"""The session's ports, read by the transports: a face paced one way for
every transport, and one stage face drawn once for all its viewers."""

import asyncio
from pathlib import Path

from stage.core.config import FiresideConfig
from stage.panel.audit import AuditLog
from stage.panel.live import Stage
from stage.panel.show import load_show
from stage.session.cast import Cast
from stage.transport.pacing import FramePacer
from stage.transport.stage_view import StageTracks

ROOT = Path(__file__).resolve().parent.parent


class Manual:
    """A clock a test moves by hand."""

    def __init__(self):
        self.t = 0.0

    def now(self) -> float:
        return self.t


def test_a_late_sender_skips_to_the_frame_due_now_instead_of_bursting():
    clock = Manual()
    pacer = FramePacer(clock.now, fps=25)

    async def run():
        clock.t = 0.0
        assert await pacer.next() == 0  # due now
        clock.t = 0.05  # a frame late (frame 1 was due at 0.04): still sent, not skipped
        assert await pacer.next() == 1
        clock.t = 1.0  # 23 frames behind: the past is not sent in a burst
        assert await pacer.next() == 25
        assert pacer.skipped == 23
        assert await pacer.next() == 26  # and on from there

    asyncio.run(run())


def test_a_panelist_is_drawn_once_however_many_watch_the_stage(tmp_path, runtime):
    config = FiresideConfig()
    cast = Cast(config, runtime=runtime)
    show = load_show(ROOT / "prompts" / "shows" / "demo.yaml", cast.cards, cast.voices)
    stage = Stage(
        show, {pid: cast.session(pid) for pid in show.panelists}, AuditLog(tmp_path / "a.jsonl"), runtime=runtime
    )
    drawn = {pid: [] for pid in stage.sessions}
    for pid, session in stage.sessions.items():
        frame = session.renderer.frame
        session.renderer.frame = lambda index, pid=pid, frame=frame: drawn[pid].append(index) or frame(index)
    tracks = StageTracks()

    async def watch(viewer: list, count: int) -> list:
        got = []
        for _ in range(count):
            got.append([(await track.recv()).pts for track in viewer])
        return got

    async def run():
        viewers = [tracks.subscribe(stage, audio=True) for _ in range(3)]
        seen = await asyncio.gather(*(watch(viewer, 10) for viewer in viewers))
        for track in (t for viewer in viewers for t in viewer):
            track.stop()
        tracks.stop()  # the last viewer left: the stage's tracks stop reading
        return seen

    seen = asyncio.run(run())
    assert all(len(got) == 10 and len(got[0]) == len(show.panelists) + 1 for got in seen)
    for pid, indices in drawn.items():
        # three viewers, ten frames each: each frame drawn once (a relay reads a frame ahead)
        assert len(indices) == len(set(indices)), pid
        assert 10 <= len(indices) <= 12, (pid, len(indices))
    assert not tracks.faces
