"""Rows in and rows out: data files read in chunks, columns bound to inputs, results written.

Formats, by the file's suffix (or --data-format; standard input, "-", needs it):
  .csv, .tsv       a header line of names, then one row per record (blank lines are skipped;
                   a quoted field may hold the delimiter, "" and line breaks, RFC 4180);
                   the delimiter is a comma (a tab for .tsv) unless given
  .jsonl, .ndjson  one JSON object per line: {"x": 1, "w[2]": 0.5, "h": [0.1, 0.2]}
  .parquet         numeric columns (needs pyarrow: pip install 'cgraph[parquet]')

Column names bind inputs as on the command line: `x`, indexed `x[1]` or `w[1,2]`; in
JSON Lines a list binds the indices the file uses (`"x": [1, 2]` is x[1], x[2]). Every
JSON Lines row gives the inputs its first row gives (either form, per row): a row that
gives another input, or lacks one, is a bad row naming its line and key.

Reading is chunked (`rows` per chunk) so a file of any length streams in bounded memory.
Each chunk is parsed by one C-level call (numpy.loadtxt, json.loads, pyarrow) when it is
well formed; a chunk that is not is re-read record by record to say which row is bad and
why (`on_error="fail"`: raise a DataError naming file:line; `"skip"`: leave the row out
and count it). Values are numbers as Python's float() reads them, plus inf, -inf and nan.
Text must be UTF-8 (a byte-order mark is fine); invalid UTF-8 is an error naming its line.

The package, by job: base.py (formats, DataError, chunks), text.py (files and streams,
UTF-8), csvfile.py, jsonlfile.py and parquetfile.py (each format's header and chunks, fast
path and record by record), datafile.py (DataFile, one class over the three), binding.py
(columns to inputs), writer.py (RowWriter, rows out), dataset.py (a directory or glob of files
read as one).
"""

from ...errors import MissingDependency  # noqa: F401 (importable from here, as it always was)
from .base import (DATA_FORMATS, FORMATS, ON_ERROR, STDIN, Chunk, DataError, Field, Skipped, json_number,
                   parse_delimiter)
from .binding import Binding, bind_columns
from .csvfile import field_column
from .datafile import DataFile
from .dataset import DataSet, data_paths, files_of, open_data_set
from .writer import OUT_FORMATS, RowWriter, close_writer, out_format, row_writer

__all__ = ["DataFile", "DataError", "Chunk", "Skipped", "Binding", "bind_columns", "RowWriter", "Field",
           "parse_delimiter", "field_column", "json_number", "DATA_FORMATS", "FORMATS", "ON_ERROR", "STDIN",
           "OUT_FORMATS", "MissingDependency", "DataSet", "data_paths", "files_of", "open_data_set", "out_format", "row_writer", "close_writer"]
