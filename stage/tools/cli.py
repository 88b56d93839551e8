"""The ``fireside`` command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from avatar.rigs import looks
from stage.core import logs
from stage.core.config import FiresideConfig, load_config
from stage.core.errors import FiresideError
from stage.offline.clip import OutputError
from stage.think.documents import DocumentError
from stage.think.persona import UnknownPersona
from voices.catalog import VoiceCatalog
from voices.speech import SpeechError


class AudioError(FiresideError, ValueError):
    pass


out = Console(soft_wrap=True)  # long lines are the terminal's to wrap: a pipe gets them whole
err = Console(stderr=True, soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):  # ``fireside`` alone: what it can do
        parser.print_help()
        return 0
    try:
        config = load_config(args.config)
        return args.run(args, config)
    except FiresideError as error:  # what the user asked for cannot be done: a message, no traceback
        err.print(f"[bold red]fireside: error:[/] {error}", highlight=False)
        return 2
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fireside",
        description="Fireside chats with virtual avatars: calls, moderated panels, rehearsals.",
        epilog="Start with 'fireside serve' (a call at http://127.0.0.1:8080/) or "
        "'fireside serve --show prompts/shows/demo.yaml' (a panel); 'fireside COMMAND --help' says more.",
    )
    parser.add_argument("--config", type=Path, help="a YAML config file (default: $FIRESIDE_CONFIG, else built-in)")
    commands = parser.add_subparsers(metavar="COMMAND")
    _media_commands(commands)
    _persona_commands(commands)
    _server_commands(commands)
    _bench_command(commands)
    return parser


def _media_commands(commands) -> None:
    """Say, voices, rehearse, strip: what renders to files."""
    say = commands.add_parser("say", help="speak a text with a lip-synced avatar into an MP4")
    say.add_argument("text", help="the words to say")
    say.add_argument("--out", type=Path, required=True, help="where to write the .mp4")
    say.add_argument("--voice", help="a voice id (default: the config's voices.default, joe; see 'fireside voices')")
    say.add_argument(
        "--avatar",
        help="the face (default: the config's avatar.rig, stylized): 'stylized', 'stylized:LOOK' "
        f"(looks: {', '.join(looks())}) or 'photo:PATH' for any portrait",
    )
    say.set_defaults(run=_say)

    booth = commands.add_parser("booth", help="make a photo booth keepsake from a portrait: an MP4 and a card")
    booth.add_argument("photo", type=Path, help="a JPEG or PNG with one face, looking at the camera")
    booth.add_argument(
        "--line", help="the words to say; {name} and {title} are filled in (default: the config's first booth line)"
    )
    booth.add_argument("--name", default="", help="the attendee's name, for {name} and the card (default: none)")
    booth.add_argument("--voice", help="one of the config's booth.voices (default: the first, joe)")
    booth.add_argument(
        "--out", type=Path, required=True, help="where to write the .mp4 (the card: the same name, .png)"
    )
    booth.set_defaults(run=_booth)

    voices = commands.add_parser("voices", help="list the voices")
    voices.add_argument("--json", action="store_true", help="print them as JSON")
    voices.set_defaults(run=_voices)

    rehearse = commands.add_parser("rehearse", help="render a run-of-show to video, captions and a timing report")
    rehearse.add_argument("show", type=Path, help="a show file (see prompts/shows/)")
    rehearse.add_argument(
        "--out", type=Path, help="the folder for rehearsal.mp4, captions and report (made if need be)"
    )
    rehearse.add_argument("--llm", help="'embedded' or an OpenAI-compatible base URL (default: the config's llm)")
    rehearse.add_argument(
        "--dry-run",
        action="store_true",
        help="check the show file and its cards, print the plan and the segments likely to overrun; render nothing",
    )
    rehearse.add_argument("--no-video", action="store_true", help="captions and report only (fast)")
    rehearse.add_argument(
        "--both",
        action="store_true",
        help="burn the captions' translation into the video under them (a show with a translation section)",
    )
    rehearse.set_defaults(run=_rehearse)

    strip = commands.add_parser("strip", help="draw a frame strip of each rig speaking (for the README)")
    strip.add_argument(
        "out", type=Path, nargs="?", default=Path("docs/rigs.png"), help="the PNG (default: docs/rigs.png)"
    )
    strip.add_argument("--portrait", type=Path, help="portrait for the photo rig (default: scikit-image's astronaut)")
    strip.add_argument("--video", type=Path, help="also write both rigs side by side, speaking, to this MP4")
    strip.add_argument(
        "--mouths",
        type=Path,
        help="also draw the photo rig's mouth on each test portrait, sound by sound, to this image (PNG or JPEG)",
    )
    strip.set_defaults(run=_strip)


def _persona_commands(commands) -> None:
    """Knowledge, personas, ask, listen, llm: a persona's mind and ears."""
    knowledge = commands.add_parser("knowledge", help="a persona's documents: list them, add more, remove")
    actions = knowledge.add_subparsers(required=True, metavar="ACTION")
    show = actions.add_parser("show", help="the documents and how many passages each gave (builds the index)")
    show.add_argument("persona", help="a persona id (see 'fireside personas')")
    show.add_argument("--added", action="store_true", help="only the documents added with 'knowledge add'")
    show.add_argument("--json", action="store_true", help="print them as JSON")
    show.set_defaults(run=_knowledge_show)
    add = actions.add_parser("add", help="give a persona documents (Markdown, PDF, HTML, text)")
    add.add_argument("persona", help="a persona id (see 'fireside personas')")
    add.add_argument("files", nargs="+", type=Path, help="the documents")
    add.set_defaults(run=_knowledge_add)
    remove = actions.add_parser("remove", help="take back documents added with 'knowledge add'")
    remove.add_argument("persona", help="a persona id (see 'fireside personas')")
    remove.add_argument("names", nargs="+", help="the added documents' file names (see 'knowledge show --added')")
    remove.set_defaults(run=_knowledge_remove)

    personas = commands.add_parser("personas", help="list the persona cards (and name any broken one)")
    personas.add_argument("--json", action="store_true", help="print them as JSON")
    personas.set_defaults(run=_personas)

    ask = commands.add_parser("ask", help="ask a persona a question; print the streamed answer")
    ask.add_argument("question", help="the question, in quotes")
    ask.add_argument("--persona", required=True, help="a persona id (see 'fireside personas')")
    ask.add_argument("--llm", help="'embedded' or an OpenAI-compatible base URL (default: the config's llm)")
    ask.add_argument("--json", action="store_true", help="print every event as a JSON line")
    ask.set_defaults(run=_ask)

    translate = commands.add_parser(
        "translate", help="translate English lines from standard input, a line out for each (as the stage does)"
    )
    translate.add_argument(
        "--to", required=True, help="a language: zh-Hant-HK (Hong Kong Traditional), zh-Hans, or a language's name"
    )
    translate.add_argument("--glossary", type=Path, help="a YAML file of 'term: translation' lines (default: none)")
    translate.add_argument(
        "--model", help="qwen2.5-1.5b or qwen2.5-0.5b, or a GGUF path (default: the config's translation.model)"
    )
    translate.set_defaults(run=_translate)

    listen = commands.add_parser(
        "listen", help="transcribe an audio file: partials, finals and turns, and what decided each turn's end"
    )
    listen.add_argument("file", type=Path, help="an audio file (WAV, MP3, anything FFmpeg reads)")
    listen.add_argument("--json", action="store_true", help="print every event as a JSON line")
    listen.set_defaults(run=_listen)

    llm = commands.add_parser("llm", help="the persona model server")
    llm_commands = llm.add_subparsers(required=True, metavar="ACTION")
    vllm = llm_commands.add_parser("serve", help="start vLLM with the configured model and persona adapters")
    vllm.add_argument(
        "--python", help="the Python that has vLLM installed (default: $FIRESIDE_VLLM_PYTHON, else this one)"
    )
    vllm.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    vllm.set_defaults(run=_llm_serve)


