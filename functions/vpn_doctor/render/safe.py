"""Text every service takes: what is sent leaves no character UTF-8 cannot encode.

A log line can hold a lone surrogate (``\\ud800`` from a JSON escape in a gateway's log), which a
Python string keeps but UTF-8 cannot encode: botocore's request serialisation (SNS, SQS) and HTTP
bodies would raise ``UnicodeEncodeError``, and the alert would never be sent. The adapters pass what
they send through these first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vpn_doctor.text import valid_unicode


def valid_unicode_document(document: Any) -> Any:
    """A JSON-ready document with every string (keys too) made :func:`valid_unicode`."""
    if isinstance(document, str):
        return valid_unicode(document)
    if isinstance(document, Mapping):
        return {valid_unicode_document(name): valid_unicode_document(value) for name, value in document.items()}
    if isinstance(document, list | tuple):
        return [valid_unicode_document(value) for value in document]
    return document
