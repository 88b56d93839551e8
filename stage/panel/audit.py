"""The panel's audit log: append-only JSON lines, one per record, each with
``at`` (UTC, ISO) and ``event``, chained so that an edit shows.

Each record carries ``prev``, the hash of the record before it, and
``hash``, the SHA-256 of its own line without ``hash`` (``prev`` included).
An edited record no longer matches its hash; a removed, added or moved one
breaks the chain at the next line. :func:`verify` (``fireside audit verify
LOG``) names the line.

Writing never stops the show. When the disk is full or read-only, records
wait in memory, in order, and go to the file at the next write that
succeeds; ``failing`` says why meanwhile (the console shows it). What the
file already holds is never rewritten.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger("fireside.audit")

GENESIS = "0" * 64  # the ``prev`` of a log's first record


def _line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False)


def sealed(record: dict, prev: str) -> dict:
    """``record`` chained after the record whose hash is ``prev``."""
    chained = {**record, "prev": prev}
    return {**chained, "hash": hashlib.sha256(_line(chained).encode()).hexdigest()}


class AuditLog:
    """A show's audit log at ``path``: :meth:`write` appends a record, :meth:`records` reads them back."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._waiting: list[str] = []  # lines not yet on disk (it refused them)
        self.failing: str | None = None  # why the last write did not reach the disk
        self._last = GENESIS
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, "rb+") as file:  # a torn last line is closed, so the next record is whole
                file.seek(-1, 2)
                if file.read(1) != b"\n":
                    file.write(b"\n")
            records = self.records()
            self._last = records[-1].get("hash", GENESIS) if records else GENESIS

    def write(self, event: str, **fields) -> dict:
        with self._lock:
            at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
            record = sealed({"at": at, "event": event, **fields}, self._last)
            self._last = record["hash"]
            self._waiting.append(_line(record) + "\n")
            self._flush()
        return record

    def _flush(self) -> None:
        try:
            with open(self.path, "a", encoding="utf-8") as out:
                while self._waiting:
                    out.write(self._waiting[0])
                    out.flush()
                    self._waiting.pop(0)
        except OSError as err:
            if self.failing is None:
                log.error("the audit log %s cannot be written (%s): records wait in memory", self.path, err)
            self.failing = f"the audit log cannot be written ({err.strerror or err}); {len(self._waiting)} records wait"
        else:
            if self.failing is not None:
                log.warning("the audit log %s is written again", self.path)
            self.failing = None

    def records(self) -> list[dict]:
        """Every whole record, on disk and waiting; a torn line is skipped."""
        found = []
        if self.path.exists():
            with open(self.path, encoding="utf-8", errors="replace") as file:
                found = [r for r in map(_record, file) if r is not None]
        with self._lock:
            return found + [r for r in map(_record, self._waiting) if r is not None]


def _record(line: str) -> dict | None:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) and "event" in record else None


@dataclass(frozen=True)
class Problem:
    line: int  # 1-based
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


def verify(path: Path) -> tuple[int, list[Problem]]:
    """How many records ``path`` holds, and every place its chain does not hold."""
    problems, prev, count = [], GENESIS, 0
    with open(path, "rb") as file:
        for number, raw in enumerate(file, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                problems.append(Problem(number, "not a whole record (torn by a crash, or changed by hand)"))
                prev = None  # the next line cannot be checked against it
                continue
            if not isinstance(record, dict) or "hash" not in record or "prev" not in record:
                problems.append(Problem(number, "a record with no hash: not written by this log"))
                prev = None
                continue
            count += 1
            body = {k: v for k, v in record.items() if k != "hash"}
            if hashlib.sha256(_line(body).encode()).hexdigest() != record["hash"]:
                problems.append(Problem(number, "edited: the record does not match its hash"))
            elif prev is not None and record["prev"] != prev:
                before = "the log's start" if prev == GENESIS else f"line {number - 1}"
                problems.append(Problem(number, f"does not follow {before}: a record was removed, added or moved"))
            prev = record["hash"]
    return count, problems


def cited(clauses) -> list[dict]:
    """What an answer said with the sources it came from, as rehearsal's report
    and the live audit log both record it: the clauses of one source's
    sentence read as one line, each line with its sources' titles."""
    lines: list[dict] = []
    for clause in clauses:
        if not clause.titles:
            continue
        if lines and lines[-1]["titles"] == list(clause.titles):
            lines[-1]["text"] += " " + clause.text
        else:
            lines.append({"text": clause.text, "titles": list(clause.titles)})
    return lines