def _server_commands(commands) -> None:
    """Serve, livekit, audit: the live event."""
    serve = commands.add_parser("serve", help="serve the browser video call (and the API for any WebRTC client)")
    serve.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1; 0.0.0.0: all)"
    )
    serve.add_argument("--port", type=int, default=8080, help="the port (default: 8080)")
    serve.add_argument("--show", type=Path, help="a show file: adds the audience's /ask and the moderator's /console")
    serve.add_argument(
        "--livekit",
        action="store_true",
        help="calls and the panel go through LiveKit: each call is a room that a `fireside livekit` worker "
        "answers, and with --show the panelists publish into a room viewers watch (LIVEKIT_URL, "
        "LIVEKIT_API_KEY, LIVEKIT_API_SECRET)",
    )
    serve.add_argument(
        "--booth", action="store_true", help="add the AI photo booth: its kiosk at /booth (see the config's booth)"
    )
    serve.set_defaults(run=_serve)

    room = commands.add_parser(
        "livekit", help="the avatar in a LiveKit room (LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET)"
    )
    room.add_argument(
        "--room", help="the room to join (without it: a worker that joins every room dispatched to agent 'fireside')"
    )
    room.add_argument("--persona", required=True, help="who speaks, unless a dispatch names another")
    room.add_argument("--listen", metavar="IDENTITY", help="the participant to listen to (default: the first to join)")
    room.set_defaults(run=_livekit)

    audit = commands.add_parser("audit", help="a panel's audit log")
    audit_actions = audit.add_subparsers(required=True, metavar="ACTION")
    check = audit_actions.add_parser("verify", help="check that no record was edited, removed or moved")
    check.add_argument("log", type=Path, help="the audit log (audit.jsonl)")
    check.set_defaults(run=_audit_verify)


