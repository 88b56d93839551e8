"""``fireside bench``: speed figures as ``{"name", "value", "unit"}`` records.

Figures, not pass/fail: the tests never time anything.
"""

from __future__ import annotations

import os
import statistics
import time

from stage.config import FiresideConfig


def run(name: str, config: FiresideConfig, quick: bool = False, llm: list[str] = (), url: str | None = None) -> list[dict]:
    if name == "think":
        return bench_think(config, quick, llm)
    if name == "answers":
        return bench_answers(config, quick, llm)
    if name == "call":
        return bench_call(config, quick, url)
    return {"render": bench_render, "tts": bench_tts, "listen": bench_listen,
            "rehearse": bench_rehearse, "panel": bench_panel}[name](config, quick)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _record(name: str, value: float, unit: str) -> dict:
    return {"name": name, "value": round(float(value), 4), "unit": unit}


def _one_core() -> None:
    import cv2

    cv2.setNumThreads(1)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def bench_render(config: FiresideConfig, quick: bool = False) -> list[dict]:
    """Frames per second on one core, per rig, while speaking."""
    from avatar.face import FaceAnimator
    from avatar.rigs import load_rig
    from avatar.rigs.photo import sample_portrait
    from stage.events import PhonemeSpan

    _one_core()
    size = config.avatar.size
    # a steady stream of syllables, so the mouth, lids and head all move
    syllables = [PhonemeSpan(p, i * 0.09, (i + 1) * 0.09, i % 4 == 1) for i, p in enumerate("hɛlobamisuθɔfæ" * 40)]
    frames = 50 if quick else 500
    records = []
    for label, spec in (("stylized", "stylized"), ("photo", f"photo:{sample_portrait()}")):
        rig = load_rig(spec, size)
        face = FaceAnimator(fps=25)
        face.add_speech(syllables)
        states = [face.state_at(i / 25) for i in range(frames)]
        rig.draw(states[0])  # warm caches
        start = time.perf_counter()
        for state in states:
            rig.draw(state)
        fps = frames / (time.perf_counter() - start)
        records.append(_record(f"render.{label}.fps", fps, f"frames/s ({size}x{size}, 1 core)"))
        records.append(_record(f"render.{label}.core_share_at_25fps", 25 / fps, "cores"))
    return records


def bench_tts(config: FiresideConfig, quick: bool = False) -> list[dict]:
    """Time to first audio for a short sentence, and the real-time factor."""
    from voices.catalog import VoiceCatalog

    catalog = VoiceCatalog(config.voices.catalog)
    entry = catalog.get(config.voices.default)
    start = time.perf_counter()
    engine = catalog.engine(entry.id)
    load = time.perf_counter() - start
    next(iter(engine.synthesize("Warming up.")))
    rounds = 3 if quick else 15
    firsts = []
    for _ in range(rounds):
        start = time.perf_counter()
        next(iter(engine.synthesize("That's a great question.")))
        firsts.append(time.perf_counter() - start)
    paragraph = ("Open banking lets customers share their data with trusted providers. "
                 "It has changed how banks compete, and regulators now watch it closely. "
                 "The next step is real-time payments across borders.")
    start = time.perf_counter()
    audio = sum(piece.audio.duration for piece in engine.synthesize(paragraph))
    synth = time.perf_counter() - start
    return [
        _record(f"tts.{entry.id}.load", load * 1000, "ms"),
        _record(f"tts.{entry.id}.first_audio.p50", statistics.median(firsts) * 1000, "ms"),
        _record(f"tts.{entry.id}.first_audio.p95", _percentile(firsts, 0.95) * 1000, "ms"),
        _record(f"tts.{entry.id}.real_time_factor", synth / audio, "x (lower is faster)"),
    ]


