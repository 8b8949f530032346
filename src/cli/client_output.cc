#include "cli/client_output.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <iterator>
#include <sstream>

#include "cli/commands.h"

namespace tendril::cli {

// Declared in commands.h; here so that every library of the binary can set it.
int& exitCode() {
  static int code = 0;
  return code;
}

int exitCodeFor(const Status& status) {
  switch (status.code()) {
    case Code::kOk:
      return kExitOk;
    case Code::kUnauthenticated:
      return kExitUnauthenticated;
    case Code::kPermissionDenied:
      return kExitPermissionDenied;
    case Code::kNotFound:
      return kExitNotFound;
    case Code::kAlreadyExists:
    case Code::kFailedPrecondition:
      return kExitConflict;
    case Code::kResourceExhausted:
      return kExitExhausted;
    case Code::kInvalidArgument:
    case Code::kCorrupt:
      return kExitInvalid;
    case Code::kCancelled:
      return kExitTaskNotFinished;
    case Code::kIo:
    case Code::kInternal:
      return kExitServer;
  }
  return kExitServer;
}

std::string cellText(const nlohmann::json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_array() && !value.empty() &&
      std::all_of(value.begin(), value.end(), [](const nlohmann::json& item) {
        return item.is_object() && item.contains("name") && item.contains("width");
      })) {
    std::string text;
    for (const nlohmann::json& port : value) {
      if (!text.empty()) text += ",";
      text += port["name"].get<std::string>() + ":" + port["width"].dump();
    }
    return text;
  }
  return value.dump();
}

namespace {

nlohmann::json lookUp(const nlohmann::json& item, const std::string& pointer) {
  if (!item.is_object()) return nullptr;
  nlohmann::json::json_pointer path(pointer);
  return item.contains(path) ? item.at(path) : nlohmann::json();
}

}  // namespace

void printTable(std::ostream& out, const nlohmann::json& items, const std::vector<Column>& columns,
                bool styled) {
  std::vector<std::vector<std::string>> rows;
  std::vector<size_t> widths;
  for (const Column& column : columns) widths.push_back(column.header.size());
  if (items.is_array()) {
    for (const nlohmann::json& item : items) {
      std::vector<std::string> row;
      for (size_t i = 0; i < columns.size(); ++i) {
        row.push_back(cellText(lookUp(item, columns[i].pointer)));
        widths[i] = std::max(widths[i], row.back().size());
      }
      rows.push_back(std::move(row));
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t i = 0; i < cells.size(); ++i) {
      text += cells[i];
      if (i + 1 < cells.size()) text += std::string(widths[i] - cells[i].size() + 2, ' ');
    }
    return text;
  };
  std::vector<std::string> headers;
  for (const Column& column : columns) headers.push_back(column.header);
  out << (styled ? "\033[1m" : "") << line(headers) << (styled ? "\033[0m" : "") << "\n";
  for (const auto& row : rows) out << line(row) << "\n";
}

void printFields(std::ostream& out, const nlohmann::json& object,
                 const std::vector<Column>& fields) {
  std::vector<Column> shown = fields;
  if (shown.empty() && object.is_object()) {
    for (const auto& [key, value] : object.items()) shown.push_back({key, "/" + key});
  }
  size_t width = 0;
  for (const Column& field : shown) width = std::max(width, field.header.size());
  for (const Column& field : shown) {
    out << field.header << std::string(width - field.header.size() + 2, ' ')
        << cellText(lookUp(object, field.pointer)) << "\n";
  }
}

std::string humanBytes(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), unit == 0 ? "%.0f %s" : "%.1f %s", value, kUnits[unit]);
  return text;
}

ProgressBar::ProgressBar(std::string label, bool terminal, std::ostream& out)
    : label_(std::move(label)), terminal_(terminal), out_(out) {}

void ProgressBar::update(uint64_t done, uint64_t total, const std::string& detail) {
  const double fraction =
      total == 0 ? 0.0 : std::min(1.0, static_cast<double>(done) / static_cast<double>(total));
  const int percent = static_cast<int>(std::floor(fraction * 100));
  std::ostringstream figures;
  if (total != 0) figures << percent << "%";
  if (!detail.empty()) figures << (total != 0 ? " " : "") << detail;
  if (terminal_) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(fraction * kWidth);
    out_ << "\r\033[2K" << label_ << " [" << std::string(static_cast<size_t>(filled), '#')
         << std::string(static_cast<size_t>(kWidth - filled), ' ') << "] " << figures.str()
         << std::flush;
    drawn_ = true;
    return;
  }
  const int step = percent / 10;
  if (step != last_step_) {
    last_step_ = step;
    out_ << label_ << ": " << figures.str() << "\n";
  }
}

void ProgressBar::finish(const std::string& detail) {
  if (terminal_ && drawn_) out_ << "\r\033[2K";
  out_ << label_ << ": " << (detail.empty() ? "done" : detail) << "\n";
}

}  // namespace tendril::cli
