"""The extract stage: a retrained Dragnet plus Newspaper, combined, and measured against gold text.

Public API (see documents.py, combine.py, evaluate.py and docs/extract.md):

    extract_html(html, url) -> Extraction            # text, title, extractor; raises ExtractionFailed(reason)
    document_from_page(link, final_url, html) -> (row | None, reason | None)

Attributes are loaded lazily so that `import webtext.extract` (and the CLI) stays light: Dragnet,
Newspaper and scikit-learn are imported on first use.
"""

from __future__ import annotations

__all__ = ["Extraction", "ExtractionFailed", "extract_html", "document_from_page", "extract_pages"]


def __getattr__(name: str):
    if name in __all__:
        from webtext.extract import documents

        return getattr(documents, name)
    raise AttributeError(f"module 'webtext.extract' has no attribute {name!r}")
