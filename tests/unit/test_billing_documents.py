"""Billing's printed documents from plain data: amounts as people read them, and an invoice
as HTML and as a PDF (read back with pypdf)."""

from __future__ import annotations

import io

from pypdf import PdfReader

from services.billing.documents import invoice_html, invoice_pdf, money, superbill_pdf

PRACTICE = {
    "name": "Harbour Street Therapy",
    "address": "41 Harbour Street",
    "npi": "1234567893",
    "tax_id": "12-3456789",
    "currency": "USD",
    "time_zone": "America/New_York",
}
INVOICE = {
    "number": "2026-000042",
    "status": "partly_paid",
    "currency": "USD",
    "issued_at": "2026-11-02T15:00:00+00:00",
    "total_minor": 24000,
    "paid_minor": 6000,
    "balance_minor": 18000,
    "lines": [
        {
            "service_date": "2026-11-02",
            "description": "IPT session (50 min)",
            "cpt_code": "90834",
            "amount_minor": 16000,
            "status": "active",
            "waiver_reason": None,
        },
        {
            "service_date": "2026-11-09",
            "description": "Missed appointment fee: <script>",
            "cpt_code": None,
            "amount_minor": 8000,
            "status": "active",
            "waiver_reason": None,
        },
    ],
}
DOC = {"practice": PRACTICE, "client": {"name": "Jordan Lee"}, "invoice": INVOICE, "payments": []}


def text_of(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_amounts_read_as_currency_in_the_practices_locale() -> None:
    assert money(16000, "USD") == "$160.00"
    assert money(-450, "USD") == "-$4.50"
    assert money(5000, "JPY") == "¥5,000"  # no minor unit
    assert money(16000, "KWD") == "KWD16.000"  # three digits: 16 dinar, not 160
    assert money(123456789, "EUR", "de_DE") == "1.234.567,89\xa0€"
    assert money(16000, "PLN", "pl_PL") == "160,00\xa0zł"


def test_an_invoice_pdf_shows_its_number_lines_and_totals() -> None:
    text = text_of(invoice_pdf(DOC))
    for expected in ("Invoice 2026-000042", "Jordan Lee", "90834", "$240.00", "$180.00"):
        assert expected in text, expected
    assert "NPI 1234567893" in text and "Tax ID 12-3456789" in text


def test_an_invoice_shows_its_issue_date_in_the_practices_zone() -> None:
    # 02:30 UTC on 3 November is still 2 November in New York.
    late = {**DOC, "invoice": {**INVOICE, "issued_at": "2026-11-03T02:30:00+00:00"}}
    assert "Issued: Nov 2, 2026" in text_of(invoice_pdf(late))
    assert "Issued: Nov 2, 2026" in invoice_html(late)


def test_an_invoice_pdf_prints_any_clients_name_as_written() -> None:
    name = "Łucja Wiśniewska-Nguyễn"
    text = text_of(invoice_pdf({**DOC, "client": {"name": name}}))
    assert f"Billed to: {name}" in text


def test_an_invoice_html_escapes_what_it_shows() -> None:
    page = invoice_html(DOC)
    assert "Invoice 2026-000042" in page
    assert "&lt;script&gt;" in page and "<script>" not in page


def test_a_superbill_pdf_prints_characters_outside_latin1() -> None:
    doc = {
        "practice": PRACTICE,
        "client": {
            "name": "Zoë Nowak – Łódź",
            "date_of_birth": "1990-04-02",
            "insurance_member_id": None,
        },
        "from": "2026-11-01",
        "to": "2026-11-30",
        "currency": "USD",
        "diagnosis_codes": ["F32.1"],
        "practitioners": [{"name": "Dr. Rivera", "npi": "1245319599"}],
        "services": [
            {"date": "2026-11-02", "cpt_code": "90834", "description": "IPT", "fee_minor": 16000}
        ],
        "total_charged_minor": 16000,
        "total_paid_minor": 0,
    }
    text = text_of(superbill_pdf(doc))
    assert "Zoë Nowak – Łódź" in text and "F32.1" in text and "1245319599" in text
