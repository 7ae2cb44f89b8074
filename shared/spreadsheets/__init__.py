"""The suite's spreadsheet kit: catalogue-sized CSV and XLSX files in and out, safely.

Registry, approval, filing and funding all read and write the lists offices keep in
Excel. Every reader here is bounded before it allocates (a sheet's declared size and
every cell reference are checked while the XML streams by, never after a grid is
built), every writer neutralises text a spreadsheet would evaluate, and the heavy
work runs off the event loop with a per-caller limit.

- ``limits``: ``SheetLimits`` and the 413 problems past them.
- ``xlsx``: a streaming reader of a workbook's first sheet (zipfile + expat).
- ``text``: CSV decoding (UTF-8, UTF-16 with BOM, GB18030), detected and reported.
- ``formulas``: the escaping rule for text that starts like a formula.
- ``writers``: CSV and XLSX writers into a spooled file, streamed out in chunks.
- ``heavy``: the bounded pool and per-caller slots for parsing and exports.
"""

from shared.spreadsheets.formulas import neutralise, restore
from shared.spreadsheets.heavy import HeavyWork
from shared.spreadsheets.limits import SheetLimits, UnreadableFile
from shared.spreadsheets.text import decode_csv, read_csv
from shared.spreadsheets.writers import XLSX_MEDIA_TYPE, stream_file, write_csv, write_xlsx
from shared.spreadsheets.xlsx import read_xlsx

__all__ = [
    "XLSX_MEDIA_TYPE",
    "HeavyWork",
    "SheetLimits",
    "UnreadableFile",
    "decode_csv",
    "neutralise",
    "read_csv",
    "read_xlsx",
    "restore",
    "stream_file",
    "write_csv",
    "write_xlsx",
]
