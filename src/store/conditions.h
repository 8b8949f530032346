// Private to the store: WHERE clauses of list queries, assembled from constant SQL fragments
// (one per filter present) with every value, cursors included, bound as a parameter.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "store/paging.h"
#include "store/sqlite_statement.h"

namespace tendril::store {

class Conditions {
 public:
  void add(std::string_view fragment, std::string value) {
    fragments_.emplace_back(fragment);
    values_.emplace_back(std::move(value));
  }
  void add(std::string_view fragment, std::int64_t value) {
    fragments_.emplace_back(fragment);
    values_.emplace_back(value);
  }
  // "column IN (?, ?, ...)" over `values`; nothing when `values` is empty.
  void addIn(std::string_view column, const std::vector<std::string>& values) {
    if (values.empty()) return;
    std::string fragment = std::string(column) + " IN (";
    for (size_t i = 0; i < values.size(); ++i) fragment += i == 0 ? "?" : ", ?";
    fragments_.push_back(fragment + ")");
    for (const std::string& value : values) values_.emplace_back(value);
  }
  // Rows strictly before (newest-first lists) or after (oldest-first lists) the cursor's
  // (time, id) in the order of `time_column`, id.
  void addCursor(std::string_view time_column, const CursorKey& cursor, bool newest_first) {
    const std::string column(time_column);
    const char* op = newest_first ? " < ?" : " > ?";
    fragments_.push_back("(" + column + op + " OR (" + column + " = ? AND id" + op + "))");
    values_.emplace_back(cursor.time_ms);
    values_.emplace_back(cursor.time_ms);
    values_.emplace_back(cursor.id);
  }
  std::string sql() const {
    std::string where;
    for (const std::string& fragment : fragments_) {
      where += where.empty() ? " WHERE " : " AND ";
      where += fragment;
    }
    return where;
  }
  void bind(sqlite::Statement& statement) const {
    for (const auto& value : values_) {
      if (const auto* text = std::get_if<std::string>(&value)) {
        statement.bindText(*text);
      } else {
        statement.bindInt(std::get<std::int64_t>(value));
      }
    }
  }

 private:
  std::vector<std::string> fragments_;
  std::vector<std::variant<std::string, std::int64_t>> values_;
};

// Validates the page request and adds its cursor to `conditions`.
inline Status addPage(Conditions& conditions, const PageRequest& page,
                      std::string_view time_column, bool newest_first) {
  TENDRIL_RETURN_IF_ERROR(checkPageLimit(page.limit));
  if (!page.cursor.empty()) {
    Result<CursorKey> cursor = decodeCursor(page.cursor);
    if (!cursor.ok()) return cursor.status();
    conditions.addCursor(time_column, *cursor, newest_first);
  }
  return Status::Ok();
}

}  // namespace tendril::store