BENCHES = {  # what each bench measures, and about how long it takes here
    "render": "avatar frames per second (seconds)",
    "avatar": "the mouth against the speech, measured on frames (a minute)",
    "tts": "voices' time to first audio and speed (seconds)",
    "think": "retrieval and answers, speed (minutes: builds the index cold)",
    "answers": "answer quality on the question sets and SQuAD 2.0 (minutes)",
    "listen": "transcription speed and accuracy (a minute)",
    "turns": "end of turn, paused questions and backchannels on 13 voices the tests never use (10 minutes; --calibrate: 4)",
    "call": "a real call: set-up and voice to voice (minutes)",
    "rehearse": "rendering the demo show (a minute)",
    "panel": "the live stage: ask to first audio, stop to silence (minutes)",
    "livekit": "LiveKit rooms: set-up, voice to voice, the panel to 200 and more light viewers, 1-8 callers at once "
    "(30 minutes; --nodes 2: Redis, two nodes and two workers, 5 minutes)",
    "fuzz": "bad input at every endpoint, card and show file (minutes)",
    "soak": "a call held for --minutes (30 minutes)",
    "translate": "captions into Chinese: chrF, script, glossary, speed, both models, the stage cold and warmed (25 minutes; 30 more to warm the stage the first time)",
    "chinese": "spoken Mandarin and Cantonese questions through Whisper base: character error rate (2 minutes)",
    "booth": "the photo booth: capture to keepsake, alone and beside a panel, and its cost to the stage (5 minutes)",
}


def _bench_command(commands) -> None:
    """Bench: the figures."""
    bench = commands.add_parser(
        "bench",
        help="measure speed and quality (prints figures, or JSON)",
        description="What each measures, and about how long it takes on 2 cores: "
        + "; ".join(f"{name}: {what}" for name, what in BENCHES.items()),
    )
    bench.add_argument("name", choices=list(BENCHES), help="which (see above; 'soak' takes 30 minutes)")
    bench.add_argument("--url", help="call: a running server (default: start one here)")
    bench.add_argument(
        "--llm",
        action="append",
        default=[],
        help="think, answers, livekit (its callers at once): also measure this OpenAI-compatible server (repeatable)",
    )
    bench.add_argument("--minutes", type=float, help="soak: how long the call is held (default 30)")
    bench.add_argument(
        "--calibrate", action="store_true", help="turns: choose the end-of-turn thresholds on the calibration half"
    )
    bench.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="livekit: this many LiveKit nodes sharing Redis, a worker at each, calls through all (default 1: one server)",
    )
    bench.add_argument("--json", action="store_true", help="print the figures as JSON")
    bench.add_argument("--quick", action="store_true", help="fewer rounds (a smoke test, not a figure)")
    bench.set_defaults(run=_bench)


