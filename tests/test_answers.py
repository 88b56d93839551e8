"""Answers that answer the question asked: the shipped shows' questions from
the sections that hold their answers, a topic question from its section, each
part of a two-part question from its own source, questions about the persona
from its card, near-miss questions held, and no fragment on real articles."""

import asyncio

import pytest

from stage.core.config import LLMSettings
from stage.core.events import AnswerEnd, Clause
from stage.core.paths import SHOWS
from stage.panel.show import load_show
from stage.think.clauses import sentences
from stage.think.questions import about_persona, parts, topic_of
from stage.think.thinker import Thinker, collect
from stage.tools import squad
from voices.catalog import VoiceCatalog

# where the answer to each question of the shipped shows is (those a panelist can answer)
SHOW_SOURCES = {
    ("ada", "Ada, what is open banking?"): "knowledge/ada/open-banking.md#what-open-banking-is",
    ("ravi", "Ravi, how do banks detect fraud?"): "knowledge/ravi/scams.md#how-banks-detect-fraud",
    (
        "ada",
        "Ada, in the bank's sandbox report, how fast did the new system score a payment?",
    ): "knowledge/ada/genai-sandbox-report.pdf#page=10",
    ("ada", "To close, where are banks using AI today?"): "knowledge/ada/generative-ai.md#where-banks-use-it-today",
    ("mei", "What is a tokenised deposit?"): "knowledge/mei/digital-money.md#tokenised-deposits",
    ("ada", "When did FPS launch?"): "knowledge/ada/payments.md#faster-payment-system",
}


@pytest.fixture(scope="module")
def thinkers(cards):
    return {pid: Thinker(card, None, LLMSettings(answer_mode="extractive")) for pid, card in cards.items()}


def ask(thinker: Thinker, question: str) -> tuple[AnswerEnd, list[Clause]]:
    events = asyncio.run(collect(thinker, question))
    return events[-1], [e for e in events if isinstance(e, Clause)]


def said(clauses: list[Clause]) -> str:
    return " ".join(c.text for c in clauses)


def test_every_question_of_the_shipped_shows_is_answered_from_its_section(cards, thinkers):
    asked = set()
    for path in sorted(SHOWS.glob("*.yaml")):
        show = load_show(path, cards, VoiceCatalog())
        for segment in show.segments:
            if segment.kind != "ask" or segment.answer:
                continue
            for pid in show.panelists if segment.to == "all" else [segment.to]:
                if (pid, segment.ask) in SHOW_SOURCES:
                    asked.add((pid, segment.ask))
                    end, clauses = ask(thinkers[pid], segment.ask)
                    expected = SHOW_SOURCES[(pid, segment.ask)]
                    # the whole answer comes from the section that holds it: nothing from elsewhere
                    assert set(end.sources) == {expected}, (segment.ask, end.sources, said(clauses))
                    assert set(clauses[0].sources) == {expected}
    assert asked == set(SHOW_SOURCES)  # every question listed is still in a show


def test_the_demo_fraud_question_leads_with_its_section_and_speed_has_no_padding(thinkers):
    end, clauses = ask(thinkers["ravi"], "How do banks detect fraud?")
    assert said(clauses).startswith("Banks score every payment in real time")
    end, clauses = ask(thinkers["ada"], "How fast did the sandbox's system score a payment?")
    answer = said(clauses)
    assert "41 milliseconds" in sentences(answer)[0] and "Faster Payment System" not in answer, answer


@pytest.mark.parametrize(
    "question",
    ["Tell me about deepfake scams", "What do you know about deepfakes?", "Explain deepfakes."],
)
def test_a_topic_question_is_answered_from_the_section_about_it(thinkers, question):
    end, clauses = ask(thinkers["ravi"], question)
    assert end.outcome == "answered" and end.sources == ("knowledge/ravi/scams.md#deepfakes",), said(clauses)
    assert said(clauses).startswith("Criminals now use deepfake voices and videos")


def test_each_part_of_a_two_part_question_is_answered_from_its_own_source(thinkers):
    end, clauses = ask(thinkers["ada"], "What is open finance, and when did FPS launch?")
    answer = said(clauses)
    assert "September 2018" in answer and "open finance" in answer.lower(), answer
    assert {"knowledge/ada/open-banking.md#open-finance", "knowledge/ada/payments.md#faster-payment-system"} <= set(
        end.sources
    )
    assert parts("What is open finance? And how is it regulated?") == ["What is open finance?", "How is it regulated?"]
    assert parts("What are the risks and benefits of AI?") == ["What are the risks and benefits of AI?"]


