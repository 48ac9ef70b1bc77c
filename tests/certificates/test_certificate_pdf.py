"""The certificate PDF looked at as a picture: rendered to pixels (pdfium), not blank, and its
text (extracted from the page pdfium renders) carries the learner, the title and the code."""

from __future__ import annotations

import pypdfium2 as pdfium
from aiohttp.test_utils import TestClient
from PIL import ImageStat

from aggregator.signing import CertificateSigner
from ingest.certificate_pdf import FONT_DIR
from tests.certificates.conftest import issue
from tests.conftest import ADMIN_KEY, READ_KEY

READ = {"Authorization": f"Bearer {READ_KEY}"}


async def rendered(client: TestClient, certificate_id: str) -> tuple[str, float, float]:
    """The page's text, the share of non-white pixels and the grey level's deviation."""
    resp = await client.get(f"/v1/certificates/{certificate_id}.pdf", headers=READ)
    assert resp.status == 200
    pdf = pdfium.PdfDocument(await resp.read())
    assert len(pdf) == 1
    page = pdf[0]
    text = page.get_textpage().get_text_range()
    image = page.render(scale=1).to_pil().convert("L")
    width, height = image.size
    assert width > height  # landscape
    inked = sum(image.histogram()[:200]) / (width * height)
    deviation = ImageStat.Stat(image).stddev[0]
    pdf.close()
    return text, inked, deviation


async def test_the_pdf_shows_the_learner_the_title_and_the_code_on_a_page_that_is_not_blank(
    client: TestClient, database_url: str, signer: CertificateSigner
) -> None:
    # Latin-1 draws with any font; Greek and Cyrillic with DejaVu Sans (`make install` adds it)
    title = "Ünïcode Älgebra" + (" Ωμέγα Алгебра" if (FONT_DIR / "DejaVuSans.ttf").exists() else "")
    row = await issue(database_url, signer, user_id="learner-42", title=title)
    text, inked, deviation = await rendered(client, row["certificate_id"])
    for shown in ("learner-42", title, row["code"], "CERTIFICATE"):
        assert shown in text
    assert "REVOKED" not in text
    assert 0.01 < inked < 0.5  # ink: text and border, on a mostly white page
    assert deviation > 10


async def test_a_revoked_certificate_renders_stamped_revoked(
    client: TestClient, database_url: str, signer: CertificateSigner
) -> None:
    row = await issue(database_url, signer)
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    await client.post(f"/v1/certificates/{row['certificate_id']}:revoke", headers=admin)
    text, inked, _ = await rendered(client, row["certificate_id"])
    assert "REVOKED" in text and row["code"] in text and inked > 0.01
