"""The rehearsal's captions (SRT and WebVTT) and its timing report (JSON and HTML)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import jinja2
import pysubs2

from stage.offline.plan import Plan


def write_captions(plan: Plan, folder: Path) -> list[Path]:
    """``captions.srt`` and ``.vtt``; with a translation, ``captions.LANGUAGE.srt`` and ``.vtt`` too."""
    tracks = {"captions": plan.captions}
    if plan.language:
        tracks[f"captions.{plan.language}"] = plan.translated
    files = []
    for name, captions in tracks.items():
        subs = pysubs2.SSAFile()
        for cue in captions:
            # at most two lines of 42 characters (16 of Chinese); a turn's first cue
            # names its speaker (stage/timeline/cues.py)
            subs.append(
                pysubs2.SSAEvent(
                    start=round(cue.start * 1000), end=round(cue.end * 1000), text=cue.text.replace("\n", r"\N")
                )
            )
        srt, vtt = folder / f"{name}.srt", folder / f"{name}.vtt"
        subs.save(str(srt), format_="srt")
        subs.save(str(vtt), format_="vtt")
        files += [srt, vtt]
    return files


def report(plan: Plan, rendered_seconds: float | None = None) -> dict:
    """Per turn: the words, sources, guardrail decisions, time to first
    audio, speaking time; per segment: the slot and the overrun; a summary."""
    show = plan.show
    answers = [t for t in plan.turns if t.kind == "answer"]
    firsts = sorted(t.first_audio_ms for t in answers if t.first_audio_ms is not None)
    over = [s for s in plan.segments if s.overrun > 0.5]
    summary = {
        "title": show.title,
        "planned_seconds": round(show.planned, 2),
        "duration_seconds": round(plan.duration, 2),
        "overrun_seconds": round(plan.duration - show.planned, 2),
        "segments": len(plan.segments),
        "segments_over_slot": [s.index for s in over],
        "answers": len(answers),
        "answers_held_or_trimmed": sum(t.outcome in ("held", "trimmed", "cut at the time limit") for t in answers),
        "guardrail_flags": sum(len(t.guardrails) for t in plan.turns),
        "first_audio_ms_p50": firsts[len(firsts) // 2] if firsts else None,
        "thinking_seconds": round(plan.thinking_seconds, 2),
    }
    if rendered_seconds is not None:
        summary["render_seconds"] = round(rendered_seconds, 2)
        summary["real_time_multiple"] = round(plan.duration / rendered_seconds, 2) if rendered_seconds else None
    return {
        "summary": summary,
        "segments": [
            {
                **asdict(s),
                "duration": round(s.duration, 3),
                "overrun": round(s.overrun, 3),
                "start": round(s.start, 3),
                "end": round(s.end, 3),
            }
            for s in plan.segments
        ],
        "turns": [
            {**asdict(t), "start": round(t.start, 3), "end": round(t.end, 3), "speaking_seconds": round(t.speaking, 3)}
            for t in plan.turns
        ],
    }


def write_report(data: dict, folder: Path) -> tuple[Path, Path]:
    path_json, path_html = folder / "report.json", folder / "report.html"
    path_json.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent), autoescape=True)
    env.filters["clock"] = clock_text
    path_html.write_text(env.get_template("report.html.j2").render(**data), encoding="utf-8")
    return path_json, path_html


def clock_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    return f"{sign}{int(seconds // 60)}:{seconds % 60:04.1f}"
