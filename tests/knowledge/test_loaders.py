"""Loaders and normalisation: each format to a normalised Document, bad input to LoaderError."""

from __future__ import annotations

import unicodedata

import pytest
from fpdf import FPDF

from cienty_knowledge.loaders import (
    FORMATS,
    Format,
    LoaderError,
    format_for_content_type,
    format_for_name,
    load_document,
)
from cienty_knowledge.normalize import normalize_text


def _load(data: bytes, fmt: Format, uri: str = "doc") -> tuple[str, str]:
    document = load_document(data, fmt, source="test", uri=uri, name=uri)
    assert document.source == "test"
    assert document.metadata["format"] == fmt
    return document.title, document.text


def _pdf(*pages: str, title: str | None = None) -> bytes:
    pdf = FPDF()
    if title:
        pdf.set_title(title)
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text=text)
    return bytes(pdf.output())


# -- normalisation --------------------------------------------------------------------------


def test_normalize_nfc_controls_spaces_and_hyphenation() -> None:
    decomposed = unicodedata.normalize("NFD", "Informação")
    raw = (
        f"  {decomposed}\u00a0sobre   a distri-\n  buição\x07 de\u200b medicamentos.\r\n"
        "\r\n\r\n\r\n\tSegunda  linha\u00ad.  \n\x00"
    )
    text = normalize_text(raw)
    assert text == "  Informação sobre a distribuição de medicamentos.\n\n\tSegunda linha."
    assert unicodedata.is_normalized("NFC", text)


def test_normalize_keeps_hyphen_before_capital_or_digit() -> None:
    assert normalize_text("Vitamina-\nC e COVID-\n19") == "Vitamina-\nC e COVID-\n19"


def test_formats_from_names_and_content_types() -> None:
    assert format_for_name("a/b/Entrega.MD") == "markdown"
    assert format_for_name("x.htm") == "html"
    assert format_for_name("x.pdf") == "pdf"
    assert format_for_name("notes.txt") == "text"
    assert format_for_name("image.png") is None
    assert format_for_content_type("text/html; charset=utf-8") == "html"
    assert format_for_content_type("application/pdf") == "pdf"
    assert format_for_content_type("application/octet-stream") is None
    assert format_for_content_type(None) is None


# -- markdown -------------------------------------------------------------------------------


def test_markdown_headings_front_matter_and_code() -> None:
    source = (
        "---\ntitle: Política de entrega\nowner: logística\n---\n"
        "Entrega\n=======\n\nEntregamos em todo o Brasil.\n\n"
        "##Sem espaço não é título\n\n"
        "## Prazos ##\n\nCapitais em 24 horas.\n\n"
        "```bash\n# comentário, não título\nls\n```\n"
    )
    title, text = _load(source.encode(), "markdown", "entrega.md")
    assert title == "Política de entrega"
    assert text.splitlines()[0] == "# Entrega"
    assert "=======" not in text
    assert "\n## Prazos\n" in text
    assert "\\# comentário, não título" in text  # escaped: not a heading
    assert "owner:" not in text


def test_markdown_title_from_first_h1_else_file_name() -> None:
    assert _load(b"# Pagamentos\n\nPIX e boleto.", "markdown")[0] == "Pagamentos"
    assert _load(b"PIX e boleto.", "markdown", "docs/formas_de-pagamento.md")[0] == (
        "formas de pagamento"
    )


# -- html -----------------------------------------------------------------------------------


HTML = """<!doctype html>
<html><head><title>Entrega | Cienty</title>
<style>body { color: red }</style><script>window.track("pageview")</script></head>
<body>
<header><a href="/">Cienty</a> Login</header>
<nav><ul><li><a href="/a">Menu item</a></li></ul></nav>
<main>
  <h1>Entrega</h1>
  <p>Entregamos em <b>todo</b> o Brasil.</p>
  <!-- comment that must not show -->
  <h2>Prazos</h2>
  <ul><li>Capitais: 24h</li><li>Interior: 48h</li></ul>
  <div role="navigation">Breadcrumb noise</div>
  <p>#hashtag no início</p>
  <table><tr><th>Região</th><th>Prazo</th></tr><tr><td>Sul</td><td>2 dias</td></tr></table>
</main>
<footer>© Cienty rodapé</footer>
<script>console.log("late")</script>
</body></html>"""


