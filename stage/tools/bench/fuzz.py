"""Bad input, generated (``fireside bench fuzz``): at least 1,000 inputs a
surface, from Hypothesis strategies, and for each surface the inputs tried,
the crashes and the p99 time to refuse.

- HTTP: every endpoint of the server's own OpenAPI document
  (``/openapi.json``), with the panel on: arbitrary JSON, the endpoint's
  fields with values of any type, binary and non-UTF-8 bodies, oversized
  ones, bad query values. A crash is a 500, an answer that is not a JSON
  error, a traceback in it, a dropped connection or a server that died;
  a call held open through it all must still be there at the end.
- SDP: a real offer (aiortc's), truncated, its media lines replaced, its ICE
  credentials removed, swollen past any size, to ``/offer`` and
  ``/stage/offer``.
- YAML: persona cards, show files and config files, broken by inserting,
  deleting and replacing characters, lines and values, and non-UTF-8 bytes.
  Each must load or fail with the file, the reason, and for a syntax error
  the line; anything else is a crash.
- Audio: speech and noise with NaN and infinity, DC offset, clipping, at
  8 kHz, in six channels, and without end; the listener must go on, and an
  endless stream must still end its turns.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stage.core.config import FiresideConfig
from stage.tools.bench.common import percentile, record, speech16, start_server

TOKEN = "fuzz-token-00000"
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
CRASH = re.compile(r"Traceback|File \"/|Exception:")


def _run(strategy, count: int, each) -> None:
    """``each(example)`` for ``count`` examples of ``strategy`` (the same ones each run)."""

    @settings(
        max_examples=count, database=None, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )
    @given(example=strategy)
    def test(example):
        each(example)

    test()


class Surface:
    """What one surface's inputs did: how many, the crashes, the time each took to refuse."""

    def __init__(self, name: str):
        self.name, self.tried, self.crashes, self.refused, self.took = name, 0, [], 0, []

    def records(self) -> list[dict]:
        return [
            record(f"fuzz.{self.name}.inputs", self.tried, "inputs"),
            record(f"fuzz.{self.name}.crashes", len(self.crashes), "crashes"),
            record(
                f"fuzz.{self.name}.refused",
                100 * self.refused / max(1, self.tried),
                "% refused clearly (the rest: valid, taken)",
            ),
            record(f"fuzz.{self.name}.refuse_p99", 1000 * percentile(self.took or [0.0], 0.99), "ms"),
        ]


# -- HTTP -----------------------------------------------------------------------------------
class Client:
    def __init__(self, url: str):
        self.host, self.port = url.removeprefix("http://").split(":")

    def send(self, method: str, path: str, body: bytes | None, headers: dict) -> tuple[int, bytes, float]:
        """The answer's status and body, and how long it took; status 0: the connection dropped."""
        started = time.perf_counter()
        connection = http.client.HTTPConnection(self.host, int(self.port), timeout=60)
        try:
            try:
                connection.request(method, path, body=body, headers=headers)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused before the whole body was sent: the answer may be there all the same
            response = connection.getresponse()
            return response.status, response.read(), time.perf_counter() - started
        except (OSError, http.client.HTTPException) as err:
            return 0, f"{type(err).__name__}: {err}".encode(), time.perf_counter() - started
        finally:
            connection.close()


def _judge(surface: Surface, status: int, data: bytes, took: float, what: str) -> None:
    surface.tried += 1
    if status < 400:
        return  # taken: a good enough input (an empty stop, a question)
    surface.took.append(took)
    try:
        answer = json.loads(data)
        clear = isinstance(answer, dict) and isinstance(answer.get("error"), str) and answer["error"]
    except ValueError:
        clear = False
    if status in (0, 500) or not clear or CRASH.search(data.decode("utf-8", "replace")):
        surface.crashes.append(f"{what}: {status} {data[:200]!r}")
    else:
        surface.refused += 1


def _bodies(schema: dict | None):
    """Bad bodies for an endpoint: any JSON, its own fields with values of
    any type, bytes (mostly not UTF-8), and now and then a huge one."""
    fields = list((schema or {}).get("properties", {}))
    shaped = st.fixed_dictionaries({}, optional={f: JSON for f in fields}) if fields else JSON
    as_json = (JSON | shaped).map(lambda v: json.dumps(v).encode())
    raw = st.binary(max_size=300)
    huge = st.integers(130_000, 3_000_000).map(lambda n: b'{"text": "' + b"x" * n + b'"}')
    return st.one_of(as_json, as_json, raw, huge)


