"""Render a Markdown report to an A4 PDF.

Usage:
    .venv/bin/python docs/reports/render.py INPUT.md OUTPUT.pdf

The Markdown is turned into HTML with markdown-it-py (tables enabled), wrapped
in a small print stylesheet, and printed to PDF by the system Chromium through
Playwright. The PDF's title is the text of the first `#` heading.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

from markdown_it import MarkdownIt
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"

STYLE = """
@page { size: A4; }
html { font-family: "Liberation Serif", "DejaVu Serif", Georgia, serif;
       font-size: 11pt; line-height: 1.45; color: #111; }
body { margin: 0; }
h1, h2, h3 { font-family: "Liberation Sans", "DejaVu Sans", Arial, sans-serif;
             color: #0b3a5b; line-height: 1.2; page-break-after: avoid;
             break-after: avoid; }
h1 { font-size: 20pt; margin: 0 0 10pt; padding-bottom: 4pt;
     border-bottom: 2px solid #0b3a5b; break-before: page; }
h1:first-of-type { break-before: auto; font-size: 24pt; }
h2 { font-size: 14pt; margin: 16pt 0 6pt; }
h3 { font-size: 12pt; margin: 12pt 0 4pt; color: #24557a; }
p { margin: 0 0 8pt; text-align: justify; orphans: 3; widows: 3; }
ul, ol { margin: 0 0 8pt 18pt; padding: 0; }
li { margin-bottom: 1pt; }
blockquote { margin: 8pt 0; padding: 6pt 10pt; border-left: 3px solid #9bb7cc;
             background: #f2f6f9; font-style: italic; }
table { border-collapse: collapse; width: 100%; margin: 6pt 0 12pt;
        font-size: 9.5pt; page-break-inside: avoid; break-inside: avoid; }
th, td { border: 1px solid #9aa8b5; padding: 4pt 6pt; text-align: left;
         vertical-align: top; }
th { background: #e3ebf2; font-family: "Liberation Sans", "DejaVu Sans", Arial, sans-serif; }
tr:nth-child(even) td { background: #f7f9fb; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 9.5pt; }
hr { border: none; border-top: 1px solid #9aa8b5; margin: 14pt 0; }
"""

FOOTER = (
    '<div style="width:100%; font-size:8pt; color:#555; text-align:center;'
    ' font-family: sans-serif;">'
    'page <span class="pageNumber"></span> of <span class="totalPages"></span></div>'
)


def to_html(markdown_text: str) -> str:
    """Markdown in, a complete HTML document out (title from the first `#` heading)."""
    body = MarkdownIt("commonmark").enable("table").render(markdown_text)
    match = re.search(r"^# (.+)$", markdown_text, flags=re.MULTILINE)
    title = html.escape(match.group(1).strip()) if match else "Report"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{title}</title><style>{STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def render(source: Path, target: Path) -> None:
    page_html = to_html(source.read_text(encoding="utf-8"))
    target.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.set_content(page_html, wait_until="load")
            page.pdf(
                path=str(target),
                format="A4",
                print_background=True,
                display_header_footer=True,
                header_template="<span></span>",
                footer_template=FOOTER,
                margin={"top": "2cm", "bottom": "2cm", "left": "2cm", "right": "2cm"},
            )
        finally:
            browser.close()


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    render(Path(argv[1]), Path(argv[2]))
    print(f"wrote {argv[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
