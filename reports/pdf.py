"""What the reports share: page templates, styles, long tables drawn straight to the
canvas from an iterator (thousands of rows, never all in memory), the verification block
with its QR code, and writing a document to a file while hashing it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from reports.issued import Anchor

# A page a phone shows at full width with text at a readable size (about 113 x 200 mm).
PHONE = (320.0, 568.0)
PAPER = A4
INK = colors.HexColor("#1d2733")
MUTED = colors.HexColor("#5b6673")
ACCENT = colors.HexColor("#1f5f8b")
RULE = colors.HexColor("#c9d2dc")
STRIPE = colors.HexColor("#f1f4f7")
GOOD = colors.HexColor("#2e7d4f")
BAD = colors.HexColor("#b23b2e")


@dataclass(frozen=True)
class Styles:
    title: ParagraphStyle
    h1: ParagraphStyle
    h2: ParagraphStyle
    body: ParagraphStyle
    small: ParagraphStyle
    mono: ParagraphStyle
    cell: ParagraphStyle

    @classmethod
    def sized(cls, size: float) -> Styles:
        body = ParagraphStyle(
            "body", fontName="Helvetica", fontSize=size, leading=size * 1.35, textColor=INK
        )
        return cls(
            title=ParagraphStyle(
                "title",
                parent=body,
                fontName="Helvetica-Bold",
                fontSize=size * 1.8,
                leading=size * 2.2,
                textColor=ACCENT,
                spaceAfter=size * 0.6,
            ),
            h1=ParagraphStyle(
                "h1",
                parent=body,
                fontName="Helvetica-Bold",
                fontSize=size * 1.35,
                leading=size * 1.7,
                textColor=ACCENT,
                spaceBefore=size * 1.2,
                spaceAfter=size * 0.4,
            ),
            h2=ParagraphStyle(
                "h2",
                parent=body,
                fontName="Helvetica-Bold",
                fontSize=size * 1.05,
                leading=size * 1.4,
                spaceBefore=size * 0.7,
                spaceAfter=size * 0.2,
            ),
            body=ParagraphStyle("body2", parent=body, spaceAfter=size * 0.45),
            small=ParagraphStyle(
                "small", parent=body, fontSize=size * 0.82, leading=size * 1.1, textColor=MUTED
            ),
            mono=ParagraphStyle(
                "mono", parent=body, fontName="Courier", fontSize=size * 0.72, leading=size * 0.95
            ),
            cell=ParagraphStyle("cell", parent=body, fontSize=size * 0.85, leading=size * 1.08),
        )


def text(value: object) -> str:
    """Plain text made safe for a Paragraph's markup."""
    return escape(str(value))


def grid(
    rows: Sequence[Sequence[Any]],
    widths: Sequence[float],
    styles: Styles,
    *,
    align_right: Iterable[int] = (),
) -> Table:
    """A small table with a header row; cells may be strings or Paragraphs."""
    cells = [
        [c if isinstance(c, Flowable) else Paragraph(text(c), styles.cell) for c in row]
        for row in rows
    ]
    table = Table(cells, colWidths=list(widths), repeatRows=1, hAlign="LEFT")
    commands: list[tuple[Any, ...]] = [
        ("BACKGROUND", (0, 0), (-1, 0), STRIPE),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, ACCENT),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    for column in align_right:
        commands.append(("ALIGN", (column, 0), (column, -1), "RIGHT"))
    table.setStyle(TableStyle(commands))
    return table


@dataclass(frozen=True)
class Column:
    title: str
    width: float
    right: bool = False


