"""Heading-aware chunking, measured with the real MiniLM tokenizer."""

from __future__ import annotations

import itertools

import pytest

from cienty_knowledge.chunking import Chunker, embedding_text, split_sections
from cienty_knowledge.embeddings.tokens import TokenizerCounter
from cienty_knowledge.normalize import normalize_text
from cienty_knowledge.types import Document, chunk_id, content_hash

PARAGRAPH = (
    "A Cienty entrega medicamentos e produtos de higiene para farmácias de todo o Brasil. "
    "Pedidos confirmados até as 14 horas saem no mesmo dia útil, e o prazo depende da região. "
    "O pedido mínimo é de quinhentos reais, e o frete é grátis acima de dois mil reais. "
)


def _document(text: str, title: str = "Manual") -> Document:
    return Document(source="manual", uri="manual.md", title=title, text=normalize_text(text))


def _chunker(counter: TokenizerCounter, max_tokens: int = 64, overlap: int = 16) -> Chunker:
    return Chunker(counter, max_tokens=max_tokens, overlap_tokens=overlap)


LONG = (
    "# Entrega\n\nIntrodução curta sobre entregas.\n\n"
    "## Prazos\n\n" + PARAGRAPH * 4 + "\n\n"
    "## Frete\n\n" + PARAGRAPH * 2 + "\n\n"
    "# Pagamento\n\n### PIX\n\nPagamentos por PIX são confirmados na hora.\n"
)


def test_sections_and_heading_paths() -> None:
    sections = split_sections(normalize_text(LONG))
    assert [s.heading for s in sections] == [
        "Entrega",
        "Entrega > Prazos",
        "Entrega > Frete",
        "Pagamento > PIX",  # "# Pagamento" has no text of its own: no section, still in the path
    ]
    assert sections[0].text == "Introdução curta sobre entregas."


def test_token_limit_respected_for_the_embedded_text(minilm_tokens: TokenizerCounter) -> None:
    chunker = _chunker(minilm_tokens, max_tokens=64, overlap=16)
    chunks = chunker.chunk(_document(LONG))
    assert len(chunks) > 6
    for chunk in chunks:
        assert chunk.text.strip() == chunk.text
        assert chunk.text
        assert minilm_tokens.count_tokens(embedding_text(chunk)) <= 64
    assert [c.position for c in chunks] == list(range(len(chunks)))


def test_chunks_never_cross_a_heading(minilm_tokens: TokenizerCounter) -> None:
    chunks = _chunker(minilm_tokens).chunk(_document(LONG))
    by_heading = {c.heading for c in chunks}
    assert by_heading == {"Entrega", "Entrega > Prazos", "Entrega > Frete", "Pagamento > PIX"}
    pix = [c for c in chunks if c.heading == "Pagamento > PIX"]
    assert [c.text for c in pix] == ["Pagamentos por PIX são confirmados na hora."]
    for chunk in chunks:
        assert "#" not in chunk.text
        if chunk.heading == "Entrega > Frete":
            assert "Introdução" not in chunk.text
    assert (
        embedding_text(pix[0]) == "Pagamento > PIX\n\nPagamentos por PIX são confirmados na hora."
    )


def test_overlap_between_consecutive_chunks(minilm_tokens: TokenizerCounter) -> None:
    chunks = _chunker(minilm_tokens, max_tokens=48, overlap=12).chunk(
        _document("## Prazos\n\n" + PARAGRAPH * 3)
    )
    assert len(chunks) >= 3
    for previous, current in itertools.pairwise(chunks):
        tail_words = previous.text.split()
        head_words = current.text.split()
        shared = next(
            n for n in range(min(len(tail_words), len(head_words)), -1, -1)
            if n == 0 or tail_words[-n:] == head_words[:n]
        )  # fmt: skip
        assert shared > 0, (previous.text, current.text)
        assert minilm_tokens.count_tokens(" ".join(head_words[:shared])) <= 12


def test_no_overlap_when_zero_and_all_text_kept(minilm_tokens: TokenizerCounter) -> None:
    text = "## Prazos\n\n" + PARAGRAPH * 3
    chunks = _chunker(minilm_tokens, max_tokens=48, overlap=0).chunk(_document(text))
    assert " ".join(c.text for c in chunks).split() == normalize_text(PARAGRAPH * 3).split()


def test_cuts_prefer_sentence_ends(minilm_tokens: TokenizerCounter) -> None:
    chunks = _chunker(minilm_tokens, max_tokens=80, overlap=0).chunk(
        _document("## Prazos\n\n" + PARAGRAPH * 3)
    )
    assert len(chunks) >= 2
    assert all(chunk.text.endswith(".") for chunk in chunks)


def test_a_word_longer_than_the_budget_is_split(minilm_tokens: TokenizerCounter) -> None:
    url = "https://cienty.com.br/" + "abc123xyz/" * 60
    chunks = _chunker(minilm_tokens, max_tokens=32, overlap=0).chunk(_document(f"Veja {url} ."))
    assert len(chunks) > 2
    assert all(minilm_tokens.count_tokens(embedding_text(c)) <= 32 for c in chunks)
    assert "".join(c.text for c in chunks).replace(" ", "") == f"Veja{url}."


def test_deterministic_ids_and_hashes(minilm_tokens: TokenizerCounter) -> None:
    first = _chunker(minilm_tokens).chunk(_document(LONG))
    second = _chunker(minilm_tokens).chunk(_document(LONG))
    assert first == second
    chunk = first[3]
    assert chunk.content_hash == content_hash(embedding_text(chunk))
    assert chunk.id == chunk_id("manual", "manual.md", chunk.position, chunk.content_hash)
    assert len({c.id for c in first}) == len(first)


def test_renaming_a_heading_changes_the_ids_below_it(minilm_tokens: TokenizerCounter) -> None:
    before = _chunker(minilm_tokens).chunk(_document(LONG))
    after = _chunker(minilm_tokens).chunk(_document(LONG.replace("## Frete", "## Fretes")))
    changed = {c.heading for c in after} - {c.heading for c in before}
    assert changed == {"Entrega > Fretes"}
    unchanged = [c.id for c in before if c.heading != "Entrega > Frete"]
    assert set(unchanged) <= {c.id for c in after}


def test_document_without_headings_uses_the_title_as_context(
    minilm_tokens: TokenizerCounter,
) -> None:
    chunks = _chunker(minilm_tokens).chunk(_document("Só um parágrafo.", title="Avisos"))
    assert len(chunks) == 1
    assert chunks[0].heading == ""
    assert embedding_text(chunks[0]) == "Avisos\n\nSó um parágrafo."


def test_no_empty_chunks(minilm_tokens: TokenizerCounter) -> None:
    chunks = _chunker(minilm_tokens).chunk(_document("# A\n\n## B\n\n\n\n## C\n\ntexto\n\n# D\n"))
    assert [(c.heading, c.text) for c in chunks] == [("A > C", "texto")]


def test_rejects_a_tiny_budget(minilm_tokens: TokenizerCounter) -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        Chunker(minilm_tokens, max_tokens=4, overlap_tokens=0)
