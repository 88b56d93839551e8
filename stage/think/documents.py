"""Documents a persona knows, cut into passages: Markdown, PDF (text PDFs,
read with ``pypdf``), HTML (``BeautifulSoup``) and plain text.

Passages follow the document's own shape: a Markdown or HTML section, a PDF
page, a run of paragraphs; a long one is cut at sentence ends into passages
of at most ``PASSAGE_WORDS`` words. Each keeps where it came from, as an
address (``knowledge/ada/payments.md#faster-payment-system``,
``knowledge/ada/report.pdf#page=7``) and as a title a person reads
("Payments: Faster Payment System", "GenAI Sandbox Report, page 7").
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path

from stage.core.errors import FiresideError
from stage.think.clauses import ends_sentence, sentences

PASSAGE_WORDS = 120
MAX_BYTES = 50 * 1024 * 1024  # a larger file is refused, not read
FORMATS = {".md": "markdown", ".markdown": "markdown", ".pdf": "pdf", ".html": "html", ".htm": "html", ".txt": "text"}


class DocumentError(FiresideError, ValueError):
    """A document that cannot be read, with the file and the reason."""


@dataclass(frozen=True)
class Passage:
    text: str  # its sentences, without the heading
    source: str  # the file and the place in it
    title: str  # the document's title, then the section or page
    score: float = 0.0


def slug(heading: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")


def _cut(text: str, source: str, title: str) -> list[Passage]:
    """A section's text as passages of at most PASSAGE_WORDS words, cut at sentence ends."""
    passages, current = [], []
    for sentence in sentences(text):
        if current and len(" ".join(current + [sentence]).split()) > PASSAGE_WORDS:
            passages.append(Passage(" ".join(current), source, title))
            current = []
        current.append(sentence)
    if current:
        passages.append(Passage(" ".join(current), source, title))
    return passages


def _titled(document: str, part: str) -> str:
    return document if not part or part == document else f"{document}: {part}"


def read_markdown(text: str, source: str, fallback_title: str) -> list[Passage]:
    """One section per heading; the first top-level heading is the document's title."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    for line in text.splitlines():
        match = re.match(r"^#{1,6}\s+(.*)", line)
        if match:
            sections.append((match.group(1).strip(), []))
        else:
            sections[-1][1].append(line)
    top = re.search(r"^#\s+(.*)", text, re.MULTILINE)
    document = top.group(1).strip() if top else fallback_title
    passages = []
    for heading, lines in sections:
        where = f"{source}#{slug(heading)}" if heading else source
        passages += _cut(" ".join(lines), where, _titled(document, heading))
    return passages


def read_text(text: str, source: str, title: str) -> list[Passage]:
    """Paragraphs (blank-line separated) gathered into passages, numbered in order."""
    passages = []
    for paragraph in re.split(r"\n\s*\n", text):
        passages += _cut(paragraph, source, title)
    return [Passage(p.text, f"{source}#part-{i}", p.title) for i, p in enumerate(passages, 1)]


def read_html(raw: bytes, source: str, fallback_title: str) -> list[Passage]:
    """HTML as Markdown: its headings start sections, its blocks are paragraphs."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(["script", "style", "nav", "header", "footer", "noscript", "template", "title"]):
        tag.decompose()
    for heading in soup.find_all(re.compile(r"^h[1-6]$")):
        level = int(heading.name[1])
        heading.replace_with(f"\n\n{'#' * level} {heading.get_text(' ', strip=True)}\n\n")
    for block in soup.find_all(["p", "li", "div", "section", "article", "blockquote", "pre", "tr", "dd", "dt", "br"]):
        block.insert_after("\n\n")
    text = soup.get_text()
    if title and not re.search(r"^#\s", text, re.MULTILINE):
        text = f"# {title}\n\n{text}"
    return read_markdown(text, source, title or fallback_title)


def _pdf_heading(line: str) -> bool:
    """A short line with no sentence end that starts like a heading ("4.2 Mule accounts"),
    and no figures after its number (a table's row has them)."""
    words = line.split()
    rest = re.sub(r"^\d+(\.\d+)*\.?\s+", "", line)
    return (
        0 < len(words) <= 10
        and line[-1] not in ".,;:!?"
        and (line[0].isupper() or line[0].isdigit())
        and not re.search(r"\d", rest)
        and not re.match(r"page \d+", line, re.IGNORECASE)
    )


def read_pdf(raw: bytes, source: str, fallback_title: str) -> list[Passage]:
    """A text PDF, page by page: each page's passages keep its number."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentError("the PDF is encrypted: save a copy without a password")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title if reader.metadata else None) or ""
    except DocumentError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, OSError) as err:
        raise DocumentError(f"not a readable PDF ({err})") from None
    except Exception as err:  # pypdf raises many kinds of error on a broken file
        if "crypt" in str(err).lower():
            raise DocumentError("the PDF is encrypted: save a copy without a password") from None
        raise DocumentError(f"not a readable PDF ({type(err).__name__}: {err})") from None
    if not any(len(p.split()) >= 3 for p in pages):
        raise DocumentError(f"no text in its {len(pages)} page(s): a scanned PDF needs OCR first")
    document = title.strip() or fallback_title
    passages, section, body, place = [], "", [], (0, "")

    def close() -> None:
        number, where = place
        passages.extend(_cut(" ".join(body), f"{source}#page={number}", where))
        body.clear()

    for number, page in enumerate(pages, 1):
        for line in (" ".join(line.split()) for line in page.splitlines()):
            if not line or re.fullmatch(r"(page )?\d+( of \d+)?", line, re.IGNORECASE):
                continue  # page numbers in a footer
            if _pdf_heading(line):
                close()
                section = line
            else:
                if not body or place[0] != number and (ends_sentence(body[-1]) or body[-1].endswith(":")):
                    close()  # a sentence running over a page break stays whole, on its first page
                    place = (
                        number,
                        f"{document}: {section}, page {number}" if section else f"{document}, page {number}",
                    )
                body.append(line)
    close()
    return passages


def read_bytes(path: Path) -> bytes:
    """A document's bytes, refused when larger than MAX_BYTES."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise DocumentError(f"larger than {MAX_BYTES // 2**20} MB: split it, or give its text")
        return path.read_bytes()
    except OSError as err:
        raise DocumentError(f"cannot be read ({err.strerror})") from None


def read_document(path: Path, source: str | None = None, raw: bytes | None = None) -> list[Passage]:
    """A document's passages (from ``raw``, its bytes, when they were read
    already); a DocumentError says why it cannot be read."""
    path = Path(path)
    source = source or path.name
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise DocumentError(f"unsupported format {path.suffix or '(none)'}: use " + ", ".join(sorted(set(FORMATS))))
    raw = read_bytes(path) if raw is None else raw
    if not raw.strip():
        raise DocumentError("the file is empty")
    fallback = path.stem.replace("-", " ").replace("_", " ").strip().capitalize()
    if kind == "pdf":
        passages = read_pdf(raw, source, fallback)
    elif kind == "html":
        passages = read_html(raw, source, fallback)
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as err:
            raise DocumentError(
                f"not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}): save it as UTF-8"
            ) from None
        passages = read_markdown(text, source, fallback) if kind == "markdown" else read_text(text, source, fallback)
    if not passages:
        raise DocumentError("no text in it")
    return passages