# questions the demo personas answer from their knowledge with the model
# (not from approved answers, not with a holding line)
THINK_QUESTIONS = [
    ("ada", "When did FPS launch?"), ("ada", "Why are cross-border payments slow?"),
    ("ada", "How do regulators treat AI models in banks?"), ("ada", "What is open finance?"),
    ("ada", "Where do banks use generative AI today?"), ("ravi", "How do banks detect fraud?"),
    ("ravi", "Tell us about the deepfake video call case."), ("ravi", "What is model risk?"),
    ("ravi", "How do banks manage AI model risk?"), ("ravi", "Can a fraud model be unfair?"),
]


def bench_think(config: FiresideConfig, quick: bool = False, urls: list[str] = ()) -> list[dict]:
    """Time to the first speakable clause, p50 and p95: extractive answers (no
    model), then generated ones per model backend; then retrieval over a large
    knowledge base."""
    import asyncio

    from stage.events import AnswerEnd
    from stage.persona import load_personas
    from stage.think import thinker_for

    cards = load_personas(config.personas.folder)
    rounds = 1 if quick else 3
    records = []
    for mode, backend in [("extractive", "embedded"), ("generated", "embedded"), *(("generated", u) for u in urls)]:
        thinkers = {pid: thinker_for(card, config, backend) for pid, card in cards.items()}
        for thinker in thinkers.values():
            thinker.mode = mode
            if mode == "generated":
                thinker.warm()

        async def measure() -> tuple[list[float], list[float]]:
            firsts, tokens = [], []
            for _ in range(rounds):
                for pid, question in THINK_QUESTIONS:
                    async for event in thinkers[pid].answer(question):
                        if isinstance(event, AnswerEnd):
                            firsts.append(event.timings["first_clause_ms"])
                            if "first_token_ms" in event.timings:
                                tokens.append(event.timings["first_token_ms"])
            return firsts, tokens

        firsts, tokens = asyncio.run(measure())
        label = mode if backend == "embedded" else f"{mode}.{backend}"
        records += [_record(f"think.{label}.first_clause.p50", _percentile(firsts, 0.5), "ms"),
                    _record(f"think.{label}.first_clause.p95", _percentile(firsts, 0.95), "ms")]
        if tokens:
            records.append(_record(f"think.{label}.first_token.p50", _percentile(tokens, 0.5), "ms"))
    return records + bench_retrieval(config, quick)


def bench_retrieval(config: FiresideConfig, quick: bool = False, folder: str = "/usr/share/doc",
                    wanted: int = 2000) -> list[dict]:
    """Hybrid retrieval over a knowledge base of at least ``wanted`` passages:
    the persona's own documents and the Markdown, HTML and text documentation
    Debian installs (real documents, on every machine). Index build time cold
    and from the cache, the memory the index takes, and retrieval's p50 and p95
    for the question set's questions."""
    import tempfile
    from pathlib import Path

    from stage import knowledge as kb
    from stage.documents import FORMATS, read_document, DocumentError
    from stage.embed import embedder
    from stage.evaluate import load_questions
    from stage.persona import load_personas

    card = load_personas(config.personas.folder)["ada"]
    wanted = 300 if quick else wanted
    documents, passages = [], sum(len(read_document(p, p.name)) for p in card.knowledge_paths())
    for path in sorted(Path(folder).rglob("*")):
        if passages >= wanted:
            break
        if path.is_file() and path.suffix.lower() in FORMATS and path.stat().st_size > 2000:
            try:
                passages += len(read_document(path))
            except DocumentError:
                continue
            documents.append(str(path))
    card = card.model_copy(update={"knowledge": [*card.knowledge, *documents]})
    embedder()  # loaded once, not counted as the index's

    def rss() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20

    with tempfile.TemporaryDirectory() as cache:
        os.environ["FIRESIDE_CACHE"], previous = cache, os.environ.get("FIRESIDE_CACHE")
        try:
            before, started = rss(), time.perf_counter()
            index = kb.Knowledge(card, progress=True)
            cold = time.perf_counter() - started
            memory = rss() - before
            started = time.perf_counter()
            index = kb.Knowledge(card)
            warm = time.perf_counter() - started
        finally:
            if previous is None:
                os.environ.pop("FIRESIDE_CACHE")
            else:
                os.environ["FIRESIDE_CACHE"] = previous
    questions = [q.question for q in load_questions()]
    times = []
    for question in questions * (1 if quick else 3):  # one after another, so each is embedded anew
        started = time.perf_counter()
        index.rank(question, 2)
        times.append((time.perf_counter() - started) * 1000)
    return [_record("retrieval.documents", len(card.knowledge), "files"),
            _record("retrieval.passages", len(index.passages), "passages"),
            _record("retrieval.sentences", len(index.sentences), "sentences"),
            _record("retrieval.build_cold", cold, "s"), _record("retrieval.build_cached", warm, "s"),
            _record("retrieval.index_memory", memory, "MiB"),
            _record("retrieval.p50", _percentile(times, 0.5), "ms"),
            _record("retrieval.p95", _percentile(times, 0.95), "ms")]


