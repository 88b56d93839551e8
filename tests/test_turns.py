"""Turn-taking on real speech: Smart Turn and the words end a turn, a pause
inside a question does not, and speech over the avatar pauses it until it is
clear whether the person takes the turn (real Piper and espeak-ng, Whisper,
Silero, Smart Turn and Qwen2.5-0.5B; the questions are not the benchmark's)."""

import asyncio

import numpy as np
import pytest

from stage.core.config import ListenSettings
from stage.core.events import FalseInterruption, Interrupted, SpeechPlaced, SpeechStopped, TurnEnded
from stage.listen.turns import is_backchannel, is_false_start, judge_pause
from stage.tools.bench.common import speech16, speech_end
from stage.tools.bench.listening import listen_to, paused, spoken
from stage.tools.bench.turns import Voice

SMART = ListenSettings()  # end_of_turn: model, the default


def ended(events):
    return [e for e in events if isinstance(e, TurnEnded)]


def test_a_paused_question_is_one_turn(joe):
    audio, resumes = paused(joe, "Could you tell me", "when the faster payment system launched?", 0.8)
    rate = joe.sample_rate
    whole = np.concatenate([np.zeros(rate // 2, np.float32), audio, np.zeros(rate * 3, np.float32)])
    turns = ended(listen_to(whole, rate, SMART)[0])
    assert len(turns) == 1 and turns[0].decided > 0.5 + resumes, turns
    assert "tell me" in turns[0].text.lower() and "launch" in turns[0].text.lower()


def test_a_complete_question_ends_well_before_the_old_half_second(joe):
    rate = joe.sample_rate
    for question in ("How can banks protect older customers from fraud?", "When did the faster payment system launch?"):
        audio = spoken(joe, question)[0]
        whole = np.concatenate([np.zeros(rate // 2, np.float32), audio, np.zeros(rate * 3, np.float32)])
        events, listener = listen_to(whole, rate, SMART)
        (turn,) = ended(events)
        delay = turn.decided - (0.5 + speech_end(audio, rate))
        assert delay < 0.35, (question, delay)  # the fixed hangover alone took 0.5 s and more
        assert listener.turns.model.compute  # Smart Turn was asked


def test_the_words_and_the_sound_are_weighed_together():
    s = SMART
    question = "When did the faster payment system launch?"
    assert judge_pause(0.4, 0.9, -0.3, s, question) == "complete"  # a whole question that sounds finished
    assert judge_pause(0.4, 0.9, -0.3, s, "Good morning,") == "doubtful"  # a greeting: the question may follow
    assert judge_pause(0.00003, 0.05, -0.3, s, "Can you tell me how") == "unfinished"  # trailing off
    # neither reading alone is enough: Whisper may make a fragment a sentence,
    # and Smart Turn hears many whole questions on a synthetic voice as half ones
    assert judge_pause(0.00003, 0.95, -0.3, s, question) != "complete"
    assert judge_pause(0.4, 0.001, -0.3, s, question) != "complete"
    assert judge_pause(0.4, 0.9, -1.5, s, question) != "complete"  # words Whisper was unsure of count for less
    only_words = ListenSettings(words_weight=1.0, complete_threshold=0.0)
    assert judge_pause(0.4, 0.9, -0.3, only_words, question) != "complete"
    assert ListenSettings(end_of_turn="smart-turn").end_of_turn == "model"  # its old name still reads
    assert is_backchannel("Mm-hmm.") and is_backchannel("MMMM.") and is_backchannel("")
    assert not is_backchannel("Why?") and not is_backchannel("Right, but what about cash?")


def test_the_text_model_reads_what_the_words_say():
    from stage.listen.sentence_end import SentenceEnd, normalized

    assert normalized("Mm-hmm, what's the 'role' of -- a bank?") == "mm-hmm what's the role of a bank"
    model = SentenceEnd()
    whole, half = model("Can you tell me how deposit insurance works?"), model("Can you tell me how")
    assert whole > 0.05 > 0.001 > half, (whole, half)
    model.warm("my question is why do payments")
    assert model("My question is why do payments abroad cost so much?") > 30 * model("My question is")
    assert model("") == 0.0 and len(model.compute) == 4  # each call that read words, timed


UNHEARD = Voice("espeak-ng Lancaster English", espeak=("en-gb-x-gbclan", 160, 40))  # no other test speaks with it


@pytest.mark.parametrize(
    "first, rest, pause",
    [
        ("My question is", "why do payments abroad cost so much?", 0.8),
        ("I was wondering", "how long a transfer to Europe takes.", 0.9),
        ("Could you tell me", "what a central bank does in a crisis?", 0.6),
    ],
)
def test_a_paused_question_in_an_unheard_voice_is_one_turn(catalog, first, rest, pause):
    from stage.tools.bench.turns import LEAD, Speaker, _in_room, _resumes

    speaker = Speaker(UNHEARD, catalog)
    audio = speaker.say(first, rest, pause)
    events, listener = listen_to(_in_room(audio, None, 0), 16000, SMART)
    turns = ended(events)
    assert len(turns) == 1 and turns[0].decided > LEAD + _resumes(audio), (turns, listener.turns.judged)
    heard = turns[
        0
    ].text.lower()  # Whisper tiny.en mishears some of this voice's words ("to Europe takes": "to your appendix")
    assert first.split()[-1].lower() in heard and any(w in heard for w in rest.lower().split()[:3]), heard
    first_pause = listener.turns.judged[0]  # the thinking pause, judged and waited out
    assert first_pause.resumed is not None and first_pause.verdict != "complete", first_pause
    # the question, once finished, ends
    whole = speaker.say(f"{first} {rest}")
    (turn,) = ended(listen_to(_in_room(whole, None, 0), 16000, SMART)[0])
    assert turn.why in ("complete", "doubtful") and turn.words is not None and turn.decision_ms > 0, turn


def test_a_backchannel_in_an_unheard_voice_over_the_avatar_takes_no_turn(catalog):
    from stage.tools.bench.turns import Speaker, _in_room

    speaker = Speaker(UNHEARD, catalog)
    # ("Mm-hmm." in this voice Whisper tiny.en hears as "And then them.", a turn: see the README)
    for word in ("Right.", "Okay.", "Yes."):
        audio = np.concatenate([np.zeros(8000, np.float32), speaker.say(word)])
        events = listen_to(_in_room(audio, None, 0), 16000, SMART, avatar=True)[0]
        assert any(isinstance(e, Interrupted) for e in events) and not ended(events), (word, events)
        assert any(isinstance(e, FalseInterruption) for e in events), (word, events)


def test_a_false_start_over_the_avatar_takes_no_turn_but_a_sentence_does(joe):
    """A word or two that trail off ("Sorry, but...") and silence: the avatar
    goes on; the same start with a question after it is a turn."""
    assert is_false_start("But I...") and is_false_start("So, um.") and not is_false_start("Stop.")
    assert not is_false_start("But I think you are wrong...") and not is_false_start("Why?")
    rate = joe.sample_rate
    quiet = np.zeros(rate, np.float32)
    for mode in ("smart-turn", "silence"):
        settings = ListenSettings(end_of_turn=mode)
        events = listen_to(
            np.concatenate([quiet, spoken(joe, "Sorry, but")[0], quiet, quiet, quiet]), rate, settings, True
        )[0]
        assert any(isinstance(e, Interrupted) for e in events) and not ended(events), events
        (back,) = [e for e in events if isinstance(e, FalseInterruption)]
        assert "sorry" in back.text.lower()
        audio, _ = paused(joe, "Sorry, but", "what does a stablecoin hold?", 0.4)
        events = listen_to(np.concatenate([quiet, audio, quiet, quiet, quiet]), rate, settings, True)[0]
        (turn,) = ended(events)
        assert "stablecoin" in turn.text.lower().replace(" ", "") and not any(
            isinstance(e, FalseInterruption) for e in events
        )


ANSWER = (
    "Open banking lets you share your bank data with other firms you trust. "
    "It helps small businesses compare loans and manage their cash."
)


async def talk_over(session, what: np.ndarray, after: float, until_turn: bool = False) -> np.ndarray:
    """The avatar says ``ANSWER``; ``after`` seconds in, ``what`` (16 kHz) is
    said over it, then silence follows until the session is quiet again (or,
    ``until_turn``, until the person's turn ends). Returns the voice as a
    transport reads it, 20 ms at a time on the clock."""
    heard, read = [], 0

    async def transport():
        nonlocal read
        while True:
            due = round(session.now() * 48000)
            while read + 960 <= due:
                heard.append(session.playback.read(read, 960, session.persona_id))
                read += 960
            await asyncio.sleep(0.01)

    reader = asyncio.create_task(transport())
    task = session.say(ANSWER)
    while not session.speaking:
        await asyncio.sleep(0.01)
    started = session.now()
    mic = np.concatenate([np.zeros(round(after * 16000), np.float32), what, np.zeros(4 * 16000, np.float32)])
    for i in range(0, len(mic), 320):  # 20 ms packets, as a microphone sends them
        while session.now() < started + i / 16000:
            await asyncio.sleep(0.005)
        await session.hear(mic[i : i + 320], 16000, 1)
        if until_turn and ended(e for _, e in session.events):
            break
        if not until_turn and i / 16000 > after + 1.5 and not session.speaker.paused and not session.speaker.busy:
            break
    while not until_turn and (session.speaking or session.speaker.paused or not task.done()):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.1)
    reader.cancel()
    await session.close()
    return np.concatenate(heard).astype(np.float32) / 32768


def voiced_seconds(audio: np.ndarray) -> float:
    frames = audio[: len(audio) // 480 * 480].reshape(-1, 480)
    return float((np.abs(frames).max(1) > 0.02).sum() * 0.01)


@pytest.fixture
def session_for(cards, config, runtime):
    from avatar.rigs import load_rig
    from stage.session.call import CallSession
    from stage.think.thinker import thinker_for
    from voices.catalog import VoiceCatalog

    def make():
        card = cards["ada"]
        rig = load_rig("stylized", 128)
        return CallSession("ada", thinker_for(card, config), VoiceCatalog().engine(card.voice), rig, runtime=runtime)

    return make


def kinds(session):
    return [type(e).__name__ for _, e in session.events]


def test_a_backchannel_pauses_the_avatar_which_then_says_its_whole_answer(session_for, joe, catalog):
    alone = session_for()
    whole = voiced_seconds(asyncio.run(talk_over(alone, np.zeros(16000, np.float32), 1.0)))
    for word, engine in (("Mm-hmm.", joe), ("Right.", catalog.engine("espeak-en")), ("Ahem! Ahem!", joe)):
        session = session_for()
        heard = asyncio.run(talk_over(session, speech16(engine, word), 1.5))
        events = [e for _, e in session.events]
        assert any(isinstance(e, Interrupted) for e in events), (word, kinds(session))  # it paused
        assert any(isinstance(e, FalseInterruption) for e in events), (word, kinds(session))  # and went on
        assert not ended(events)  # no turn: nothing was asked, no answer dropped
        # every word is heard: a pause splits a word or two (a few loud 10 ms frames
        # either side of it), where a dropped answer would lose seconds
        assert abs(voiced_seconds(heard) - whole) < 0.3, (word, voiced_seconds(heard), whole)
        stopped = [e for e in events if isinstance(e, SpeechStopped)]
        assert not stopped


def test_a_real_question_over_the_avatar_cuts_its_answer(session_for, joe):
    session = session_for()
    asyncio.run(talk_over(session, speech16(joe, "Sorry, how do banks detect fraud?"), 1.5, until_turn=True))
    events = [e for _, e in session.events]
    assert any(isinstance(e, Interrupted) for e in events)
    turns = ended(events)
    assert turns and "fraud" in turns[-1].text.lower(), kinds(session)
    assert not any(isinstance(e, FalseInterruption) for e in events)
    # the first answer is dropped where it paused, before its last words
    stopped = next(e.at for e in events if isinstance(e, SpeechStopped))
    first = [e for e in events if isinstance(e, SpeechPlaced) and e.start < stopped]
    assert first and stopped < first[-1].end


def test_a_cough_does_not_end_the_avatars_answer(session_for):
    from stage.tools.bench.listening import cough

    alone = voiced_seconds(asyncio.run(talk_over(session_for(), np.zeros(16000, np.float32), 1.0)))
    session = session_for()
    heard = asyncio.run(talk_over(session, cough(16000) * 1.5, 1.5))
    events = [e for _, e in session.events]
    assert not ended(events) and not any(isinstance(e, SpeechStopped) for e in events)
    assert abs(voiced_seconds(heard) - alone) < 0.15