class Rows(Flowable):  # type: ignore[misc]
    """A long table drawn row by row straight to the canvas, pulled from an iterator one
    page at a time. Rows are one line each, in a monospaced face; a row's cells are cut to
    their column."""

    def __init__(
        self,
        columns: Sequence[Column],
        rows: Iterator[Sequence[str]],
        *,
        size: float = 7.5,
    ) -> None:
        super().__init__()
        self.columns = list(columns)
        self.rows = rows
        self.size = size
        self.leading = size * 1.45
        self._peeked: list[Sequence[str]] = []

    def _more(self) -> bool:
        if not self._peeked:
            self._peeked = list(islice(self.rows, 1))
        return bool(self._peeked)

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        # Unknown length: claim more than there is, so that the frame asks for a split.
        return available_width, (available_height + 1 if self._more() else 0)

    def split(self, available_width: float, available_height: float) -> list[Flowable]:
        fits = int((available_height - self.leading * 1.3) // self.leading)
        if fits < 3 or not self._more():
            return []
        taken = self._peeked + list(islice(self.rows, fits - 1))
        self._peeked = []
        # Platypus marks a flowable it moved to the next page once; this one goes on from
        # page to page, so the mark of an earlier page must not count against a later one.
        self.__dict__.pop("_postponed", None)
        page = _RowsPage(self, taken)
        return [page, self] if self._more() else [page]

    def draw(self) -> None:  # never drawn whole: always split into pages
        pass


def _fit(value: str, font: str, size: float, width: float) -> str:
    if stringWidth(value, font, size) <= width:
        return value
    while value and stringWidth(value + "…", font, size) > width:
        value = value[:-1]
    return value + "…"


class _RowsPage(Flowable):  # type: ignore[misc]
    def __init__(self, parent: Rows, rows: list[Sequence[str]]) -> None:
        super().__init__()
        self.parent = parent
        self.taken = rows
        self.height_needed = parent.leading * (len(rows) + 1.3)

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return available_width, self.height_needed

    def draw(self) -> None:
        # One path for the stripes and one text object for every cell of the page: drawing
        # cell by cell costs several times more, and these tables run to tens of thousands
        # of rows. Cells are monospaced, so fitting and aligning them is arithmetic.
        p, canvas = self.parent, self.canv
        width = sum(c.width for c in p.columns)
        header = p.leading * 1.3
        top = self.height_needed
        stripes = canvas.beginPath()
        stripes.rect(0, top - header, width, header)
        for n in range(1, len(self.taken), 2):
            stripes.rect(0, top - header - p.leading * (n + 1), width, p.leading)
        canvas.setFillColor(STRIPE)
        canvas.drawPath(stripes, stroke=0, fill=1)
        canvas.setStrokeColor(ACCENT)
        canvas.setLineWidth(0.6)
        canvas.line(0, top - header, width, top - header)
        canvas.setFillColor(INK)
        cells = canvas.beginText()
        cells.setFont("Helvetica-Bold", p.size)
        x = 0.0
        for column in p.columns:
            title = _fit(column.title, "Helvetica-Bold", p.size, column.width - 4)
            shift = column.width - 2 - stringWidth(title, "Helvetica-Bold", p.size)
            cells.setTextOrigin(x + (shift if column.right else 2), top - p.leading)
            cells.textOut(title)
            x += column.width
        cells.setFont("Courier", p.size)
        advance = 0.6 * p.size  # every Courier glyph
        fits = [max(1, int((c.width - 4) // advance)) for c in p.columns]
        y = top - header - p.leading * 0.78
        for row in self.taken:
            x = 0.0
            for column, most, value in zip(p.columns, fits, row, strict=False):
                shown = value if len(value) <= most else value[: most - 1] + "…"
                offset = column.width - 2 - len(shown) * advance if column.right else 2
                cells.setTextOrigin(x + offset, y)
                cells.textOut(shown)
                x += column.width
            y -= p.leading
        canvas.drawText(cells)


def qr_code(value: str, size: float) -> Drawing:
    widget = QrCodeWidget(value, barLevel="M", barBorder=4)
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


def verification_block(
    anchor: Anchor, styles: Styles, width: float, heading: str, how: str
) -> list[Flowable]:
    """The signed checkpoint the document rests on, as text and as a QR code holding the
    whole signed note, and how to check it against the public log."""
    body, _, signatures = anchor.note.partition("\n\n")
    lines = body.splitlines()
    rows = [
        ["Log", lines[0]],
        ["Tree size", lines[1]],
        ["Root hash", Paragraph(text(lines[2]), styles.mono)],
        *[
            ["Signed by", Paragraph(text(line.removeprefix("— ")), styles.mono)]
            for line in signatures.splitlines()
            if line
        ],
    ]
    table = Table(
        [
            [c if isinstance(c, Flowable) else Paragraph(text(c), styles.cell) for c in row]
            for row in rows
        ],
        colWidths=[width * 0.24, width * 0.76],
        hAlign="LEFT",
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
                ("LEFTPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    qr_size = min(width, 62 * mm)
    return [
        KeepTogether(
            [
                Paragraph(text(heading), styles.h1),
                Paragraph(text(how), styles.body),
                table,
                Spacer(1, 6),
                qr_code(anchor.note, qr_size),
                Paragraph(
                    "The QR code holds the whole signed checkpoint above, exactly as the log "
                    "published it.",
                    styles.small,
                ),
            ]
        )
    ]


@dataclass(frozen=True)
class Written:
    sha256: bytes
    size: int
    pages: int


class _HashingFile:
    """A file object that hashes what is written through it."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        written: int = self.handle.write(data)
        return written

    def flush(self) -> None:
        self.handle.flush()


def build(
    out: Path,
    story: list[Flowable],
    *,
    page: tuple[float, float],
    margin: float,
    title: str,
    footer: Callable[[int], str],
) -> Written:
    """Lay out `story` on pages of `page` size and write the PDF to `out` (atomically),
    hashing it on the way."""
    tmp = out.with_name(out.name + ".partial")
    pages = 0

    def decorate(canvas: Any, doc: Any) -> None:
        nonlocal pages
        pages = doc.page
        canvas.saveState()
        canvas.setFont("Helvetica", 6.5)
        canvas.setFillColor(MUTED)
        canvas.drawString(margin, margin * 0.45, footer(doc.page))
        canvas.restoreState()

    try:
        with open(tmp, "wb") as handle:
            sink = _HashingFile(handle)
            doc = BaseDocTemplate(
                sink,
                pagesize=page,
                leftMargin=margin,
                rightMargin=margin,
                topMargin=margin,
                bottomMargin=margin,
                title=title,
                author="Custody",
                creator="Custody",
                invariant=1,
            )
            frame = Frame(margin, margin, page[0] - 2 * margin, page[1] - 2 * margin, id="body")
            doc.addPageTemplates([PageTemplate(id="page", frames=[frame], onPage=decorate)])
            doc.build(story)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return Written(sink.digest.digest(), sink.size, pages)
