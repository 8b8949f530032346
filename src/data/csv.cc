#include "data/csv.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <unordered_set>

namespace tendril::data {
namespace {

constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

// True when `text` is a decimal number as the header comment defines it. Checked by hand so
// that from_chars's extras ("inf", "nan", hex digits after "0x" in some modes) never slip in.
bool isDecimal(std::string_view text) {
  size_t i = 0;
  auto digits = [&] {
    size_t start = i;
    while (i < text.size() && isDigit(text[i])) ++i;
    return i - start;
  };
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  size_t mantissa = digits();
  if (i < text.size() && text[i] == '.') {
    ++i;
    mantissa += digits();
  }
  if (mantissa == 0) return false;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (digits() == 0) return false;
  }
  return i == text.size();
}

std::string excerpt(std::string_view text) {
  constexpr size_t kShown = 40;
  if (text.size() <= kShown) return "'" + std::string(text) + "'";
  return "'" + std::string(text.substr(0, kShown)) + "…'";
}

std::string where(size_t line, size_t column, const std::vector<std::string>& names) {
  return "line " + std::to_string(line) + ", column " + std::to_string(column + 1) + " (" +
         excerpt(names[column]) + ")";
}

Status checkName(std::string_view name, size_t line, size_t column, const CsvLimits& limits) {
  std::string at = "line " + std::to_string(line) + ", column " + std::to_string(column + 1);
  if (name.empty()) return Status::Invalid(at + ": empty column name");
  if (name.size() > limits.max_name_bytes) {
    return Status::Invalid(at + ": column name longer than " +
                           std::to_string(limits.max_name_bytes) + " bytes");
  }
  for (char c : name) {
    if (c == '"') return Status::Invalid(at + ": quoted fields are not supported");
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return Status::Invalid(at + ": control character in column name");
    }
  }
  return Status::Ok();
}

class CsvParser {
 public:
  CsvParser(std::string_view text, const CsvLimits& limits) : text_(text), limits_(limits) {}

  Result<Table> parse() {
    if (text_.size() > limits_.max_bytes) {
      return Status::Exhausted("CSV text of " + std::to_string(text_.size()) +
                               " bytes exceeds the limit of " + std::to_string(limits_.max_bytes));
    }
    if (text_.substr(0, kByteOrderMark.size()) == kByteOrderMark) {
      text_.remove_prefix(kByteOrderMark.size());
    }
    std::string_view line;
    bool have_header = false;
    while (nextLine(line)) {
      if (trim(line).empty()) continue;
      if (!have_header) {
        TENDRIL_RETURN_IF_ERROR(header(line));
        have_header = true;
      } else {
        TENDRIL_RETURN_IF_ERROR(row(line));
      }
    }
    if (!have_header) return Status::Invalid("empty CSV: no header line");
    if (table_.rows == 0) return Status::Invalid("CSV has a header but no data rows");
    return std::move(table_);
  }

