"""Where sentences end in real text: abbreviations, decimals, initials,
quotes, brackets and lists, cut alike whole (``sentences``) and streamed
(``ClauseSplitter``), and the SQuAD paragraphs (Wikipedia) cut cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stage.think.clauses import ClauseSplitter, ends_sentence, sentences

SQUAD = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "squad2-dev-normans-sky.json"

CASES = [
    # abbreviations that close sentences: a cut only before a capital
    ("He moved to the U.S. in 1990. He stayed.", ["He moved to the U.S. in 1990.", "He stayed."]),
    ("She lives in the U.S. Her brother does not.", ["She lives in the U.S.", "Her brother does not."]),
    ("The U.K. government agreed. Others did not.", ["The U.K. government agreed.", "Others did not."]),
    ("It is in the U.K. The rest is not.", ["It is in the U.K.", "The rest is not."]),
    ("It was bought by Acme Inc. for $2 million.", ["It was bought by Acme Inc. for $2 million."]),
    ("It was bought by Acme Inc. The price was secret.", ["It was bought by Acme Inc.", "The price was secret."]),
    ("He joined Smith & Co. Ltd. in 2004. He left.", ["He joined Smith & Co. Ltd. in 2004.", "He left."]),
    ("Bring pens, paper, etc. to the exam.", ["Bring pens, paper, etc. to the exam."]),
    ("Bring pens, paper, etc. The exam is long.", ["Bring pens, paper, etc.", "The exam is long."]),
    ("It opens at 9 a.m. and shuts at 5 p.m. Come early.", ["It opens at 9 a.m. and shuts at 5 p.m.", "Come early."]),
    ("It went to Washington, D.C. with an advocate.", ["It went to Washington, D.C. with an advocate."]),
    ("Martin Luther King Jr. He spoke.", ["Martin Luther King Jr.", "He spoke."]),
    # abbreviations that never close one
    ("Mr. Lim and Dr. Tan met Jr. staff. Then they ate.", ["Mr. Lim and Dr. Tan met Jr. staff.", "Then they ate."]),
    ("They met at St. Paul's Cathedral. It rained.", ["They met at St. Paul's Cathedral.", "It rained."]),
    ("Use a strong key, e.g. Ed25519. Then sign.", ["Use a strong key, e.g. Ed25519.", "Then sign."]),
    ("Some banks, i.e. HSBC and DBS, agreed. It passed.", ["Some banks, i.e. HSBC and DBS, agreed.", "It passed."]),
    ("It was Ali vs. Frazier. Ali won.", ["It was Ali vs. Frazier.", "Ali won."]),
    ("He lives at No. 5 High Street. It is small.", ["He lives at No. 5 High Street.", "It is small."]),
    ("Is it open? No. It is shut.", ["Is it open?", "No.", "It is shut."]),
    ("See Fig. 3 for the trend. It rises.", ["See Fig. 3 for the trend.", "It rises."]),
    ("The rule holds (e.g. in Hong Kong). It is new.", ["The rule holds (e.g. in Hong Kong).", "It is new."]),
    # decimals
    ("Rates rose 3.5 per cent. Then they fell.", ["Rates rose 3.5 per cent.", "Then they fell."]),
    ("The deal was worth $1.2 billion. It closed.", ["The deal was worth $1.2 billion.", "It closed."]),
    ("Sales rose in 2019. 2020 was worse.", ["Sales rose in 2019.", "2020 was worse."]),
    # initials, and roman numerals, which are not
    ("J. R. R. Tolkien wrote it. He taught.", ["J. R. R. Tolkien wrote it.", "He taught."]),
    ("J.R.R. Tolkien wrote it. It sold.", ["J.R.R. Tolkien wrote it.", "It sold."]),
    ("President George W. Bush spoke. Then he left.", ["President George W. Bush spoke.", "Then he left."]),
    ("It ended World War I. The peace came.", ["It ended World War I.", "The peace came."]),
    # quotes and brackets
    ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
    ('"Is it?" she asked. He nodded.', ['"Is it?" she asked.', "He nodded."]),
    ("(See below.) Next.", ["(See below.)", "Next."]),
    ("The census counted them.[3] The next did not.", ["The census counted them.[3]", "The next did not."]),
    # lists
    ("1. First item. 2. Second item.", ["1. First item.", "2. Second item."]),
    ("a) one; b) two", ["a) one; b) two"]),
    ("Choose: a) One. b) Two.", ["Choose: a) One.", "b) Two."]),
    # no cut before a lower-case word, except one that may start a sentence: an
    # abbreviation the splitter did not know once made "and in Los Angeles..." a sentence
    (
        "It is like the West (Calif. and Ore.) and in Los Angeles and Orange Counties, there are some differences.",
        ["It is like the West (Calif. and Ore.) and in Los Angeles and Orange Counties, there are some differences."],
    ),
    (
        "It was branded Open.... now called Sky Active, it grew.",
        ["It was branded Open.... now called Sky Active, it grew."],
    ),
    ("Wait... Then go.", ["Wait...", "Then go."]),
    ("Apple sold it. iPhone sales rose.", ["Apple sold it.", "iPhone sales rose."]),
    ("你好。欢迎！", ["你好。", "欢迎！"]),
]


def streamed(text: str, pieces: int = 1) -> list[str]:
    """The sentences a splitter cuts from ``text`` fed ``pieces`` characters
    at a time (with no clause cuts: those are tested in test_personas)."""
    splitter, out = ClauseSplitter(first_words=10**6, long_words=10**6), []
    for i in range(0, len(text), pieces):
        out += splitter.feed(text[i : i + pieces])
    return out + splitter.flush()


@pytest.mark.parametrize("text, expected", CASES, ids=[text[:40] for text, _ in CASES])
def test_sentences_end_where_a_reader_ends_them(text, expected):
    assert sentences(text) == expected


@pytest.mark.parametrize("text, expected", CASES, ids=[text[:40] for text, _ in CASES])
def test_a_streamed_answer_is_cut_as_the_whole_text_is(text, expected):
    assert streamed(text) == expected
    assert streamed(text, 7) == expected


def test_a_streamed_sentence_waits_only_for_what_tells_where_it_ends():
    splitter = ClauseSplitter(first_words=10**6, long_words=10**6)
    assert splitter.feed("It rose. ") == []  # the next word's first letter tells ...
    assert splitter.feed("T") == ["It rose."]
    assert splitter.feed("hen it shut at 5 p.m. T") == []  # ... after "p.m.", the whole word ("Co. Ltd.")
    assert splitter.feed("hen ") == ["Then it shut at 5 p.m."]
    assert splitter.feed("it fell. ") == []
    assert splitter.feed("and") == []  # a lower-case word goes on the sentence, unless it is "iPhone"
    assert splitter.feed(" so on. ") == []
    assert splitter.flush() == ["Then it fell. and so on."]


def test_a_footnote_mark_after_the_full_stop_still_ends_a_sentence():
    assert ends_sentence("The census counted them.[3]") and ends_sentence("It grew.[a][12]")
    assert not ends_sentence("It grew [3]") and not ends_sentence("It grew,")


def paragraphs() -> list[str]:
    if not SQUAD.is_file():
        pytest.skip(f"the shared SQuAD file is not here ({SQUAD})")
    data = json.loads(SQUAD.read_text(encoding="utf-8"))
    return [p["context"] for article in data["data"] for p in article["paragraphs"]]


def test_no_sentence_of_the_squad_paragraphs_starts_in_lower_case():
    texts = paragraphs()
    cut = [s for text in texts for s in sentences(text)]
    assert len(cut) > 250
    assert [s for s in cut if s[0].islower()] == []
    # each ends with a full stop, but the one paragraph whose source text has none
    assert [s[:40] for s in cut if s[-1] not in ".!?\"'”)"] == ["Tancred was instrumental in the conquest"]
    # the streamed cut is the same
    assert [s for text in texts[:10] for s in streamed(text, 5)] == [s for text in texts[:10] for s in sentences(text)]