def bench_answers(config: FiresideConfig, quick: bool = False, urls: list[str] = ()) -> list[dict]:
    """Answer quality on the question set, per answer mode and split: correct
    with the right source, fragments, unsupported clauses, and out-of-knowledge
    questions declined. Every failure is printed, so a figure can be read."""
    import asyncio

    from rich.console import Console

    from stage.evaluate import SPLITS, judge, load_questions
    from stage.persona import load_personas
    from stage.think import Thinker, collect, thinker_for

    cards = load_personas(config.personas.folder)
    questions = load_questions()
    if quick:
        questions = questions[::4]
    out = Console(stderr=True)
    records = []
    runs = [("extractive", "embedded"), ("generated", "embedded")] + [("generated", url) for url in urls]
    for mode, backend in runs:
        thinkers: dict[str, Thinker] = {}
        verdicts = []
        for q in questions:
            if q.persona not in thinkers:
                thinkers[q.persona] = thinker_for(cards[q.persona], config, backend)
                thinkers[q.persona].mode = mode
            events = asyncio.run(collect(thinkers[q.persona], q.question))
            verdicts.append(judge(q, events, thinkers[q.persona].knowledge))
        label = mode if backend == "embedded" else f"{mode}.{backend}"
        for split in SPLITS:
            chosen = [v for v in verdicts if v.question.split == split]
            inside = [v for v in chosen if not v.question.out_of_knowledge]
            outside = [v for v in chosen if v.question.out_of_knowledge]
            records += [
                _record(f"answers.{label}.{split}.correct", 100 * sum(v.correct for v in inside) / max(1, len(inside)), "%"),
                _record(f"answers.{label}.{split}.fragments", sum(v.fragment for v in chosen), "answers"),
                _record(f"answers.{label}.{split}.unsupported", sum(len(v.unsupported) for v in chosen), "clauses"),
                _record(f"answers.{label}.{split}.held_out_of_knowledge", 100 * sum(v.correct for v in outside) / max(1, len(outside)), "%"),
            ]
        for v in verdicts:
            if not v.correct or v.fragment or v.unsupported:
                out.print(f"[{label} {v.question.split}] {v.question.persona}: {v.question.question}\n"
                          f"  -> {v.outcome}: {v.answer}\n  sources {list(v.sources)}; expected {v.question.address} "
                          f"{list(v.question.key)}" + (" FRAGMENT" if v.fragment else "")
                          + (f" UNSUPPORTED {v.unsupported}" if v.unsupported else ""), highlight=False, markup=False)
    return records


LISTEN_QUESTIONS = [
    "What does open banking mean for small businesses?",
    "How can banks protect older customers from fraud?",
    "Do you think digital currencies will replace cash?",
    "Could artificial intelligence change how people pay for things?",
    "What should a bank do first with generative AI?",
]


