"""The server's log as a person reads it: Fireside's own messages at info;
the libraries' chatter (ICE and DTLS states, index builds, PDF warnings,
HTTP client requests) only when it is a warning or worse."""

from __future__ import annotations

import logging
import warnings

QUIET = {
    "aioice": logging.WARNING,  # every ICE candidate pair's state
    "aiortc": logging.WARNING,  # every DTLS and RTP state
    "bm25s": logging.WARNING,
    "pypdf": logging.ERROR,  # "incorrect startxref pointer" and the like, on PDFs it reads anyway
    "httpx": logging.WARNING,  # a line per request to a model server
    "faster_whisper": logging.WARNING,
    "livekit": logging.WARNING,
    "livekit.agents": logging.WARNING,
    "asyncio": logging.WARNING,
    "kokoro_onnx": logging.WARNING,
}


def setup(level: int = logging.INFO) -> None:
    """Log lines as ``time name message`` at ``level``, the libraries kept quiet."""
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(message)s")
    for name, quiet in QUIET.items():
        logging.getLogger(name).setLevel(max(level, quiet))
    warnings.filterwarnings("ignore", module="pypdf")