def _say(args, config: FiresideConfig) -> int:
    from stage.offline.clip import check_output, render_clip
    from stage.session.cast import Cast

    if not args.text.strip():
        raise SpeechError("there is no text to speak")
    check_output(args.out)
    cast = Cast(config)
    cast.voices.get(args.voice or config.voices.default)  # an unknown voice or rig fails before any work
    cast.rig(args.avatar or config.avatar.rig)
    with err.status("speaking and rendering…") as status:
        report = render_clip(
            args.text,
            args.out,
            cast,
            args.voice,
            args.avatar,
            on_progress=lambda t: status.update(f"rendered {t:.1f} s…"),
        )
    out.print(
        f"wrote {report.path} ({report.duration:.2f} s of video, {report.speech:.2f} s of speech, "
        f"{report.frames} frames) in {report.elapsed:.2f} s",
        highlight=False,
    )
    return 0


def _booth(args, config: FiresideConfig) -> int:
    from stage.booth.keepsake import make_keepsake
    from stage.offline.clip import check_output
    from stage.session.cast import Cast

    if not args.photo.is_file():
        raise FiresideError(f"{args.photo} does not exist")
    check_output(args.out)
    with err.status("checking the photo, speaking and rendering…") as status:
        keepsake = make_keepsake(
            args.photo.read_bytes(),
            args.line or config.booth.lines[0],
            args.out,
            Cast(config),
            config.booth,
            name=args.name,
            voice=args.voice,
            on_progress=lambda t: status.update(f"rendered {t:.1f} s…"),
        )
    out.print(
        f"wrote {keepsake.video} ({keepsake.seconds:.1f} s) and its card {keepsake.card} "
        f"in {keepsake.elapsed:.1f} s: “{keepsake.line}”",
        highlight=False,
    )
    return 0


def _rehearse(args, config: FiresideConfig) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from stage.offline.rehearsal import check_folder, rehearse
    from stage.offline.report import clock_text
    from stage.panel.order import likely_seconds
    from stage.panel.show import load_show

    catalog = VoiceCatalog(config.voices.catalog)
    cards = _load_personas(config)
    show = load_show(args.show, cards, catalog)
    likely = [likely_seconds(segment, show, cards) for segment in show.segments]
    table = Table(
        "#",
        "segment",
        "slot",
        "likely",
        title=f"{show.title}: {len(show.segments)} segments, {clock_text(show.planned)} planned "
        f"(likely {clock_text(sum(likely))}), panel: {', '.join(show.panelists)}",
    )
    for i, (segment, seconds) in enumerate(zip(show.segments, likely)):
        over = seconds > segment.slot
        table.add_row(
            str(i + 1),
            segment.summary,
            clock_text(segment.slot),
            f"[yellow]{clock_text(seconds)}[/]" if over else clock_text(seconds),
        )
    out.print(table)
    for i, (segment, seconds) in enumerate(zip(show.segments, likely)):
        if seconds > segment.slot:
            err.print(
                f"[yellow]warning:[/] segment {i + 1} ({segment.summary[:50]}) is likely to take "
                f"{clock_text(seconds)}, over its {clock_text(segment.slot)} slot",
                highlight=False,
            )
    if args.dry_run:
        out.print(f"{args.show}: the show file is valid", highlight=False)
        return 0
    if args.out is None:
        raise OutputError("--out FOLDER is needed (or --dry-run)")
    if args.both and show.translation is None:
        raise OutputError(f"--both: {args.show} has no translation section (translation: {{to: zh-Hant-HK}})")
    check_folder(args.out)
    piped = not err.is_terminal  # a line per step, not a bar
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeRemainingColumn(),
        console=err,
        disable=piped,
    )
    with progress:
        thinking = progress.add_task("thinking and voicing", total=len(show.segments))
        rendering = progress.add_task("rendering", total=None, visible=not args.no_video)

        def planned(i: int) -> None:
            progress.update(thinking, completed=i + 1)
            if piped:
                print(f"planned segment {i + 1} of {len(show.segments)}", file=sys.stderr, flush=True)

        result = rehearse(
            show,
            cards,
            config,
            args.out,
            backend=args.llm,
            video=not args.no_video,
            on_segment=planned,
            on_frames=lambda n, total: progress.update(rendering, completed=n, total=total),
            both=args.both,
        )
    _rehearsed(show, result)
    return 0


