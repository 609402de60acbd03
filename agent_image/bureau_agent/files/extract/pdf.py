"""PDF text with pypdf (pure Python, maintained); scanned PDFs without a text layer fail."""

from __future__ import annotations

import logging
from pathlib import Path

from bureau_agent.retrieval.errors import ExtractionError


class PdfExtractor:
    suffixes = frozenset({".pdf"})

    def extract(self, path: Path) -> str:
        from pypdf import PdfReader  # imported on first PDF: it is not small
        from pypdf.errors import PdfReadError, PyPdfError

        logging.getLogger("pypdf").setLevel(logging.ERROR)
        try:
            reader = PdfReader(path)
            if reader.is_encrypted:
                raise ExtractionError("The PDF is encrypted.", code="invalid_file")
            pages = [page.extract_text() or "" for page in reader.pages]
        except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError) as exc:
            raise ExtractionError(f"The PDF could not be read: {exc}", "invalid_file") from exc
        return "\n\n".join(p.strip() for p in pages if p.strip())
