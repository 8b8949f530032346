// JSON templates: reading (two passes: a structural SAX check, then a typed walk of the parsed
// document) and writing. The settings go through engine::applySetting, so each setting's type
// and range is declared in one place only (src/engine/template.cc).
#include "data/template_json.h"

#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <vector>

namespace tendril::data {
namespace {

using Json = nlohmann::json;
using engine::BrickRole;
using engine::BrickSpec;
using engine::Template;

// A template nests four levels ({"bricks":[{"position":[); anything far deeper is an attack or
// a mistake, and refusing it early keeps every later step cheap.
constexpr size_t kMaxDepth = 8;

// First pass, building nothing: reports syntax errors, duplicate keys (the document parser would
// silently keep the last one) and deep nesting, each with the JSON path where it occurs.
class StructureCheck {
 public:
  bool null() { return value(); }
  bool boolean(bool) { return value(); }
  bool number_integer(Json::number_integer_t) { return value(); }
  bool number_unsigned(Json::number_unsigned_t) { return value(); }
  bool number_float(Json::number_float_t, const Json::string_t&) { return value(); }
  bool string(Json::string_t&) { return value(); }
  bool binary(Json::binary_t&) { return value(); }
  bool start_object(size_t) { return open(false); }
  bool start_array(size_t) { return open(true); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(Json::string_t& key) {
    Frame& frame = frames_.back();
    frame.key = key;
    if (!frame.keys.insert(key).second) return fail(path() + ": duplicate key");
    return true;
  }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception& error) {
    // what() is "[json.exception.parse_error.101] parse error at line 1, column 2: ...".
    std::string_view text = error.what();
    const size_t tag_end = text.find("] ");
    if (tag_end != std::string_view::npos) text.remove_prefix(tag_end + 2);
    return fail("invalid JSON: " + std::string(text));
  }

  const std::string& problem() const { return problem_; }

 private:
  struct Frame {
    bool array = false;
    size_t index = 0;            // arrays: the element being read
    std::string key;             // objects: the member being read
    std::set<std::string> keys;  // objects: every key seen so far
  };