def bench_listen(config: FiresideConfig, quick: bool = False) -> list[dict]:
    """End of speech to final transcript, and the real-time factor, on
    Piper-made questions of about three seconds fed as a live stream."""
    import numpy as np

    from stage.events import TurnEnded
    from stage.listen import Listener, settings_from
    from voices.catalog import VoiceCatalog

    engine = VoiceCatalog(config.voices.catalog).engine(config.voices.default)
    rate = engine.sample_rate
    step = rate // 50  # 20 ms packets, as a call delivers them
    after_decision, speech_to_final, audio_seconds, wall = [], [], 0.0, 0.0
    questions = LISTEN_QUESTIONS[:2] if quick else LISTEN_QUESTIONS * 2
    for question in questions:
        pcm = np.concatenate([p.audio.pcm for p in engine.synthesize(question)]).astype(np.float32) / 32768
        audio = np.concatenate([np.zeros(rate // 2, np.float32), pcm, np.zeros(rate * 2, np.float32)])
        listener = Listener(settings_from(config), sample_rate=rate)
        start = time.perf_counter()
        turns = []
        for i in range(0, len(audio), step):
            turns += [e for e in listener.feed(audio[i:i + step]) if isinstance(e, TurnEnded)]
        wall += time.perf_counter() - start
        audio_seconds += len(audio) / rate
        if turns:
            compute = listener.final_compute[0]
            after_decision.append(compute * 1000)
            speech_to_final.append((turns[0].decided - turns[0].end + compute) * 1000)
    return [
        _record("listen.final_after_decision.p50", _percentile(after_decision, 0.5), "ms"),
        _record("listen.final_after_decision.p95", _percentile(after_decision, 0.95), "ms"),
        _record("listen.end_of_speech_to_final.p50", _percentile(speech_to_final, 0.5), "ms"),
        _record("listen.end_of_speech_to_final.p95", _percentile(speech_to_final, 0.95), "ms"),
        _record("listen.real_time_factor", wall / audio_seconds, "x (lower is faster)"),
    ]


def bench_call(config: FiresideConfig, quick: bool = False, url: str | None = None) -> list[dict]:
    """Voice-to-voice latency, audio/video offset and concurrent calls, with
    real aiortc callers against a running server (started here unless given)."""
    import asyncio

    from stage.webrtc import restrict_ice

    restrict_ice(["127.0.0.1"])
    server = None
    if url is None:
        server, url = _start_server("call:\n  ice_addresses: [127.0.0.1]\n  max_calls: 32\n")
    try:
        return asyncio.run(_measure_calls(config, url, quick))
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)


async def _first_sound(client, moment: float, seconds: float = 20.0) -> float | None:
    """When a caller (or stage viewer) first heard sound after ``moment`` (arrival
    time, as it recorded it), waiting up to ``seconds``; None if nothing came."""
    import asyncio

    deadline = moment + seconds
    while client.first_sound_after(moment) is None and time.perf_counter() < deadline:
        await asyncio.sleep(0.02)
    return client.first_sound_after(moment)


def _start_server(config_text: str, *serve_args: str, port: int = 8765):
    """``fireside serve`` in a child process, once it answers: (process, url)."""
    import subprocess
    import sys
    import tempfile
    import urllib.request
    from pathlib import Path

    folder = Path(tempfile.mkdtemp(prefix="fireside-bench-"))
    (folder / "fireside.yaml").write_text(config_text.replace("FOLDER", str(folder)))
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "stage.cli", "--config", str(folder / "fireside.yaml"),
                               "serve", "--port", str(port), *serve_args],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/status", timeout=1)
            return server, url
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("the server did not start")
            time.sleep(0.3)


async def _measure_calls(config: FiresideConfig, url: str, quick: bool) -> list[dict]:
    import asyncio

    import numpy as np

    from avatar.rigs.stylized import MOUTH_INSIDE, StylizedRig
    from stage.audio_in import Resampler
    from stage.call_client import CallClient
    from voices.catalog import VoiceCatalog

    engine = VoiceCatalog(config.voices.catalog).engine(config.voices.default)

    def speech48(text: str) -> np.ndarray:
        pcm = np.concatenate([p.audio.pcm for p in engine.synthesize(text)])
        resample = Resampler(engine.sample_rate, target=48000)
        return (np.concatenate([resample(pcm), resample.flush()]) * 32767).astype(np.int16)

    # 1. voice to voice, and the audio/video offset, over several turns
    questions = [q for pid, q in THINK_QUESTIONS if pid == "ada"] + ["What is open banking?"]
    turns = 2 if quick else 10
    client = CallClient(url, "ada", keep_frames=True)
    await client.connect()
    await asyncio.sleep(2.0)
    x0, y0, x1, y1 = StylizedRig.mouth_box_at(config.avatar.size)
    inside = np.array(MOUTH_INSIDE, np.float32)
    latencies, offsets = [], []
    for i in range(turns):
        client.frames.clear()
        client.microphone.say(speech48(questions[i % len(questions)]))
        count = len(client.microphone.ended_at)
        while len(client.microphone.ended_at) == count:
            await asyncio.sleep(0.05)
        end = client.microphone.ended_at[-1]
        heard = await _first_sound(client, end)
        if heard is None:
            continue
        latencies.append((heard - end) * 1000)
        await asyncio.sleep(1.5)
        opened = next((t for t, _, rgb in client.frames if t > end and rgb is not None and
                       (np.abs(rgb[y0:y1, x0:x1].astype(np.float32) - inside).sum(2) < 60).sum() > 40), None)
        if opened is not None:
            offsets.append((opened - heard) * 1000)
        await asyncio.sleep(8.0)  # let the answer finish
    await client.close()
    # where the server's time went, turn by turn (seconds after the person stopped)
    steps: dict[str, list[float]] = {}
    for _, message in client.messages:
        for step, seconds in message.get("after_speech_end", {}).items():
            steps.setdefault(step, []).append(seconds * 1000)

    # 2. how many concurrent calls hold 25 fps with no dropped frame
    held = 0
    for n in range(1, (3 if quick else 8) + 1):
        clients = [CallClient(url, "ada") for _ in range(n)]
        await asyncio.gather(*(c.connect() for c in clients))
        await asyncio.sleep(2.0)
        for c in clients:
            c.frames.clear()
        await asyncio.sleep(4.0)
        ok = True
        for c in clients:
            pts = [p for _, p, _ in c.frames]
            fps = (len(pts) - 1) / (pts[-1] - pts[0]) if len(pts) > 2 else 0.0
            gaps = np.diff(pts) if len(pts) > 1 else np.array([1.0])
            ok &= fps >= 24.0 and float(gaps.max()) <= 0.041
        await asyncio.gather(*(c.close() for c in clients))
        await asyncio.sleep(1.0)
        if not ok:
            break
        held = n
    return [*(_record(f"call.server.{step}.p50", _percentile(values, 0.5), "ms after the end of speech")
              for step, values in steps.items()),
        _record("call.voice_to_voice.p50", _percentile(latencies, 0.5), "ms"),
        _record("call.voice_to_voice.p95", _percentile(latencies, 0.95), "ms"),
        _record("call.turns_measured", len(latencies), "turns"),
        _record("call.av_offset.p50", _percentile(offsets, 0.5) if offsets else float("nan"),
                "ms (mouth opens minus voice heard, at the client)"),
        _record("call.concurrent_calls_at_25fps", held, "calls (512x512, no dropped frame)"),
    ]


def bench_rehearse(config: FiresideConfig, quick: bool = False) -> list[dict]:
    """The demo show rendered start to end (models loaded, every answer
    thought and voiced, every frame drawn and encoded), against its length."""
    import tempfile
    from pathlib import Path

    from stage.persona import load_personas
    from stage.rehearse import rehearse
    from stage.show import load_show
    from voices.catalog import VoiceCatalog

    cards = load_personas(Path(config.personas.folder) if config.personas.folder else None)
    show = load_show(Path(__file__).resolve().parent.parent / "prompts" / "shows" / "demo.yaml", cards,
                     VoiceCatalog(config.voices.catalog))
    rounds = 1 if quick else 2
    results = []
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="fireside-bench-") as folder:
            results.append(rehearse(show, cards, config, Path(folder)))
    best = min(results, key=lambda r: r.seconds)
    duration = best.plan.duration
    return [
        _record("rehearse.show_seconds", duration, "s (the demo show's length)"),
        _record("rehearse.wall_seconds", best.seconds, "s (load, think, voice, draw, encode, write)"),
        _record("rehearse.real_time_multiple", duration / best.seconds, "x real time (2 cores)"),
        _record("rehearse.planning_seconds", best.plan.thinking_seconds, "s (thinking and voicing, beside the drawing)"),
        _record("rehearse.frames_per_second", duration * config.avatar.fps / best.seconds, "frames/s (1280x720)"),
    ]


