"""LiveKit rooms (LiveKit is the open-source WebRTC SFU): the transport for
an audience that outgrows one machine.

- ``connect``: where the server is, its keys, tokens, and joining a room;
- ``publish``: a face and a voice published in step, and captions sent as
  LiveKit transcriptions;
- ``avatar``: a call's avatar in a room (``fireside livekit --room``);
- ``worker``: one process, the avatar in any number of rooms, dispatched by
  livekit-agents (``fireside livekit`` without ``--room``);
- ``panel``: the moderated panel in the show's room (``fireside serve --show
  SHOW.yaml --livekit``).
"""