def _headers(url: str):
    """The moderator's token mostly (so that bodies get past it), else a
    wrong, garbled or missing one; an Origin that is the server's, another
    site's, malformed or none; a content type or none."""
    ascii_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
    token = st.sampled_from([f"Bearer {TOKEN}"] * 3 + ["Bearer wrong-token", "Basic Zm9vOmJhcg==", ""]) | ascii_text
    origin = st.sampled_from([None, None, url, "http://evil.example", "null", "http://[::1", "::::"]) | ascii_text
    kind = st.sampled_from(["application/json", "application/json", "text/plain", "multipart/form-data", None])
    return st.tuples(token, origin, kind).map(
        lambda t: {k: v for k, v in (("Authorization", t[0]), ("Origin", t[1]), ("Content-Type", t[2])) if v}
    )


class HeldCall:
    """A call kept open through the fuzz, on a loop of its own thread (so it
    answers its connection's checks while the fuzz runs)."""

    def __init__(self, url: str):
        from stage.tools.call_client import CallClient

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.client = CallClient(url, "ada", video=False)
        asyncio.run_coroutine_threadsafe(self.client.connect(), self.loop).result(60)

    @property
    def connected(self) -> bool:
        return self.client.pc.connectionState == "connected"

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.client.close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def fuzz_http(url: str, count: int) -> list[Surface]:
    client = Client(url)
    document = json.loads(client.send("GET", "/openapi.json", None, {})[1])
    surfaces = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            method = method.upper()
            surface = Surface(f"http.{method}.{path.strip('/').replace('/', '.') or 'root'}")
            schema = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")

            def one(example, method=method, path=path, surface=surface):
                where, body, headers = example
                named = re.search(r"\{\w+\}", path)  # a path parameter ({qid}, {persona}): the text goes there
                target = path.replace(named.group(0), where) if named else f"{path}?after={where}"
                status, data, took = client.send(method, target, body, headers)
                _judge(surface, status, data, took, f"{method} {target[:60]}")

            queries = st.text(max_size=20).map(lambda s: quote(s, safe="") or "x")  # any text, percent-encoded
            bodies = _bodies(schema) if method == "POST" else st.none()
            _run(st.tuples(queries, bodies, _headers(url)), count, one)
            surfaces.append(surface)
    return surfaces


# -- SDP ------------------------------------------------------------------------------------
def real_offer() -> str:
    from aiortc import RTCPeerConnection
    from aiortc.mediastreams import AudioStreamTrack

    async def make() -> str:
        pc = RTCPeerConnection()
        pc.addTrack(AudioStreamTrack())
        pc.addTransceiver("video", direction="recvonly")
        pc.createDataChannel("captions")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
        await pc.close()
        return sdp

    return asyncio.run(make())


def _broken_sdp(offer: str):
    lines = offer.splitlines()
    truncated = st.integers(0, len(offer) - 1).map(lambda n: offer[:n])
    no_ice = st.just("\r\n".join(line for line in lines if not line.startswith(("a=ice-ufrag", "a=ice-pwd"))))
    media = st.sampled_from(
        ["m=audio 0 RTP/AVP", "m=video x", "m=application 9 UDP", "m=audio 9 UDP/TLS/RTP/SAVPF 999", "m="]
    )
    wrong_media = st.tuples(media, st.integers(0, 2)).map(
        lambda mi: re.sub(r"^m=.*$", mi[0], offer, count=mi[1] + 1, flags=re.M)
    )
    dropped = st.lists(st.integers(0, len(lines) - 1), min_size=1, max_size=6).map(
        lambda gone: "\r\n".join(line for i, line in enumerate(lines) if i not in set(gone))
    )
    huge = st.integers(20, 4000).map(lambda n: offer + "a=x-filler:" + "y" * 60 + "\r\n" * 1 + ("a=z:1\r\n" * n))
    garbage = st.text(max_size=200)
    return st.one_of(truncated, no_ice, wrong_media, dropped, huge, garbage)


