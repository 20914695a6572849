"""Long tables drawn page by page from an iterator."""

from __future__ import annotations

import io

from pypdf import PdfReader
from reportlab.platypus import Spacer

from reports.pdf import PHONE, Column, Rows, build


def test_long_tables_flow_over_many_pages_whatever_space_a_page_has_left(tmp_path):  # type: ignore[no-untyped-def]
    # Each table starts where the page has too little room left for it, twice, so that it
    # is moved to the next page at the start and again later, and ends mid-page.
    def rows(prefix: str, count: int):  # type: ignore[no-untyped-def]
        return ((f"{prefix}{n:05d}", str(n * 7)) for n in range(count))

    columns = [Column("name", 120), Column("value", 60, right=True)]
    story = [
        Spacer(1, 500),
        Rows(columns, rows("first", 700)),
        Spacer(1, 480),
        Rows(columns, rows("second", 333)),
    ]
    out = tmp_path / "rows.pdf"
    written = build(out, story, page=PHONE, margin=18, title="t", footer=lambda page: str(page))
    pages = PdfReader(io.BytesIO(out.read_bytes())).pages
    text = " ".join(" ".join(p.extract_text().split()) for p in pages)
    for prefix, count in (("first", 700), ("second", 333)):
        found = [n for n in range(count) if f"{prefix}{n:05d} {n * 7}" in text]
        assert found == list(range(count))
    assert written.pages > 20