def bench_panel(config: FiresideConfig, quick: bool = False) -> list[dict]:
    """The moderated panel, with a real stage viewer (aiortc): from "ask now"
    to the panelist's first audio on stage, and from "stop now" to silence."""
    import asyncio
    from pathlib import Path

    from stage.webrtc import restrict_ice

    restrict_ice(["127.0.0.1"])
    show = Path(__file__).resolve().parent.parent / "prompts" / "shows" / "demo.yaml"
    server, url = _start_server("panel:\n  token: bench-token-0000\n  folder: FOLDER/panel\n"
                                "call:\n  ice_addresses: [127.0.0.1]\n", "--show", str(show), port=8766)
    try:
        return asyncio.run(_measure_panel(url, "bench-token-0000", 3 if quick else 10))
    finally:
        server.terminate()
        server.wait(20)


async def _measure_panel(url: str, token: str, rounds: int) -> list[dict]:
    import asyncio

    import aiohttp

    from stage.call_client import StageViewer

    viewer = StageViewer(url, 2)
    await viewer.connect()
    await asyncio.sleep(2.0)
    questions = [("ada", q) for p, q in THINK_QUESTIONS if p == "ada"] + [("ravi", q) for p, q in THINK_QUESTIONS
                                                                         if p == "ravi"]
    firsts, stops = [], []
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as http:
        for i in range(rounds):
            pid, question = questions[i % len(questions)]
            asked = time.perf_counter()
            async with http.post(f"{url}/console/ask", json={"text": question, "to": pid}) as response:
                await response.read()
            heard = await _first_sound(viewer, asked)
            if heard is None:
                continue
            firsts.append((heard - asked) * 1000)
            await asyncio.sleep(1.0)
            stopped = time.perf_counter()
            async with http.post(f"{url}/console/stop") as response:
                await response.read()
            await asyncio.sleep(1.5)
            last = viewer.last_sound()
            stops.append(max(0.0, (last or stopped) - stopped) * 1000)
            await asyncio.sleep(0.5)
    await viewer.close()
    return [
        _record("panel.ask_to_first_audio.p50", _percentile(firsts, 0.5), "ms (ask now to the first sound on stage)"),
        _record("panel.ask_to_first_audio.p95", _percentile(firsts, 0.95), "ms"),
        _record("panel.stop_to_silence.p50", _percentile(stops, 0.5), "ms (stop now to the last sound on stage)"),
        _record("panel.stop_to_silence.p95", _percentile(stops, 0.95), "ms"),
        _record("panel.rounds", len(firsts), "questions asked and stopped"),
    ]
