"""PDF through pypdf: the text layer of each page. Scanned PDFs (no text layer) and corrupt or
encrypted files are `LoaderError`s: there is no OCR here."""

from __future__ import annotations

import io
import logging

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from cienty_knowledge.loaders.base import Loaded, LoaderError


def load_pdf(data: bytes, name: str) -> Loaded:
    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise LoaderError("not a PDF file (no %PDF header)")
    # pypdf logs recoverable damage as warnings; a bad file still ends in an exception below.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise LoaderError("the PDF is encrypted with a password")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = ""
        if reader.metadata is not None and reader.metadata.title:
            title = str(reader.metadata.title)
    except LoaderError:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as error:
        raise LoaderError(f"unreadable PDF: {type(error).__name__}: {error}") from error
    if not any(page.strip() for page in pages):
        raise LoaderError("the PDF has no text layer (scanned? OCR is not supported)")
    return Loaded(title=title, text="\n\n".join(pages))