def fuzz_sdp(url: str, count: int) -> Surface:
    client, surface = Client(url), Surface("sdp")
    offer = real_offer()

    def one(example):
        sdp, target = example
        body = {"sdp": sdp, "type": "offer", "persona": "ada"}
        status, data, took = client.send(
            "POST", target, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        _judge(surface, status, data, took, f"{target} sdp of {len(sdp)} chars")

    _run(st.tuples(_broken_sdp(offer), st.sampled_from(["/offer", "/stage/offer"])), count, one)
    return surface


# -- YAML -----------------------------------------------------------------------------------
def _broken_text(text: str):
    cut = st.tuples(st.integers(0, len(text)), st.integers(0, 40)).map(lambda ab: text[: ab[0]] + text[ab[0] + ab[1] :])
    noise = st.text(alphabet=":-[]{}\"'\t#&*!|>%@`,? \n\\", min_size=1, max_size=8)
    inserted = st.tuples(st.integers(0, len(text)), noise).map(lambda a: text[: a[0]] + a[1] + text[a[0] :])
    lines = text.splitlines(keepends=True)
    values = st.tuples(st.integers(0, max(0, len(lines) - 1)), JSON).map(
        lambda a: "".join(
            re.sub(r":\s.*$", lambda _: f": {json.dumps(a[1])}", line) if i == a[0] else line
            for i, line in enumerate(lines)
        )
    )
    indented = st.integers(0, max(0, len(lines) - 1)).map(
        lambda n: "".join(("   " + line) if i == n else line for i, line in enumerate(lines))
    )
    return st.one_of(cut, inserted, values, indented)


def fuzz_yaml(count: int) -> list[Surface]:
    from stage.core.config import load_config
    from stage.core.errors import FiresideError
    from stage.core.paths import PROMPTS
    from stage.panel.show import load_show
    from stage.think.persona import load_persona, load_personas
    from voices.catalog import VoiceCatalog

    cards, catalog = load_personas(), VoiceCatalog()
    config = "voices:\n  default: joe\nllm:\n  max_tokens: 120\nlisten:\n  end_of_turn: silence\n  hangover: 0.5\ncall:\n  max_calls: 8\n"
    kinds = {
        "card": ((PROMPTS / "personas" / "ada.yaml").read_text(), load_persona),
        "show": ((PROMPTS / "shows" / "demo.yaml").read_text(), lambda p: load_show(p, cards, catalog)),
        "config": (config, load_config),
    }
    folder = Path(tempfile.mkdtemp(prefix="fireside-fuzz-"))
    (folder / "knowledge").symlink_to(PROMPTS / "knowledge")  # what the cards name, beside them as in prompts/
    (folder / "personas").mkdir()
    surfaces = []
    for kind, (text, load) in kinds.items():
        surface = Surface(f"yaml.{kind}")
        path = folder / "personas" / f"{kind}.yaml"

        def one(example, load=load, surface=surface, path=path):
            text, raw = example
            path.write_bytes(text.encode("utf-8") + raw)
            surface.tried += 1
            started = time.perf_counter()
            try:
                load(path)
            except FiresideError as err:
                surface.took.append(time.perf_counter() - started)
                message = str(err)
                syntax = "not valid YAML" in message
                if str(path) not in message or (syntax and not re.search(rf"{re.escape(str(path))}:\d+", message)):
                    surface.crashes.append(f"unclear: {message[:200]}")
                else:
                    surface.refused += 1
            except Exception as err:  # noqa: BLE001 - what the fuzz looks for
                surface.crashes.append(f"{type(err).__name__}: {err}"[:200])

        _run(st.tuples(_broken_text(text), st.sampled_from([b"", b"", b"\xff\xfe", b"\x80abc"])), count, one)
        surfaces.append(surface)
    return surfaces


# -- audio ----------------------------------------------------------------------------------
def fuzz_audio(config: FiresideConfig, count: int) -> Surface:
    from stage.listen.listener import Listener
    from voices.catalog import VoiceCatalog

    engine = VoiceCatalog(config.voices.catalog).engine(config.voices.default)
    question = speech16(engine, "How do banks detect fraud?")
    surface = Surface("audio")
    settings = config.listen

    def one(example):
        kind, level, seconds, seed = example
        rng = np.random.default_rng(seed)
        base = np.concatenate([question, rng.standard_normal(round(seconds * 16000)).astype(np.float32) * level])
        rate, channels = 16000, 1
        if kind == "nan":
            base[rng.integers(0, len(base), 40)] = np.nan
            base[rng.integers(0, len(base), 10)] = rng.choice([np.inf, -np.inf], 10)
        elif kind == "dc":
            base = base + level * 40
        elif kind == "clipped":
            base = np.clip(base * (1 + level * 200), -1, 1)
        elif kind == "8k":
            base, rate = base[::2].copy(), 8000
        elif kind == "six":
            base, channels = np.repeat(base[:, None], 6, 1) * rng.uniform(-1, 1, 6).astype(np.float32), 6
        surface.tried += 1
        listener = Listener(settings, sample_rate=rate, channels=channels)
        started = time.perf_counter()
        try:
            step = rate // 50
            for i in range(0, len(base), step):
                listener.feed(base[i : i + step])
            listener.finish()
            surface.refused += 1
        except Exception as err:  # noqa: BLE001 - what the fuzz looks for
            surface.crashes.append(f"{kind}: {type(err).__name__}: {err}"[:200])
        surface.took.append(time.perf_counter() - started)

    kinds = st.sampled_from(["nan", "dc", "clipped", "8k", "six", "plain"])
    _run(st.tuples(kinds, st.floats(0, 0.05), st.floats(0, 1.5), st.integers(0, 2**16)), count, one)
    return surface


def pauseless(pcm: np.ndarray, samples: int) -> np.ndarray:
    """``samples`` of speech with no pause anywhere: ``pcm`` without its
    quiet 160-sample blocks (7 ms at Piper's 22 kHz), repeated."""
    blocks = pcm[: len(pcm) // 160 * 160].reshape(-1, 160)
    voiced = blocks[np.sqrt((blocks**2).mean(1)) > 0.02].ravel()
    return np.tile(voiced, int(np.ceil(samples / len(voiced))))[:samples]


def endless(config: FiresideConfig) -> list[dict]:
    """Speech that never pauses, 70 s of it: its turns must still end (``max_turn``)."""
    from stage.core.events import SpeechStarted, TurnEnded
    from stage.listen.listener import Listener
    from voices.catalog import VoiceCatalog

    engine = VoiceCatalog(config.voices.catalog).engine(config.voices.default)
    words = (
        "Banks watch for fraud all day and all night. They look at where a card is used, how much is spent, "
        "and at what hour. A payment that breaks the pattern is held, and the customer gets a call. "
        "Some banks train models on years of payments, others write rules by hand, and most do both. "
    )
    pcm = np.concatenate([p.audio.pcm for p in engine.synthesize(words)]).astype(np.float32) / 32768
    rate = engine.sample_rate
    stream = pauseless(pcm, 70 * rate)
    settings = config.listen
    settings.partial_every = 10.0  # the subject is the turn's end: few partials (each reads the whole turn)
    listener = Listener(settings, sample_rate=rate)
    events = [e for i in range(0, len(stream), rate // 50) for e in listener.feed(stream[i : i + rate // 50])]
    started = [e for e in events if isinstance(e, SpeechStarted)]
    ended = [e for e in events if isinstance(e, TurnEnded)]
    return [
        record("fuzz.audio.endless_turns_in_70s", len(started), "turns begun (3: max_turn ends one each 30 s)"),
        record("fuzz.audio.endless_turns_heard", len(ended), "of those ended, turns with words"),
    ]


def bench_fuzz(config: FiresideConfig, quick: bool = False) -> list[dict]:
    count = 60 if quick else 1000
    from stage.core.paths import PROMPTS
    from stage.transport.webrtc import restrict_ice

    restrict_ice(["127.0.0.1"])
    server, url = start_server(
        f"panel:\n  token: {TOKEN}\n  folder: FOLDER/panel\n  questions_per_minute: 600\n"
        "call:\n  ice_addresses: [127.0.0.1]\n  max_calls: 64\n",
        "--show",
        str(PROMPTS / "shows" / "demo.yaml"),
        port=8767,
    )
    records = []
    try:
        held = HeldCall(url)
        surfaces = [*fuzz_http(url, count), fuzz_sdp(url, count)]
        alive = server.poll() is None
        calls = json.loads(Client(url).send("GET", "/status", None, {})[1])["calls"] if alive else 0
        still = alive and held.connected and calls >= 1
        held.close()
    finally:
        server.terminate()
        server.wait(20)
    surfaces += fuzz_yaml(count)
    surfaces.append(fuzz_audio(config, count))
    for surface in surfaces:
        records += surface.records()
        for crash in surface.crashes[:3]:
            print(f"crash in {surface.name}: {crash}", file=sys.stderr)
    records += [
        record("fuzz.inputs", sum(s.tried for s in surfaces), "inputs"),
        record("fuzz.crashes", sum(len(s.crashes) for s in surfaces), "crashes (target 0)"),
        record("fuzz.server_alive", float(alive), "1 = the server ran to the end"),
        record("fuzz.held_call_survived", float(still), "1 = a call held through it all was still connected"),
        *endless(config),
    ]
    return records
