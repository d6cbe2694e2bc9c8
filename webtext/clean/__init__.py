"""The clean stage's command (`webtext clean`, in `cli.py`).

The cleaning rules themselves are `webtext/filters.py` (`CleanOptions`, `clean_document`,
`clean_documents`): one filter per drop reason, the repairs, the order they run in.
"""
