"""A certificate as a one-page PDF (A4 landscape), drawn with fpdf2.

The page says what was achieved (the course or path title), by whom (the learner's id: Waymark
holds no names), when (``issued_at``, UTC), and how to check it: the verification code, the
verify route and the key id. DejaVu Sans draws the text when the system has it (Debian
``fonts-dejavu-core``: Latin, Greek, Cyrillic, not CJK); without it the built-in Helvetica
draws Latin-1 and shows ``?`` for other characters. A revoked certificate still renders, stamped
REVOKED.
"""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

from aggregator.certificate_reads import CertificateView

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_BOLD, _REGULAR = "DejaVuSans-Bold.ttf", "DejaVuSans.ttf"
INK = (30, 41, 59)
ACCENT = (37, 99, 235)


def _fonts(pdf: FPDF) -> tuple[str, bool]:
    """The font family to draw with, and whether it draws all of Unicode."""
    if (FONT_DIR / _REGULAR).exists() and (FONT_DIR / _BOLD).exists():
        pdf.add_font("body", "", str(FONT_DIR / _REGULAR))
        pdf.add_font("body", "B", str(FONT_DIR / _BOLD))
        return "body", True
    return "helvetica", False


def render_certificate(cert: CertificateView, verify_url: str) -> bytes:
    """The PDF of ``cert``; ``verify_url`` is where anyone can check its code."""
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_title(f"Certificate {cert.code}")
    pdf.set_author("Waymark")
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    family, unicode = _fonts(pdf)

    def text(value: str) -> str:
        return value if unicode else value.encode("latin-1", "replace").decode("latin-1")

    def line(value: str, size: float, style: str = "", color: tuple[int, int, int] = INK,
             height: float = 12) -> None:
        pdf.set_font(family, style, size)
        pdf.set_text_color(*color)
        pdf.multi_cell(0, height, text(value), align="C", new_x="LMARGIN", new_y="NEXT")

    pdf.set_draw_color(*ACCENT)
    pdf.set_line_width(2)
    pdf.rect(10, 10, 277, 190)
    pdf.set_line_width(0.5)
    pdf.rect(15, 15, 267, 180)
    pdf.set_margins(25, 25, 25)
    pdf.set_y(32)
    what = "course" if cert.scope == "course" else "learning path"
    line("CERTIFICATE OF COMPLETION", 30, "B", ACCENT, 16)
    pdf.ln(6)
    line("This certifies that", 14)
    line(cert.user_id, 26, "B", height=14)
    line(f"completed the {what}", 14)
    line(cert.title or cert.scope_id, 24, "B", height=13)
    pdf.ln(4)
    line(f"Issued {cert.issued_at[:10]} ({cert.issued_at})", 12, height=8)
    pdf.ln(8)
    line(f"Verification code: {cert.code}", 16, "B", height=9)
    line(f"Verify at {verify_url}", 10, height=6)
    line(f"Certificate {cert.certificate_id} - Ed25519 key {cert.kid}", 8, height=5)
    if cert.status == "revoked":
        pdf.set_y(90)
        line(f"REVOKED {cert.revoked_at or ''}", 40, "B", (220, 38, 38), 20)
    return bytes(pdf.output())
