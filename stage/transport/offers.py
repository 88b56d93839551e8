"""WebRTC offers, answered one way for every endpoint (a call, a stage
viewer, the moderator's microphone), and the connections they open.

:func:`accept_offer` makes the peer connection, lets its owner attach
handlers before the offer is applied (its tracks are announced while it
is), applies it, lets the owner check it and add the answer's tracks, and
answers. A connection that fails or closes, an offer refused half-way, and
a shutdown all end a connection the same way: :meth:`Peer.close`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Coroutine, Iterator

from aiortc import RTCPeerConnection, RTCSessionDescription, sdp

from stage.transport.bodies import Offer
from stage.transport.http import RequestError
from stage.transport.webrtc import consume_microphone, listen_without_delay

log = logging.getLogger("fireside.offers")

# A connection not up this long after its answer is given up: a caller gone
# before its connection came up (a closed tab, a lost network) would
# otherwise be kept for ever, since aioice waits without end for a
# nomination that never comes, and only checks consent once connected.
CONNECT_SECONDS = 10.0


class Peer:
    """One open connection, and the tasks that live as long as it does."""

    def __init__(
        self, pc: RTCPeerConnection, name: str, peers: Peers, on_close: Callable[[], Awaitable[None]] | None = None
    ):
        self.pc, self.name, self.peers = pc, name, peers
        self.on_close = on_close
        self.tasks: set[asyncio.Task] = set()
        self.closed = False

    def run(self, work: Coroutine) -> asyncio.Task:
        """Run ``work`` until it ends or the connection closes."""
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def transceivers(self, kind: str) -> list:
        return [t for t in self.pc.getTransceivers() if t.kind == kind]

    def answer(self) -> dict:
        """The answer, for the reply: ``{"sdp", "type"}``."""
        return {"sdp": self.pc.localDescription.sdp, "type": self.pc.localDescription.type}

    async def close(self) -> None:
        """Forget the connection, run its owner's close, close it, and end its tasks (once)."""
        if self.closed:
            return
        self.closed = True
        self.peers.forget(self)
        try:
            if self.on_close is not None:
                await self.on_close()
        finally:
            try:
                await self.pc.close()
            except Exception as exc:  # noqa: BLE001 - aiortc fails closing some half-applied offers
                log.warning("closing %s: %s: %s", self.name, type(exc).__name__, exc)
            tasks = [t for t in self.tasks if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


class Peers:
    """The open connections of one owner, by name: what a shutdown closes."""

    def __init__(self):
        self._open: dict[str, Peer] = {}

    def __len__(self) -> int:
        return len(self._open)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._open))

    def count(self, prefix: str = "") -> int:
        """How many are open whose name starts with ``prefix``."""
        return sum(name.startswith(prefix) for name in self._open)

    def add(self, peer: Peer) -> None:
        self._open[peer.name] = peer

    def forget(self, peer: Peer) -> None:
        if self._open.get(peer.name) is peer:
            del self._open[peer.name]

    async def close_all(self) -> None:
        await asyncio.gather(*(peer.close() for peer in list(self._open.values())))


async def accept_offer(
    offer: Offer,
    peers: Peers,
    *,
    name: str | None = None,
    setup: Callable[[Peer], None] | None = None,
    prepare: Callable[[Peer], None] | None = None,
    on_close: Callable[[], Awaitable[None]] | None = None,
) -> Peer:
    """A connection for ``offer``, answered, and kept in ``peers`` until it ends.

    ``setup(peer)`` adds handlers before the offer is applied;
    ``prepare(peer)`` checks the applied offer and adds the answer's tracks
    (a :class:`RequestError` refuses it); ``on_close()`` runs when the
    connection ends, however it ends. A malformed offer is a 400."""
    pc = RTCPeerConnection()
    peer = Peer(pc, name or f"peer-{id(pc)}", peers, on_close)
    if setup is not None:
        setup(peer)

    @pc.on("connectionstatechange")
    async def on_state() -> None:
        if pc.connectionState in ("failed", "closed"):
            await peer.close()

    peers.add(peer)
    try:
        try:
            _check_dtls(offer.sdp)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        except Exception as exc:  # noqa: BLE001 - aiortc's parse errors vary: ValueError, KeyError...
            raise RequestError(400, f"malformed SDP offer: {type(exc).__name__}: {exc}") from None
        if prepare is not None:
            prepare(peer)
        try:
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:  # noqa: BLE001 - an offer aiortc took but cannot answer (a section lost its mid)
            raise RequestError(400, f"the SDP offer cannot be answered: {type(exc).__name__}: {exc}") from None
    except BaseException:
        await peer.close()
        raise
    peer.run(_connected_or_closed(peer, CONNECT_SECONDS))
    return peer


async def _connected_or_closed(peer: Peer, seconds: float) -> None:
    await asyncio.sleep(seconds)
    if peer.pc.connectionState != "connected":
        log.warning(
            "%s: not connected %.0f s after its answer (%s): given up", peer.name, seconds, peer.pc.connectionState
        )
        await peer.close()


def _check_dtls(text: str) -> None:
    """Every media section names its DTLS setup and fingerprint: aiortc
    takes an offer without them and only fails later, connecting."""
    for media in sdp.SessionDescription.parse(text).media:
        if media.dtls is None or not media.dtls.fingerprints:
            raise ValueError(f"the {media.kind} section has no DTLS fingerprint or setup")


def hear_microphone(peer: Peer, listener) -> None:
    """Feed the offer's audio to ``listener`` (its ``hear``) as each packet
    arrives: a task of the connection's. Call it from ``setup``."""

    @peer.pc.on("track")
    def on_track(track) -> None:
        if track.kind == "audio":
            peer.run(consume_microphone(track, listener))


def without_playout_wait(peer: Peer) -> None:
    """The offer's audio is listened to, not played: no jitter-buffer wait
    (see :func:`listen_without_delay`). Call it from ``prepare``."""
    for transceiver in peer.transceivers("audio"):
        listen_without_delay(transceiver.receiver)
