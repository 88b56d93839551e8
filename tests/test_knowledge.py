"""Knowledge from real documents: each format, each bad document, hybrid
retrieval, the persisted index, and answers judged on the question set."""

import asyncio
import json
import re
import subprocess

import numpy as np
import pytest
from PIL import Image

from stage.core.config import LLMSettings
from stage.think.documents import DocumentError, read_document
from stage.think.embed import embedder, model_dir
from stage.think.knowledge import Knowledge, cache_dir
from stage.think.llm import OpenAIModel
from stage.think.thinker import Thinker, collect
from stage.tools.evaluate import judge, load_questions
from tests.servers import vllm_python

REPORT = "knowledge/ada/genai-sandbox-report.pdf"


def test_a_pdf_keeps_its_pages_and_sections(cards):
    passages = read_document(cards["ada"].root / REPORT, REPORT)
    pages = {int(p.source.rsplit("=", 1)[1]) for p in passages}
    assert len(pages) >= 20 and min(pages) == 1
    scoring = [p for p in passages if "Real-time payment scoring" in p.title]
    assert scoring and all(p.title.startswith("Findings of Harbourside Bank") for p in scoring)
    assert all(p.source.startswith(f"{REPORT}#page=") for p in passages)
    # a sentence running over a page break stays whole, in one passage
    from pypdf import PdfReader

    def lines(page):
        return [
            " ".join(line.split())
            for line in (page.extract_text() or "").splitlines()
            if line.strip() and not re.fullmatch(r"(page )?\d+( of \d+)?", line.strip(), re.IGNORECASE)
        ]

    pdf = [lines(page) for page in PdfReader(cards["ada"].root / REPORT).pages]
    crossings = [
        f"{a[-1].split()[-1]} {b[0].split()[0]}"
        for a, b in zip(pdf, pdf[1:])
        if a and b and a[-1][-1] not in ".!?:" and b[0][0].islower()
    ]
    assert len(crossings) >= 3
    for words in crossings:
        assert any(words in p.text for p in passages), words


def test_html_and_plain_text(tmp_path):
    html = tmp_path / "notes.html"
    html.write_text(
        "<html><head><title>Branch notes</title><style>p{}</style></head><body><nav>Home</nav>"
        "<h2>Opening hours</h2><p>The branch opens at nine.</p><ul><li>Closed on Sundays.</li></ul>"
        "<h2>Queues</h2><p>Queues are longest at lunchtime.</p><script>x()</script></body></html>"
    )
    passages = read_document(html, "notes.html")
    assert [(p.source, p.title, p.text) for p in passages] == [
        ("notes.html#opening-hours", "Branch notes: Opening hours", "The branch opens at nine. Closed on Sundays."),
        ("notes.html#queues", "Branch notes: Queues", "Queues are longest at lunchtime."),
    ]
    text = tmp_path / "faq_2026.txt"
    text.write_text("The card works abroad.\n\nFees are waived for students.\n", encoding="utf-8")
    passages = read_document(text, "faq_2026.txt")
    assert [(p.source, p.title) for p in passages] == [
        ("faq_2026.txt#part-1", "Faq 2026"),
        ("faq_2026.txt#part-2", "Faq 2026"),
    ]


def test_a_long_section_is_cut_at_sentence_ends(tmp_path):
    path = tmp_path / "long.md"
    path.write_text("# Long\n\n## Part\n" + " ".join(f"Sentence number {i} is here." for i in range(100)))
    passages = read_document(path, "long.md")
    assert len(passages) > 1 and all(len(p.text.split()) <= 120 for p in passages)
    assert all(p.text.endswith("here.") and p.source == "long.md#part" for p in passages)


def bad_documents(tmp_path):
    from pypdf import PdfReader, PdfWriter

    scanned = tmp_path / "scanned.pdf"
    Image.new("RGB", (600, 800), "white").save(scanned, "PDF")
    encrypted = tmp_path / "locked.pdf"
    writer = PdfWriter(clone_from=PdfReader(tmp_path.parent / "report.pdf"))
    writer.encrypt("secret-password")
    writer.write(encrypted)
    corrupt = tmp_path / "corrupt.pdf"
    corrupt.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    latin = tmp_path / "latin.md"
    latin.write_bytes("# Caf\xe9\n\nR\xe9sum\xe9 of the year.\n".encode("latin-1"))
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    return {
        scanned: "scanned PDF needs OCR",
        encrypted: "encrypted",
        corrupt: "not a readable PDF",
        latin: "not UTF-8",
        empty: "empty",
    }


@pytest.fixture
def bad(tmp_path, cards):
    (tmp_path / "report.pdf").write_bytes((cards["ada"].root / REPORT).read_bytes())
    folder = tmp_path / "bad"
    folder.mkdir()
    return bad_documents(folder)


def test_each_bad_document_gets_a_clear_error(bad):
    for path, reason in bad.items():
        with pytest.raises(DocumentError, match=reason):
            read_document(path)


def test_bad_documents_are_named_and_the_others_still_load(cards, bad, tmp_path):
    good = tmp_path / "good.md"
    good.write_text("# Good\n\n## Rates\nThe savings rate is three per cent.\n")
    card = cards["ada"].model_copy(update={"root": tmp_path, "knowledge": ["good.md", *(f"bad/{p.name}" for p in bad)]})
    knowledge = Knowledge(card)
    assert [p.source for p in knowledge.passages] == ["good.md#rates"]
    errors = knowledge.errors
    assert len(errors) == len(bad)
    for (path, reason), error in zip(bad.items(), errors):
        assert error.startswith(f"persona ada: bad/{path.name}: ") and reason in error