  bool open(bool array) {
    if (frames_.size() >= kMaxDepth) {
      return fail(path() + ": nested deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    frames_.push_back(Frame{array, 0, {}, {}});
    return true;
  }
  bool close() {
    frames_.pop_back();
    return value();
  }
  bool value() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
    return true;
  }
  bool fail(std::string message) {
    problem_ = std::move(message);
    return false;  // stops the parse
  }
  std::string path() const {
    std::string text;
    for (const Frame& frame : frames_) {
      if (frame.array) {
        text += "[" + std::to_string(frame.index) + "]";
      } else {
        text += (text.empty() ? "" : ".") + frame.key;
      }
    }
    return text.empty() ? "the document" : text;
  }

  std::vector<Frame> frames_;
  std::string problem_;
};

Status invalidAt(const std::string& path, const std::string& why) {
  return Status::Invalid(path + ": " + why);
}

// A number as a message shows it; unlike Json::dump(), never "null" for infinities.
std::string numberText(const Json& value) {
  if (!value.is_number_float()) return value.dump();
  std::array<char, 64> buffer{};
  const auto end = std::to_chars(buffer.begin(), buffer.end(), value.get<double>()).ptr;
  return std::string(buffer.begin(), end);
}

// The decimal text of an integral JSON number, or nullopt. Floats count when they hold an
// integer exactly (784.0); beyond 2^53 a double no longer says which integer was meant.
std::optional<std::string> integerText(const Json& value) {
  if (value.is_number_unsigned()) return std::to_string(value.get<uint64_t>());
  if (value.is_number_integer()) return std::to_string(value.get<int64_t>());
  if (!value.is_number_float()) return std::nullopt;
  const double number = value.get<double>();
  constexpr double kExact = 9007199254740992.0;  // 2^53
  if (!(std::trunc(number) == number && std::fabs(number) <= kExact)) return std::nullopt;
  return std::to_string(static_cast<int64_t>(number));
}

// A count or coordinate: a non-negative integer that fits 32 bits. 784.0 counts as 784.
Result<uint32_t> readCount(const Json& value, const std::string& path) {
  if (!value.is_number()) {
    return invalidAt(path, std::string("expected an integer, got ") + value.type_name());
  }
  const bool negative = value.is_number_float()
                            ? value.get<double>() < 0
                            : !value.is_number_unsigned() && value.get<int64_t>() < 0;
  if (negative) return invalidAt(path, "must not be negative, got " + numberText(value));
  constexpr uint32_t kMax = std::numeric_limits<uint32_t>::max();
  if (value.is_number_float()) {
    const double number = value.get<double>();
    if (std::trunc(number) != number) {
      return invalidAt(path, "expected an integer, got " + numberText(value));
    }
    if (number > kMax) {
      return invalidAt(path,
                       "must be at most " + std::to_string(kMax) + ", got " + numberText(value));
    }
    return static_cast<uint32_t>(number);
  }
  const uint64_t number = value.get<uint64_t>();
  if (number > kMax) {
    return invalidAt(path,
                     "must be at most " + std::to_string(kMax) + ", got " + numberText(value));
  }
  return static_cast<uint32_t>(number);
}

// A setting's JSON value as the text engine::applySetting reads, checked against the type the
// settings table declares for it.
Result<std::string> settingText(const Json& value, std::string_view type) {
  const auto got = [&value] { return value.is_number() ? numberText(value) : value.type_name(); };
  if (type == "bool") {
    if (value.is_boolean()) return std::string(value.get<bool>() ? "true" : "false");
    return Status::Invalid("expected true or false, got " + got());
  }
  if (type == "enum") {
    if (value.is_string()) return value.get<std::string>();
    return Status::Invalid("expected a string, got " + got());
  }
  if (type == "int") {
    if (std::optional<std::string> text = integerText(value)) return *std::move(text);
    return Status::Invalid("expected an integer, got " + got());
  }
  if (value.is_number_float()) return numberText(value);  // shortest text, reads back exactly
  if (value.is_number()) return value.dump();
  return Status::Invalid("expected a number, got " + got());
}

Status readSettings(const Json& settings, engine::Settings& out,
                    const engine::TemplateLimits& limits) {
  if (!settings.is_object()) {
    return invalidAt("settings", std::string("expected an object, got ") + settings.type_name());
  }
  for (const auto& [key, value] : settings.items()) {
    const engine::SettingInfo* info = nullptr;
    for (const engine::SettingInfo& each : engine::settingInfos()) {
      if (each.key == key) info = &each;
    }
    if (info == nullptr) {
      // applySetting words the unknown-key error, list of known keys included.
      return invalidAt("settings." + key, engine::applySetting(out, key, "", limits).message());
    }
    Result<std::string> text = settingText(value, info->type);
    if (!text.ok()) return invalidAt("settings." + key, text.status().message());
    Status status = engine::applySetting(out, key, *text, limits);
    // The message starts with the key: "refractory_time: must be between 1 and 255, got "0"".
    if (!status.ok()) return Status::Invalid("settings." + status.message());
  }
  return {};
}

Result<BrickSpec> readBrick(const Json& value, const std::string& path) {
  if (!value.is_object()) {
    return invalidAt(path, std::string("expected an object, got ") + value.type_name());
  }
  BrickSpec brick;
  bool has_position = false;
  bool has_neurons = false;
  for (const auto& [key, field] : value.items()) {
    const std::string field_path = path + "." + key;
    if (key == "position") {
      if (!field.is_array() || field.size() != 3) {
        return invalidAt(field_path, "expected an array of 3 integers [x, y, z]");
      }
      std::array<uint32_t, 3> coordinates{};
      for (size_t i = 0; i < 3; ++i) {
        Result<uint32_t> coordinate =
            readCount(field[i], field_path + "[" + std::to_string(i) + "]");
        if (!coordinate.ok()) return coordinate.status();
        coordinates[i] = *coordinate;
      }
      brick.position = {coordinates[0], coordinates[1], coordinates[2]};
      has_position = true;
    } else if (key == "input" || key == "output") {
      if (!field.is_string()) {
        return invalidAt(field_path, std::string("expected a string, got ") + field.type_name());
      }
      if (brick.role != BrickRole::kHidden) {
        return invalidAt(path, "a brick is either an input or an output, not both");
      }
      brick.role = key == "input" ? BrickRole::kInput : BrickRole::kOutput;
      brick.name = field.get<std::string>();  // its syntax is checked by validateTemplate
    } else if (key == "neurons") {
      Result<uint32_t> neurons = readCount(field, field_path);
      if (!neurons.ok()) return neurons.status();
      brick.neurons = *neurons;
      has_neurons = true;
    } else {
      return invalidAt(field_path, "unknown key (expected position, input, output or neurons)");
    }
  }
  if (!has_position) return invalidAt(path + ".position", "missing");
  if (!has_neurons) return invalidAt(path + ".neurons", "missing");
  return brick;
}

Result<Template> readTemplate(const Json& root, const engine::TemplateLimits& limits) {
  if (!root.is_object()) {
    return Status::Invalid(std::string("the template must be a JSON object, got ") +
                           root.type_name());
  }
  for (const auto& [key, value] : root.items()) {
    if (key != "version" && key != "settings" && key != "bricks") {
      return invalidAt(key, "unknown key (expected version, settings or bricks)");
    }
  }
  Template tmpl;
  if (!root.contains("version")) return invalidAt("version", "missing (must be 1)");
  Result<uint32_t> version = readCount(root["version"], "version");
  if (!version.ok()) return version.status();
  if (*version != 1) {
    return invalidAt("version", "unsupported template version " + std::to_string(*version) +
                                    "; this build reads version 1");
  }
  if (root.contains("settings")) {
    TENDRIL_RETURN_IF_ERROR(readSettings(root["settings"], tmpl.settings, limits));
  }
  if (!root.contains("bricks")) return invalidAt("bricks", "missing");
  const Json& bricks = root["bricks"];
  if (!bricks.is_array()) {
    return invalidAt("bricks", std::string("expected an array, got ") + bricks.type_name());
  }
  if (bricks.size() > limits.max_bricks) {
    return invalidAt("bricks", std::to_string(bricks.size()) + " bricks; the limit is " +
                                   std::to_string(limits.max_bricks));
  }
  for (size_t i = 0; i < bricks.size(); ++i) {
    Result<BrickSpec> brick = readBrick(bricks[i], "bricks[" + std::to_string(i) + "]");
    if (!brick.ok()) return brick.status();
    tmpl.bricks.push_back(std::move(brick).value());
  }
  return tmpl;
}

// A setting's text (engine::settingValueText) as a typed JSON value.
nlohmann::ordered_json settingJson(const std::string& text, std::string_view type) {
  if (type == "bool") return text == "true";
  if (type == "enum") return text;
  if (type == "int") {
    uint64_t value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value;
  }
  double value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

}  // namespace

Result<Template> parseTemplateJson(std::string_view json, const engine::TemplateLimits& limits) {
  if (json.size() > limits.max_text_bytes) {
    return Status::Invalid("template JSON is " + std::to_string(json.size()) +
                           " bytes; the limit is " + std::to_string(limits.max_text_bytes));
  }
  Json root;
  try {
    StructureCheck check;
    if (!Json::sax_parse(json.begin(), json.end(), &check)) {
      return Status::Invalid(check.problem());
    }
    root = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  } catch (const Json::exception& error) {  // not expected after the SAX pass; kept contained
    return Status::Invalid(std::string("invalid JSON: ") + error.what());
  }
  if (root.is_discarded()) return Status::Invalid("invalid JSON");
  Result<Template> tmpl = readTemplate(root, limits);
  if (!tmpl.ok()) return tmpl;
  TENDRIL_RETURN_IF_ERROR(engine::validateTemplate(*tmpl, limits));
  return tmpl;
}

std::string templateToJson(const Template& tmpl, int indent) {
  using OrderedJson = nlohmann::ordered_json;
  // Built apart and moved in at the end: ordered_json keeps members in a vector, so a reference
  // to one member does not survive adding the next.
  OrderedJson settings = OrderedJson::object();
  for (const engine::SettingInfo& info : engine::settingInfos()) {
    settings[std::string(info.key)] =
        settingJson(engine::settingValueText(tmpl.settings, info.key), info.type);
  }
  OrderedJson bricks = OrderedJson::array();
  for (const BrickSpec& brick : tmpl.bricks) {
    OrderedJson item;
    item["position"] = {brick.position.x, brick.position.y, brick.position.z};
    if (brick.role == BrickRole::kInput) item["input"] = brick.name;
    if (brick.role == BrickRole::kOutput) item["output"] = brick.name;
    item["neurons"] = brick.neurons;
    bricks.push_back(std::move(item));
  }
  // Names of valid templates are ASCII; replacing bad UTF-8 keeps dump() from throwing.
  const auto dump = [](const OrderedJson& value, int spaces) {
    return value.dump(spaces, ' ', false, OrderedJson::error_handler_t::replace);
  };
  if (indent < 0) {
    OrderedJson out;
    out["version"] = tmpl.version;
    out["settings"] = std::move(settings);
    out["bricks"] = std::move(bricks);
    return dump(out, -1);
  }
  // Indented, but one line per brick: a template with many bricks stays readable.
  const std::string pad(static_cast<size_t>(indent), ' ');
  std::string text =
      "{\n" + pad + "\"version\": " + std::to_string(tmpl.version) + ",\n" + pad + "\"settings\": ";
  for (char c : dump(settings, indent)) text += c == '\n' ? "\n" + pad : std::string(1, c);
  text += ",\n" + pad + "\"bricks\": [";
  for (size_t i = 0; i < bricks.size(); ++i) {
    text += (i == 0 ? "\n" : ",\n") + pad + pad + dump(bricks[i], -1);
  }
  return text + "\n" + pad + "]\n}";
}

Result<Template> parseTemplateAny(std::string_view text, const engine::TemplateLimits& limits) {
  constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";
  if (text.substr(0, kByteOrderMark.size()) == kByteOrderMark) {
    text.remove_prefix(kByteOrderMark.size());
  }
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && text[first] == '{') return parseTemplateJson(text, limits);
  return engine::parseTemplateText(text, limits);
}

}  // namespace tendril::data
