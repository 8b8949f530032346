// CSV tables: named numeric columns for the sliding-window and row-per-sample feeders
// (table_samples.h).
//
// The accepted dialect, deliberately small and strict (Hanami silently turned every unreadable
// cell into 0; Tendril refuses the file and says where):
//   - UTF-8 or ASCII text; a leading UTF-8 byte-order mark is ignored; lines end in LF or CRLF.
//   - Lines that are empty or hold only spaces and tabs are skipped everywhere.
//   - The first remaining line is the header: comma-separated column names.
//   - Every later line is one row with exactly one cell per column. No quoting: a comma always
//     separates cells, and a double quote anywhere is an error. (Hanami skipped lines without a
//     comma; here they are the rows of a one-column table, and too few cells is an error.)
//   - Spaces and tabs around a name or a cell are ignored.
//   - A cell is one of:
//       a decimal number: optional sign, digits with an optional fraction, or a fraction alone,
//         optional exponent ("3", "-0.25", ".5", "+1e-3"); it must fit a finite float;
//       true / false → 1 / 0 (lower case only);
//       empty, null, Null or NULL → the value of the same column in the previous row (an
//         error in the first row, which has none).
//     Anything else ("abc", "nan", "inf", "0x10", "1,5" split into two cells …) is an error
//     naming the line and the column.
//   - Column names are 1 to 128 bytes without control characters or double quotes, unique
//     (case-sensitive). Ports find their column by exact name, and template I/O names are
//     [A-Za-z0-9_]+, so columns meant to feed a port by default should use that alphabet; any
//     other name can still be fed through an explicit mapping.
//   - A table needs at least one column and one row.
//
// Thread safety: all functions are reentrant; Table is a plain value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tendril::data {

// Numeric columns, row-major.
struct Table {
  std::vector<std::string> columns;
  std::vector<float> values;  // rows · columns.size() values, row after row
  size_t rows = 0;

  // Index of the column named `name`, if any.
  std::optional<size_t> columnIndex(std::string_view name) const;
  // The value in `row` (< rows) and `column` (< columns.size()); unchecked.
  float at(size_t row, size_t column) const { return values[row * columns.size() + column]; }
};

// Bounds that keep an uploaded file from allocating unbounded memory.
struct CsvLimits {
  uint64_t max_bytes = uint64_t{1} << 30;  // the whole text
  size_t max_rows = 100'000'000;
  size_t max_columns = 65'536;
  size_t max_name_bytes = 128;
};

// Parses CSV text into a table.
// Errors: InvalidArgument naming the line (1-based, counting every physical line) and column of
// the first problem; ResourceExhausted past `limits`.
Result<Table> parseCsv(std::string_view text, const CsvLimits& limits = {});

// Reads and parses a CSV file. Errors as parseCsv, prefixed with the path; NotFound, Io.
Result<Table> readCsvFile(const std::filesystem::path& path, const CsvLimits& limits = {});

}  // namespace tendril::data