def _rehearsed(show, result) -> None:
    from stage.offline.report import clock_text

    summary = result.report["summary"]
    out.print(
        f"{show.title}: ran {clock_text(summary['duration_seconds'])} against "
        f"{clock_text(summary['planned_seconds'])} planned ({summary['overrun_seconds']:+.1f} s); "
        f"{len(summary['segments_over_slot'])} of {summary['segments']} segments over their slot; "
        f"{summary['answers_held_or_trimmed']} of {summary['answers']} answers held or trimmed; "
        f"made in {result.seconds:.1f} s",
        highlight=False,
    )
    for path in result.files:
        out.print(f"  {path}", highlight=False)


def _translate(args, config: FiresideConfig) -> int:
    """Standard input's lines translated, one line out for each (an empty one
    where a line fails, said on standard error); 1 if any failed."""
    from stage.think.translation import Glossary, TranslationError, Translator

    settings = config.translation
    if args.model:
        settings = settings.model_copy(update={"backend": "embedded", "model": args.model})
    translator = Translator(settings, args.to, Glossary.load(args.glossary))
    failed, lines = 0, 0
    sys.stdin.reconfigure(encoding="utf-8")
    try:
        for lines, line in enumerate(sys.stdin, start=1):
            text = line.strip()
            if not text:
                print(flush=True)
                continue
            try:
                print(translator.translate_now(text).text, flush=True)
            except TranslationError as error:
                failed += 1
                err.print(f"[yellow]warning:[/] line {lines}: {error}", highlight=False)
                print(flush=True)
    except UnicodeDecodeError:
        raise TranslationError(f"standard input is not UTF-8 text (after line {lines})") from None
    return 1 if failed else 0


def _voices(args, config: FiresideConfig) -> int:
    catalog = VoiceCatalog(config.voices.catalog)
    rows = [
        {
            "id": v.id,
            "engine": v.engine,
            "language": v.language,
            "model": v.model,
            "sample_rate": v.rate(),
            "speaking_rate": v.speaking_rate,
            "description": v.description,
        }
        for v in catalog.entries.values()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table("id", "engine", "language", "sample rate", "rate", "model")
    for r in rows:
        table.add_row(r["id"], r["engine"], r["language"], str(r["sample_rate"]), f"{r['speaking_rate']:g}", r["model"])
    out.print(table)
    return 0


def _bench(args, config: FiresideConfig) -> int:
    from stage.tools import bench

    records = bench.run(
        args.name,
        config,
        quick=args.quick,
        llm=args.llm,
        url=args.url,
        minutes=args.minutes,
        calibrate=args.calibrate,
        nodes=args.nodes,
    )
    if args.json:
        print(json.dumps(records, indent=2))
    else:
        table = Table("name", "value", "unit", title=f"fireside bench {args.name}")
        for r in records:
            if r["value"] is None:
                table.add_row(r["name"], "[red]failed[/]", r["error"])
            else:
                table.add_row(r["name"], f"{r['value']:.4g}", r["unit"])
        out.print(table)
    missing = [r["name"] for r in records if r["value"] is None and r.get("required")]
    if missing:
        err.print(f"[red]not measured: {', '.join(missing)}[/]")
    return 1 if missing else 0


def _load_personas(config: FiresideConfig):
    """The cards, each checked (its voice among the configured ones); the first broken one is an error."""
    from stage.think.persona import load_personas

    folder = Path(config.personas.folder) if config.personas.folder else None
    return load_personas(folder, VoiceCatalog(config.voices.catalog).entries)


def _personas(args, config: FiresideConfig) -> int:
    """Every good card, and each broken one named (exit 2 if any is)."""
    from stage.think.persona import read_personas

    folder = Path(config.personas.folder) if config.personas.folder else None
    cards, problems = read_personas(folder, VoiceCatalog(config.voices.catalog).entries)
    if args.json:
        print(json.dumps([c.model_dump(mode="json") for c in cards.values()], indent=2, ensure_ascii=False))
    elif out.is_terminal:  # a table that folds long cells rather than cutting them
        table = Table("id", "name", "title", "voice", "avatar", "documents", "approved answers")
        for c in cards.values():
            table.add_row(c.id, c.name, c.title, c.voice, c.avatar, str(len(c.knowledge)), str(len(c.approved_answers)))
        for column in table.columns:
            column.overflow = "fold"
        out.print(table)
    else:  # piped: a line per card, tab-separated, nothing cut
        print("\t".join(["id", "name", "title", "voice", "avatar", "documents", "approved_answers"]))
        for c in cards.values():
            row = [c.id, c.name, c.title, c.voice, c.avatar, str(len(c.knowledge)), str(len(c.approved_answers))]
            print("\t".join(row))
    for problem in problems:
        err.print(f"[bold red]fireside: broken card:[/] {problem}", highlight=False)
    return 2 if problems else 0


def _card(config: FiresideConfig, persona: str):
    cards = _load_personas(config)
    if persona not in cards:
        raise UnknownPersona(persona, sorted(cards))
    return cards[persona]


def _knowledge_show(args, config: FiresideConfig) -> int:
    from stage.think.knowledge import Knowledge

    knowledge = Knowledge(_card(config, args.persona), progress=True)
    documents = [d for d in knowledge.documents if not args.added or d.source.startswith("added/")]
    rows = [{"document": d.source, "passages": d.passages, "error": d.error} for d in documents]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    table = Table("document", "passages", "status", title=f"{args.persona}: {len(knowledge.passages)} passages")
    for r in rows:
        table.add_row(r["document"], str(r["passages"]), f"[red]{r['error']}[/]" if r["error"] else "ok")
    out.print(table)
    return 0


def _knowledge_add(args, config: FiresideConfig) -> int:
    """Each file is read first: one that cannot be is reported and not added."""
    import shutil

    from stage.think.documents import read_document
    from stage.think.knowledge import Knowledge, added_dir

    card = _card(config, args.persona)
    folder, failed = added_dir(card.id), 0
    for path in args.files:
        try:
            passages = read_document(path)
        except DocumentError as error:
            err.print(f"[bold red]fireside: error:[/] persona {card.id}: {path}: {error}", highlight=False)
            failed += 1
            continue
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / path.name)
        out.print(f"added {path} to {card.id} ({len(passages)} passages)", highlight=False)
    Knowledge(card, progress=True)  # index what was added now, not at the first question
    return 2 if failed else 0