 private:
  // Advances to the next physical line (without its LF or CRLF); false at the end.
  bool nextLine(std::string_view& line) {
    if (position_ >= text_.size()) return false;
    size_t end = text_.find('\n', position_);
    if (end == std::string_view::npos) end = text_.size();
    line = text_.substr(position_, end - position_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    position_ = end + 1;
    ++line_number_;
    return true;
  }

  Status header(std::string_view line) {
    std::unordered_set<std::string_view> seen;
    size_t column = 0;
    for (std::string_view cell : Cells(line)) {
      if (column >= limits_.max_columns) {
        return Status::Exhausted("more than " + std::to_string(limits_.max_columns) + " columns");
      }
      std::string_view name = trim(cell);
      TENDRIL_RETURN_IF_ERROR(checkName(name, line_number_, column, limits_));
      if (!seen.insert(name).second) {
        return Status::Invalid("line " + std::to_string(line_number_) + ", column " +
                               std::to_string(column + 1) + ": duplicate column name " +
                               excerpt(name));
      }
      table_.columns.emplace_back(name);
      ++column;
    }
    previous_.assign(table_.columns.size(), 0.0f);
    return Status::Ok();
  }

  Status row(std::string_view line) {
    const size_t width = table_.columns.size();
    size_t cells = 1;
    for (char c : line) cells += c == ',' ? 1 : 0;
    if (cells != width) {
      return Status::Invalid("line " + std::to_string(line_number_) + ": expected " +
                             std::to_string(width) + " cells, got " + std::to_string(cells));
    }
    if (table_.rows >= limits_.max_rows) {
      return Status::Exhausted("more than " + std::to_string(limits_.max_rows) + " rows");
    }
    size_t column = 0;
    for (std::string_view raw : Cells(line)) {
      std::string_view cell = trim(raw);
      float value = 0.0f;
      if (cell.empty() || cell == "null" || cell == "Null" || cell == "NULL") {
        if (table_.rows == 0) {
          return Status::Invalid(where(line_number_, column, table_.columns) +
                                 ": empty or null cell in the first data row has no previous "
                                 "value to repeat");
        }
        value = previous_[column];
      } else if (cell == "true") {
        value = 1.0f;
      } else if (cell == "false") {
        value = 0.0f;
      } else {
        TENDRIL_RETURN_IF_ERROR(number(cell, column, value));
      }
      previous_[column] = value;
      table_.values.push_back(value);
      ++column;
    }
    ++table_.rows;
    return Status::Ok();
  }

  Status number(std::string_view cell, size_t column, float& value) const {
    if (!isDecimal(cell)) {
      if (cell.find('"') != std::string_view::npos) {
        return Status::Invalid(where(line_number_, column, table_.columns) +
                               ": quoted fields are not supported");
      }
      return Status::Invalid(where(line_number_, column, table_.columns) + ": cannot read " +
                             excerpt(cell) + " as a number, true, false or null");
    }
    if (cell.front() == '+') cell.remove_prefix(1);  // from_chars takes no plus sign
    double parsed = 0.0;
    auto [end, rc] = std::from_chars(cell.data(), cell.data() + cell.size(), parsed);
    if (rc != std::errc() || end != cell.data() + cell.size() || !std::isfinite(parsed) ||
        std::fabs(parsed) > std::numeric_limits<float>::max()) {
      return Status::Invalid(where(line_number_, column, table_.columns) + ": " + excerpt(cell) +
                             " is not a finite float");
    }
    value = static_cast<float>(parsed);
    return Status::Ok();
  }

  // The comma-separated pieces of a line, as views into it.
  class Cells {
   public:
    explicit Cells(std::string_view line) : line_(line) {}
    class Iterator {
     public:
      Iterator(std::string_view rest, bool done) : rest_(rest), done_(done) { advance(); }
      std::string_view operator*() const { return cell_; }
      Iterator& operator++() {
        advance();
        return *this;
      }
      bool operator!=(const Iterator& other) const { return ended_ != other.ended_; }

     private:
      void advance() {
        if (done_) {
          ended_ = true;
          return;
        }
        size_t comma = rest_.find(',');
        if (comma == std::string_view::npos) {
          cell_ = rest_;
          done_ = true;
        } else {
          cell_ = rest_.substr(0, comma);
          rest_.remove_prefix(comma + 1);
        }
      }
      std::string_view rest_;
      std::string_view cell_;
      bool done_ = false;
      bool ended_ = false;
    };
    Iterator begin() const { return Iterator(line_, false); }
    Iterator end() const { return Iterator({}, true); }

   private:
    std::string_view line_;
  };

  std::string_view text_;
  const CsvLimits& limits_;
  size_t position_ = 0;
  size_t line_number_ = 0;
  Table table_;
  std::vector<float> previous_;  // last value seen per column, for null cells
};

}  // namespace

std::optional<size_t> Table::columnIndex(std::string_view name) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == name) return i;
  }
  return std::nullopt;
}

Result<Table> parseCsv(std::string_view text, const CsvLimits& limits) {
  try {
    return CsvParser(text, limits).parse();
  } catch (const std::bad_alloc&) {
    return Status::Exhausted("out of memory while parsing CSV");
  }
}

Result<Table> readCsvFile(const std::filesystem::path& path, const CsvLimits& limits) {
  const std::string prefix = path.string() + ": ";
  std::error_code error;
  auto status = std::filesystem::status(path, error);
  if (error || !std::filesystem::exists(status)) return Status::NotFound(prefix + "no such file");
  if (!std::filesystem::is_regular_file(status)) {
    return Status::Invalid(prefix + "not a regular file");
  }
  uint64_t size = std::filesystem::file_size(path, error);
  if (error) return Status::Io(prefix + "cannot stat: " + error.message());
  if (size > limits.max_bytes) {
    return Status::Exhausted(prefix + std::to_string(size) + " bytes exceed the limit of " +
                             std::to_string(limits.max_bytes));
  }
  try {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                         &std::fclose);
    if (!file) return Status::Io(prefix + "cannot open: " + std::strerror(errno));
    std::string text(static_cast<size_t>(size), '\0');
    if (std::fread(text.data(), 1, text.size(), file.get()) != text.size()) {
      return Status::Io(prefix + "short read");
    }
    Result<Table> table = parseCsv(text, limits);
    if (!table.ok()) return Status(table.status().code(), prefix + table.status().message());
    return table;
  } catch (const std::bad_alloc&) {
    return Status::Exhausted(prefix + "out of memory while reading CSV");
  }
}

}  // namespace tendril::data