def test_html_keeps_main_content_and_headings() -> None:
    title, text = _load(HTML.encode(), "html", "entrega.html")
    assert title == "Entrega | Cienty"
    lines = text.splitlines()
    assert "# Entrega" in lines
    assert "## Prazos" in lines
    assert "Entregamos em todo o Brasil." in lines
    assert "- Capitais: 24h" in lines
    assert "- Interior: 48h" in lines
    assert "\\#hashtag no início" in lines
    assert "Sul" in text
    assert "2 dias" in text
    for noise in ("window.track", "color: red", "Menu item", "Login", "rodapé", "Breadcrumb",
                  "comment that", "console.log"):  # fmt: skip
        assert noise not in text


def test_html_without_main_reads_body_and_decodes_latin1() -> None:
    page = "<html><body><h3>Devolução</h3><p>Até 7 dias.</p></body></html>".encode("cp1252")
    title, text = _load(page, "html")
    assert title == "doc"  # no <title>, no <h1>: the name
    assert text == "### Devolução\n\nAté 7 dias."


# -- plain text -----------------------------------------------------------------------------


def test_text_utf8_with_bom() -> None:
    assert _load("\ufeffOlá, farmácia".encode(), "text")[1] == "Olá, farmácia"


def test_text_windows_1252_fallback() -> None:
    # Legacy exports from Brazilian office software: Windows-1252, not UTF-8.
    data = "Informação — “prazo” de 30 dias".encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    assert _load(data, "text")[1] == "Informação — “prazo” de 30 dias"


def test_text_binary_or_undecodable_is_a_clear_failure() -> None:
    with pytest.raises(LoaderError, match="binary data"):
        _load(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "text")
    with pytest.raises(LoaderError, match="neither UTF-8 nor Windows-1252"):
        _load(b"caf\xe9 \x81 \x8d", "text")  # 0x81 and 0x8d are undefined in Windows-1252


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_document_fails_in_every_format(fmt: Format) -> None:
    for data in (b"", b"  \n\t\n"):
        with pytest.raises(LoaderError, match="empty document"):
            _load(data, fmt)


def test_document_without_text_after_cleaning_fails() -> None:
    with pytest.raises(LoaderError, match="no text"):
        _load(b"<html><script>x()</script><nav>menu</nav></html>", "html")


# -- pdf ------------------------------------------------------------------------------------


def test_pdf_text_of_every_page_and_metadata_title() -> None:
    data = _pdf(
        "Política de devoluções\nO cliente tem 7 dias para devolver.",
        "Medicamentos controlados não são aceitos de volta.",
        title="Devoluções Cienty",
    )
    title, text = _load(data, "pdf", "devolucoes.pdf")
    assert title == "Devoluções Cienty"
    assert "O cliente tem 7 dias para devolver." in text
    assert "Medicamentos controlados não são aceitos de volta." in text
    assert text.index("7 dias") < text.index("controlados")


def test_pdf_corrupt_truncated_and_not_a_pdf() -> None:
    good = _pdf("Conteúdo qualquer do documento.")
    with pytest.raises(LoaderError, match="PDF"):
        _load(good[: len(good) // 3], "pdf")
    with pytest.raises(LoaderError, match="PDF"):
        _load(b"%PDF-1.7\n" + b"\x00garbage\xff" * 50, "pdf")
    with pytest.raises(LoaderError, match="not a PDF"):
        _load(b"<html>not a pdf</html>", "pdf")


def test_pdf_without_text_layer() -> None:
    pdf = FPDF()
    pdf.add_page()  # a blank page: what a scan without OCR looks like to a text extractor
    with pytest.raises(LoaderError, match="no text layer"):
        _load(bytes(pdf.output()), "pdf")