def _knowledge_remove(args, config: FiresideConfig) -> int:
    """Take back added documents by file name; a name that was never added is an error, and nothing else goes."""
    from stage.think.knowledge import added_dir

    card = _card(config, args.persona)
    folder = added_dir(card.id)
    added = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    unknown = [name for name in args.names if name not in added]
    if unknown:
        listed = ", ".join(added) or "none (a card's own documents are named in its YAML)"
        raise FiresideError(f"persona {card.id}: no added document {', '.join(map(repr, unknown))}; added: {listed}")
    for name in args.names:
        (folder / name).unlink()
        out.print(f"removed {name} from {card.id}", highlight=False)
    return 0


def _ask(args, config: FiresideConfig) -> int:
    import asyncio
    import dataclasses

    from stage.core.events import AnswerEnd, Clause, GuardrailDecision
    from stage.think.guardrails import require_question
    from stage.think.thinker import thinker_for

    question = require_question(args.question)  # before the models load: an empty one is said at once
    thinker = thinker_for(_card(config, args.persona), config, args.llm)

    async def run() -> None:
        async for event in thinker.answer(question):
            if args.json:
                print(
                    json.dumps({"event": type(event).__name__, **dataclasses.asdict(event)}, ensure_ascii=False),
                    flush=True,
                )
            elif isinstance(event, Clause):
                out.print(
                    event.text + " ", end="", highlight=False, style="italic" if event.kind == "holding" else None
                )
            elif isinstance(event, GuardrailDecision) and event.action != "allow":
                err.print(
                    f"[yellow]guardrail[/] {event.check} {event.action} ({event.rule}): {event.reason}", highlight=False
                )
            elif isinstance(event, AnswerEnd):
                out.print()
                out.print(f"[bold]sources:[/] {'; '.join(event.titles or event.sources) or '(none)'}", highlight=False)
                timings = ", ".join(f"{k} {v:g}" for k, v in event.timings.items())
                via = thinker.model.name if thinker.mode == "generated" else "the sources' own sentences"
                out.print(f"[bold]{event.outcome}[/] ({thinker.mode}) via {via}: {timings}", highlight=False)

    asyncio.run(run())
    return 0