@pytest.mark.parametrize(
    "question", ["What's your name?", "Are you a real person?", "Who runs you?", "Who am I talking to?"]
)
def test_a_question_about_the_persona_is_answered_from_its_card(thinkers, question):
    assert about_persona(question)
    end, clauses = ask(thinkers["ravi"], question)
    answer = said(clauses)
    assert end.outcome == "approved" and "Ravi Menon" in answer and "AI avatar" in answer, answer
    assert "organisers run me" in answer  # the card's `about`


def test_questions_about_the_knowledge_are_not_taken_for_questions_about_the_persona():
    for question in (
        "How do banks detect fraud?",
        "Who runs the Faster Payment System?",
        "What is your view on CBDCs?",
    ):
        assert not about_persona(question), question
    assert topic_of("Tell me about deepfake scams") == "deepfake scams"
    assert topic_of("How do banks detect fraud?") == "How do banks detect fraud?"


@pytest.mark.parametrize(
    ("persona", "question"),
    [
        # a number the documents never pair with the subject ("about 25 million US dollars")
        ("ravi", "What happened after an employee transferred 40 million US dollars?"),
        # a name the documents never use
        ("ada", "When did FPS launch in Singapore?"),
        # a number asked for that no close sentence has
        ("mei", "How many transactions per second can a shared ledger handle?"),
    ],
)
def test_a_near_miss_question_is_held_not_answered_with_a_neighbouring_fact(thinkers, persona, question):
    end, clauses = ask(thinkers[persona], question)
    assert end.outcome == "held", said(clauses)


# a made-up town (so no fact is known from elsewhere): a year, a decade and a
# century are all dates; the sentence that names the leader starts "They were led by"
TOWN = {
    "Kestrel Bay": [
        "Kestrel Bay is a harbour town on the west coast. It was founded by fishing families from the north. "
        "They were led by a boat builder named Ansel Marr, who agreed to pay a yearly tax to the governor.",
        "The chapel on the hill was built in 1650 from the wreck of a trading ship. A stone breakwater was added "
        "in the 1920s. The harbour itself was first deepened in the 18th century.",
    ]
}


@pytest.mark.parametrize(
    "question, lead",
    [
        ("Which boat builder led the families?", "Ansel Marr"),
        ("When was the chapel on the hill built?", "1650"),
        ("When was the stone breakwater added?", "1920s"),
        ("When was the harbour first deepened?", "18th century"),
    ],
)
def test_the_sentence_that_answers_is_spoken_first(tmp_path, question, lead):
    """Dates are years, decades and centuries alike; a lead that starts "They ..." is still spoken first."""
    thinker = Thinker(squad.persona(TOWN, tmp_path), None, LLMSettings(answer_mode="extractive"))
    end, clauses = ask(thinker, question)
    assert end.outcome == "answered" and lead in sentences(said(clauses))[0], said(clauses)


def test_answers_on_real_articles_have_no_fragments():
    if not squad.DEFAULT_FILE.is_file():
        pytest.skip(f"no SQuAD 2.0 file at {squad.DEFAULT_FILE} (shared/data beside the checkout)")
    folder, card, questions = squad.temporary_persona(squad.DEFAULT_FILE)
    with folder:
        thinker = Thinker(card, None, LLMSettings(answer_mode="extractive"))
        verdicts = [squad.judge(q, asyncio.run(collect(thinker, q.question))) for q in questions[::3]]
    assert [v.fragments for v in verdicts if v.fragments] == []
    # an answer is about 45 words (two sentences of Wikipedia), never the whole paragraph
    assert max(v.words for v in verdicts) <= 90


@pytest.mark.parametrize("question", ["", "   ", "\n\t", " ?? "])
def test_an_empty_question_is_refused_with_a_clear_message(thinkers, question):
    from stage.think.guardrails import EmptyQuestion

    with pytest.raises(EmptyQuestion, match="the question is empty"):
        ask(thinkers["ada"], question)
