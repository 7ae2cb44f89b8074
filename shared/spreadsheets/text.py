"""CSV files as offices save them: UTF-8, UTF-16 with a BOM, or GB18030 (GBK).

Excel's "CSV" on Chinese Windows is GB18030/GBK, its "Unicode text" UTF-16, and
"CSV UTF-8" carries a BOM. The encoding is detected, never guessed silently: a
byte order mark decides first, then strict decodes in a fixed order (UTF-8, then
GB18030), and a GB18030 reading that yields control or private-use characters
(the signature of bytes that were never GB text) is refused. The caller reports
which encoding was read.
"""

from __future__ import annotations

import codecs
import csv
import io
import unicodedata

from shared.spreadsheets.limits import SheetLimits, UnreadableFile, too_many_rows

_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_ALLOWED_CONTROLS = frozenset("\t\r\n")


def decode_csv(data: bytes) -> tuple[str, str]:
    """(text, encoding read): ``utf-8``, ``utf-16-le``/``-be`` or ``gb18030``."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise _unknown_encoding() from exc
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as exc:
        raise _unknown_encoding() from exc
    if not _plausible(text):
        raise _unknown_encoding()
    return text, "gb18030"


def _plausible(text: str) -> bool:
    """GB18030 maps most byte strings to *something*: real text has no Cc or Co."""
    for char in set(text):
        if char in _ALLOWED_CONTROLS:
            continue
        if unicodedata.category(char) in ("Cc", "Co", "Cn"):
            return False
    return True


def _unknown_encoding() -> UnreadableFile:
    return UnreadableFile(
        "the CSV file is not UTF-8, UTF-16 (with a BOM) or GB18030/GBK text; save it as CSV UTF-8",
        "无法识别 CSV 文件的编码（支持 UTF-8、带 BOM 的 UTF-16、GB18030/GBK），请另存为“CSV UTF-8”",
    )


def read_csv(data: bytes, limits: SheetLimits | None = None) -> tuple[list[list[str]], str]:
    """(rows, encoding read); past ``max_rows`` data rows it stops and refuses (413)."""
    limits = limits or SheetLimits()
    text, encoding = decode_csv(data)
    rows: list[list[str]] = []
    filled = 0  # blank lines (often trailing) do not count toward the limit
    try:
        for values in csv.reader(io.StringIO(text, newline="")):
            rows.append(values)
            filled += any(values)
            if filled > limits.max_sheet_rows:
                raise too_many_rows(limits)
    except csv.Error as exc:
        raise UnreadableFile(
            f"the CSV file cannot be read: {exc}", f"无法读取 CSV 文件：{exc}"
        ) from exc
    return rows, encoding