def _listen(args, config: FiresideConfig) -> int:
    import dataclasses

    from stage.core.audio import read_wav
    from stage.core.events import Interrupted, SpeechStarted, Transcript, TurnEnded
    from stage.listen.listener import Listener

    if not args.file.is_file():
        raise AudioError(f"{args.file}: no such file")
    try:
        audio = read_wav(args.file)
    except Exception as error:  # noqa: BLE001 - PyAV's errors for a file that is not audio
        raise AudioError(f"{args.file}: not an audio file PyAV can read ({error})") from None
    listener = Listener(config.listen)
    step = 16000 // 10  # a tenth of a second at a time, as a live stream arrives
    events = []
    for i in range(0, len(audio), step):
        events += listener.feed(audio[i : i + step])
    events += listener.finish()
    turns = 0
    for event in events:
        if args.json:
            print(json.dumps({"event": type(event).__name__, **dataclasses.asdict(event)}, ensure_ascii=False))
            continue
        if isinstance(event, SpeechStarted):
            out.print(f"[dim]{event.start:7.2f}s  speech starts[/]", highlight=False)
        elif isinstance(event, Transcript):
            style = "bold" if event.final else "dim"
            label = "final  " if event.final else "partial"
            out.print(f"[{style}]{event.end:7.2f}s  {label} {event.text}[/]", highlight=False)
        elif isinstance(event, TurnEnded):
            turns += 1
            why = event.why
            if event.score is not None:
                why += (
                    f": words {event.words:.3f}, sound {event.sound:.3f}, score {event.score:+.1f},"
                    f" {event.decision_ms:.0f} ms to decide"
                )
            out.print(
                f"{event.decided:7.2f}s  turn {turns} ends ({event.start:.2f}-{event.end:.2f}s, "
                f"{1000 * (event.decided - event.end):.0f} ms after the speech; {why})",
                highlight=False,
            )
        elif isinstance(event, Interrupted):
            out.print(f"{event.at:7.2f}s  barge-in", highlight=False)
    if not args.json:
        out.print(f"{turns} turn(s) in {len(audio) / 16000:.2f} s of audio", highlight=False)
    return 0


def _serve(args, config: FiresideConfig) -> int:
    from stage.transport.server import serve

    logs.setup()
    livekit = None
    if args.livekit:
        from stage.transport.rooms.connect import LiveKitSettings

        livekit = LiveKitSettings.from_env()
    booth = None
    if args.booth:
        from stage.booth.kiosk import Booth

        booth = lambda token: Booth(config, token)  # noqa: E731
    serve(config, args.host, args.port, args.show, livekit, booth)
    return 0


def _livekit(args, config: FiresideConfig) -> int:
    import asyncio

    from stage.transport.rooms.avatar import in_room
    from stage.transport.rooms.connect import LiveKitSettings

    logs.setup()
    settings = LiveKitSettings.from_env()
    if args.room is None:
        from stage.transport.rooms.worker import serve_rooms

        job = serve_rooms(settings, config, args.persona, args.listen)
    else:
        job = in_room(settings, config, args.room, args.persona, args.listen)
    try:
        asyncio.run(job)
    except KeyboardInterrupt:
        pass
    return 0


def _llm_serve(args, config: FiresideConfig) -> int:
    from stage.tools.vllm_server import serve

    return serve(config, args.python, dry_run=args.dry_run)


def _audit_verify(args, config: FiresideConfig) -> int:
    from stage.panel.audit import verify

    if not args.log.is_file():
        raise FiresideError(f"{args.log}: no such file")
    count, problems = verify(args.log)
    for problem in problems:
        out.print(f"{args.log}: {problem}", markup=False, highlight=False, soft_wrap=True)
    if problems:
        return 1
    out.print(f"{args.log}: {count} records, the chain holds", markup=False, highlight=False, soft_wrap=True)
    return 0


def _strip(args, config: FiresideConfig) -> int:
    from stage.tools.strip import make_mouths, make_side_by_side, make_strip

    out.print(f"wrote {make_strip(args.out, config, args.portrait)}", highlight=False)
    if args.video:
        out.print(f"wrote {make_side_by_side(args.video, config, args.portrait)}", highlight=False)
    if args.mouths:
        out.print(f"wrote {make_mouths(args.mouths, config.avatar.size)}", highlight=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