def test_paraphrases_find_the_passage_that_says_it_in_other_words(cards):
    found = Knowledge(cards["ravi"]).search("How can a bank spot a fraudulent payment as it happens?")
    assert found[0].source == "knowledge/ravi/scams.md#how-banks-detect-fraud"  # "score every payment in real time"


def test_names_the_documents_never_use_are_unknown(cards):
    ada, ravi = Knowledge(cards["ada"]), Knowledge(cards["ravi"])
    assert ada.unknown_names("How will the EU AI Act affect banks?") == {"eu"}
    assert ada.unknown_names("In simple terms, what is a CBDC?") == set()  # "central bank digital currency"
    assert ravi.unknown_names("If I've been scammed, who are fraudsters faking with AI-deepfake voices?") == set()
    assert ravi.unknown_names("Are AI-generated voices used?") == {"ai-generated"}  # "generated" is never said


def test_a_question_asking_for_a_number_gets_one_or_a_holding_line(cards):
    thinker = Thinker(cards["ada"], None, LLMSettings(answer_mode="extractive"))
    events = asyncio.run(collect(thinker, "How many milliseconds did the new system take to score a payment?"))
    answer = " ".join(e.text for e in events if getattr(e, "kind", "") == "extractive")
    assert re.search(r"\d+ milliseconds", answer), answer
    mei = Thinker(cards["mei"], None, LLMSettings(answer_mode="extractive"))
    events = asyncio.run(collect(mei, "How many transactions per second can a shared ledger handle?"))
    assert events[-1].outcome == "held", events


def test_the_index_is_built_once_and_again_only_for_a_changed_file(cards, tmp_path):
    doc = tmp_path / "rates.md"
    doc.write_text("# Rates\n\n## Savings\nThe savings rate is three per cent.\n")
    card = cards["ada"].model_copy(update={"root": tmp_path, "knowledge": ["rates.md"]})
    before = set(cache_dir().glob("*.npz")) if cache_dir().exists() else set()
    Knowledge(card)
    made = set(cache_dir().glob("*.npz")) - before
    assert len(made) == 1
    Knowledge(card)
    assert set(cache_dir().glob("*.npz")) - before == made  # read from the cache
    doc.write_text("# Rates\n\n## Savings\nThe savings rate is four per cent.\n")
    assert "four per cent" in Knowledge(card).passages[0].text
    assert len(set(cache_dir().glob("*.npz")) - before) == 2


def test_embeddings_match_the_model_run_by_transformers():
    python = vllm_python()
    if python is None:
        from tests.conftest import unavailable

        unavailable("no torch and transformers to compare with (make vllm-env)")
    texts = [
        "How do banks spot a fraudulent payment as it happens?",
        "Banks score every payment in real time.",
        "The weather is humid in summer.",
    ]
    script = (
        "import json, sys, torch\nfrom transformers import AutoModel, AutoTokenizer\n"
        f"d = {str(model_dir())!r}; texts = json.loads(sys.argv[1])\n"
        "tok = AutoTokenizer.from_pretrained(d); model = AutoModel.from_pretrained(d)\n"
        "batch = tok(texts, padding=True, return_tensors='pt')\n"
        "with torch.no_grad(): out = model(**batch).last_hidden_state\n"
        "mask = batch['attention_mask'][..., None].float(); pooled = (out * mask).sum(1) / mask.sum(1)\n"
        "print(json.dumps(torch.nn.functional.normalize(pooled, dim=1).tolist()))\n"
    )
    done = subprocess.run([str(python), "-c", script, json.dumps(texts)], capture_output=True, text=True, check=True)
    reference = np.array(json.loads(done.stdout.strip().splitlines()[-1]))
    ours = embedder()(texts)
    assert np.min(np.sum(ours * reference, axis=1)) > 0.9999


# -- answers on the question set ----------------------------------------------------


def answer_all(cards, model, mode, questions):
    thinkers = {pid: Thinker(card, model, LLMSettings(answer_mode=mode)) for pid, card in cards.items()}

    async def run():
        return [
            judge(q, await collect(thinkers[q.persona], q.question), thinkers[q.persona].knowledge) for q in questions
        ]

    return asyncio.run(run())


def assert_whole_and_supported(verdicts):
    fragments = [(v.question.question, v.answer) for v in verdicts if v.fragment]
    unsupported = [(v.question.question, v.unsupported) for v in verdicts if v.unsupported]
    assert fragments == [] and unsupported == []


def test_extractive_answers_are_whole_and_supported(cards):
    verdicts = answer_all(cards, None, "extractive", load_questions())
    assert_whole_and_supported(verdicts)
    assert all(v.sources for v in verdicts if v.outcome == "answered")  # every answer cites its sources


def test_generated_answers_through_llama_cpps_server_are_whole_and_supported(cards, llama_server):
    model = OpenAIModel(llama_server.url, "smollm2", stall_seconds=60)
    assert_whole_and_supported(answer_all(cards, model, "generated", load_questions()[::2]))


def test_generated_answers_through_vllm_are_whole_and_supported(cards, vllm_server):
    model = OpenAIModel(vllm_server.url, "smollm2", stall_seconds=60)
    assert_whole_and_supported(answer_all(cards, model, "generated", load_questions()[::5]))
