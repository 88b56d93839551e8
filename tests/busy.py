"""Run a command while other work keeps every core busy: ``python
tests/busy.py COMMAND...`` (``make test-under-load``). One process per core
spins at normal priority for as long as the command runs; the command's
waits are told the machine is busy (``FIRESIDE_TEST_PATIENCE``, see
tests/waiting.py). Its exit status is the command's."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys


def spin() -> None:
    x = 0
    while True:
        x = (x * 1103515245 + 12345) % 2147483648


def main(command: list[str]) -> int:
    if not command:
        print("usage: python tests/busy.py COMMAND...", file=sys.stderr)
        return 2
    spinners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(os.cpu_count() or 1)]
    for spinner in spinners:
        spinner.start()
    print(f"busy.py: {len(spinners)} processes keep the cores busy while {' '.join(command)} runs", flush=True)
    try:
        return subprocess.call(
            command, env={**os.environ, "FIRESIDE_TEST_PATIENCE": os.environ.get("FIRESIDE_TEST_PATIENCE", "3")}
        )
    finally:
        for spinner in spinners:
            spinner.terminate()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
