// Templates: the settings table, the Hanami text format (parser and formatter) and validation.
// The format is specified in docs/templates.md; this file is its only reader and writer.
#include "engine/template.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <system_error>

#include "engine/geometry.h"

namespace tendril::engine {
namespace {

// Far beyond any useful grid, small enough that neighbour arithmetic never wraps.
constexpr uint64_t kMaxCoordinate = 1'000'000;

// ---- lexical helpers shared by settings and the text parser ----

std::string_view trim(std::string_view text) {
  const auto isSpace = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  while (!text.empty() && isSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && isSpace(text.back())) text.remove_suffix(1);
  return text;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

bool isNameChar(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

size_t countDigits(std::string_view text, size_t from) {
  size_t end = from;
  while (end < text.size() && isDigit(text[end])) ++end;
  return end - from;
}

// Quotes user text for a message, cut short so a megabyte of garbage stays out of logs.
std::string quote(std::string_view text) {
  constexpr size_t kShown = 40;
  if (text.size() <= kShown) return "\"" + std::string(text) + "\"";
  return "\"" + std::string(text.substr(0, kShown)) + "...\"";
}

// An integer as the text format writes it (-?[0-9]+), within [min, max]. A minus sign is
// accepted by the lexer so that "-1" gets a range error rather than a syntax error.
Result<uint64_t> parseInteger(std::string_view text, uint64_t min, uint64_t max) {
  const bool negative = !text.empty() && text.front() == '-';
  const std::string_view digits = negative ? text.substr(1) : text;
  if (digits.empty() || countDigits(digits, 0) != digits.size()) {
    return Status::Invalid("expected an integer, got " + quote(text));
  }
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  const bool inRange = error == std::errc() && !(negative && value != 0);
  if (!inRange || value < min || value > max) {
    return Status::Invalid("must be between " + std::to_string(min) + " and " +
                           std::to_string(max) + ", got " + quote(text));
  }
  return value;
}

// A decimal number: -?[0-9]+(.[0-9]+)?([eE][-+]?[0-9]+)?. Hanami's floats always have a dot;
// integers and exponents are accepted too so that JSON numbers pass through unchanged.
Result<double> parseNumber(std::string_view text) {
  size_t at = (!text.empty() && text.front() == '-') ? 1 : 0;
  size_t run = countDigits(text, at);
  bool wellFormed = run > 0;
  at += run;
  if (wellFormed && at < text.size() && text[at] == '.') {
    run = countDigits(text, at + 1);
    wellFormed = run > 0;
    at += 1 + run;
  }
  if (wellFormed && at < text.size() && (text[at] == 'e' || text[at] == 'E')) {
    ++at;
    if (at < text.size() && (text[at] == '+' || text[at] == '-')) ++at;
    run = countDigits(text, at);
    wellFormed = run > 0;
    at += run;
  }
  if (!wellFormed || at != text.size()) {
    return Status::Invalid("expected a number, got " + quote(text));
  }
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || !std::isfinite(value)) {
    return Status::Invalid("number out of range: " + quote(text));
  }
  return value;
}

// The shortest text that reads back to exactly `value`, with a dot as Hanami writes floats
// ("1000000000.0"); exponent form only where the plain form would be unreadably long.
std::string formatNumber(double value) {
  std::array<char, 400> buffer{};  // fits every double in fixed notation
  if (std::isfinite(value)) {
    const auto fixed = std::to_chars(buffer.begin(), buffer.end(), value, std::chars_format::fixed);
    std::string text(buffer.begin(), fixed.ptr);
    if (fixed.ec == std::errc() && text.size() <= 24) {
      return text.find('.') == std::string::npos ? text + ".0" : text;
    }
  }
  const auto shortest = std::to_chars(buffer.begin(), buffer.end(), value);
  return std::string(buffer.begin(), shortest.ptr);
}

Result<bool> parseBool(std::string_view text) {
  if (text == "true" || text == "True") return true;
  if (text == "false" || text == "False") return false;
  return Status::Invalid("expected true or false, got " + quote(text));
}

// Why `name` is not a valid I/O name, phrased to follow "input name", or empty when it is valid.
std::string nameProblem(std::string_view name, const TemplateLimits& limits) {
  if (name.empty()) return "is empty";
  if (name.size() > limits.max_name_length) {
    return "is longer than " + std::to_string(limits.max_name_length) + " characters";
  }
  for (char c : name) {
    if (!isNameChar(c)) return quote(name) + " has characters other than letters, digits and _";
  }
  return {};
}

// ---- the settings table: every key declared once ----

using ApplyFn = Status (*)(Settings&, std::string_view value, const TemplateLimits&);
using FormatFn = std::string (*)(const Settings&);

struct SettingDef {
  SettingInfo info;
  ApplyFn apply;    // parses and range-checks `value`; the message does not repeat the key
  FormatFn format;  // the inverse of apply
};

template <typename Field>
Status setInteger(Field& field, std::string_view value, uint64_t min, uint64_t max) {
  Result<uint64_t> parsed = parseInteger(value, min, max);
  if (!parsed.ok()) return parsed.status();
  field = static_cast<Field>(*parsed);
  return {};
}

Status setBool(bool& field, std::string_view value) {
  Result<bool> parsed = parseBool(value);
  if (!parsed.ok()) return parsed.status();
  field = *parsed;
  return {};
}

const char* outputLossName(OutputLoss loss) {
  switch (loss) {
    case OutputLoss::kCrossEntropy: return "cross_entropy";
    case OutputLoss::kSoftmax: return "softmax";
    case OutputLoss::kSquaredError: break;
  }
  return "squared_error";
}

constexpr std::array<SettingDef, 12> kSettingDefs = {{
    {{"neuron_cooldown", "float", "1000000000.0",
      "divisor applied each cycle to a hidden neuron's carried potential; >= 1 "
      "(1 keeps all of it, the default 1e9 keeps nothing)"},
     [](Settings& s, std::string_view value, const TemplateLimits&) -> Status {
       Result<double> parsed = parseNumber(value);
       if (!parsed.ok()) return parsed.status();
       // It divides the carried potential: below 1 the potential would grow every cycle.
       if (*parsed < 1.0) return Status::Invalid("must be at least 1, got " + quote(value));
       s.neuron_cooldown = *parsed;
       return {};
     },
     [](const Settings& s) { return formatNumber(s.neuron_cooldown); }},
    {{"refractory_time", "int", "1",
      "cycles between two integrations of input by a hidden neuron (1 = every cycle); "
      "1..max_refractory_time (255)"},
     [](Settings& s, std::string_view value, const TemplateLimits& limits) {
       return setInteger(s.refractory_time, value, 1, limits.max_refractory_time);
     },
     [](const Settings& s) { return std::to_string(s.refractory_time); }},
    {{"max_connection_distance", "int", "1",
      "most brick hops between a neuron and the brick a new section of it targets; "
      "1..max_connection_distance (16)"},
     [](Settings& s, std::string_view value, const TemplateLimits& limits) {
       return setInteger(s.max_connection_distance, value, 1, limits.max_connection_distance);
     },
     [](const Settings& s) { return std::to_string(s.max_connection_distance); }},
    {{"enable_reduction", "bool", "false",
      "every 100 training cycles, prune synapses that never proved useful"},
     [](Settings& s, std::string_view value, const TemplateLimits&) {
       return setBool(s.enable_reduction, value);
     },
     [](const Settings& s) { return std::string(s.enable_reduction ? "true" : "false"); }},
    {{"learning_rate", "float", "0.05", "step size of the weight updates; > 0 and <= 10"},
     [](Settings& s, std::string_view value, const TemplateLimits&) -> Status {
       Result<double> parsed = parseNumber(value);
       if (!parsed.ok()) return parsed.status();
       if (!(*parsed > 0.0 && *parsed <= 10.0)) {
         return Status::Invalid("must be above 0 and at most 10, got " + quote(value));
       }
       s.learning_rate = *parsed;
       return {};
     },
     [](const Settings& s) { return formatNumber(s.learning_rate); }},
    {{"learning_rate_decay", "int", "0",
      "cycles over which the learning rate halves, as rate x D / (D + cycles trained); "
      "0 keeps it constant; 0..10^12"},
     [](Settings& s, std::string_view value, const TemplateLimits&) {
       return setInteger(s.learning_rate_decay, value, 0, uint64_t{1000000000000});
     },
     [](const Settings& s) { return std::to_string(s.learning_rate_decay); }},
    {{"hidden_dropout", "float", "0.0",
      "share of hidden neurons silenced at random in each training cycle (dropout); 0..0.9"},
     [](Settings& s, std::string_view value, const TemplateLimits&) -> Status {
       Result<double> parsed = parseNumber(value);
       if (!parsed.ok()) return parsed.status();
       if (!(*parsed >= 0.0 && *parsed <= 0.9)) {
         return Status::Invalid("must be from 0 to 0.9, got " + quote(value));
       }
       s.hidden_dropout = *parsed;
       return {};
     },
     [](const Settings& s) { return formatNumber(s.hidden_dropout); }},
    {{"seed", "int", "0", "all randomness of the cluster derives from it; 0..2^64-1"},
     [](Settings& s, std::string_view value, const TemplateLimits&) {
       return setInteger(s.seed, value, 0, std::numeric_limits<uint64_t>::max());
     },
     [](const Settings& s) { return std::to_string(s.seed); }},
    {{"sign_split_inputs", "bool", "true",
      "each input value feeds two neurons, one for its positive and one for its negative part"},
     [](Settings& s, std::string_view value, const TemplateLimits&) {
       return setBool(s.sign_split_inputs, value);
     },
     [](const Settings& s) { return std::string(s.sign_split_inputs ? "true" : "false"); }},
    {{"output_loss", "enum", "squared_error",
      "how outputs are formed and their error measured: squared_error (sigmoid outputs, the "
      "Hanami rule), cross_entropy (sigmoid outputs) or softmax (each output brick sums to 1)"},
     [](Settings& s, std::string_view value, const TemplateLimits&) -> Status {
       if (value == "squared_error") {
         s.output_loss = OutputLoss::kSquaredError;
       } else if (value == "cross_entropy") {
         s.output_loss = OutputLoss::kCrossEntropy;
       } else if (value == "softmax") {
         s.output_loss = OutputLoss::kSoftmax;
       } else {
         return Status::Invalid("expected squared_error, cross_entropy or softmax, got " +
                                quote(value));
       }
       return {};
     },
     [](const Settings& s) { return std::string(outputLossName(s.output_loss)); }},
    {{"synapses_per_section", "int", "8", "most synapses one section holds; 4..255"},
     [](Settings& s, std::string_view value, const TemplateLimits&) {
       return setInteger(s.synapses_per_section, value, 4, 255);
     },
     [](const Settings& s) { return std::to_string(s.synapses_per_section); }},
    {{"sections_per_neuron", "int", "8", "most sections one neuron may own; 1..64"},
     [](Settings& s, std::string_view value, const TemplateLimits&) {
       return setInteger(s.sections_per_neuron, value, 1, 64);
     },
     [](const Settings& s) { return std::to_string(s.sections_per_neuron); }},
}};

const SettingDef* findSetting(std::string_view key) {
  for (const SettingDef& def : kSettingDefs) {
    if (def.info.key == key) return &def;
  }
  return nullptr;
}

// Runs every setting through its own parser, so a Settings value built in code (or read from
// a checkpoint) meets exactly the ranges a template's text must meet.
Status validateSettings(const Settings& settings, const TemplateLimits& limits) {
  for (const SettingDef& def : kSettingDefs) {
    Settings scratch;
    Status status = def.apply(scratch, def.format(settings), limits);
    if (!status.ok()) {
      return Status::Invalid("setting " + std::string(def.info.key) + ": " + status.message());
    }
  }
  return {};
}

// ---- the text format ----

// Reads the text format line by line. Whitespace is insignificant (indentation included); a
// line is a section header, a "key: value" field or a brick position "X,Y,Z".
class TextParser {
 public:
  explicit TextParser(const TemplateLimits& limits) : limits_(limits) {}

  Result<Template> parse(std::string_view text) {
    while (!text.empty()) {
      const size_t end = text.find('\n');
      std::string_view line = text.substr(0, end);
      text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
      ++line_;
      line = trim(line.substr(0, line.find('#')));
      if (line.empty()) continue;
      TENDRIL_RETURN_IF_ERROR(parseLine(line));
    }
    if (section_ == Section::kVersion) return error("expected \"version: 1\", got end of text");
    if (section_ != Section::kBricks) return error("expected \"bricks:\", got end of text");
    TENDRIL_RETURN_IF_ERROR(finishBrick());
    if (tmpl_.bricks.empty()) return error("expected a brick position \"X,Y,Z\", got end of text");
    return std::move(tmpl_);
  }

 private:
  enum class Section { kVersion, kBeforeBricks, kSettings, kBricks };
  struct Field {
    std::string_view key;
    std::string_view value;
  };

  Status error(const std::string& message) const {
    return Status::Invalid("line " + std::to_string(std::max(line_, 1)) + ": " + message);
  }

  // "key: value" where key is a name; nullopt for anything else.
  static std::optional<Field> splitField(std::string_view line) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    const std::string_view key = trim(line.substr(0, colon));
    if (!nameProblem(key, TemplateLimits{}).empty()) return std::nullopt;
    return Field{key, trim(line.substr(colon + 1))};
  }

  Status parseLine(std::string_view line) {
    const std::optional<Field> field = splitField(line);
    const bool header = field && field->value.empty();
    if (section_ == Section::kVersion) {
      if (!field || field->key != "version") {
        return error("expected \"version: 1\" as the first line, got " + quote(line));
      }
      if (field->value != "1") {
        return error("unsupported template version " + quote(field->value) +
                     "; this build reads version 1");
      }
      section_ = Section::kBeforeBricks;
      return {};
    }
    if (header && field->key == "settings") {
      if (section_ != Section::kBeforeBricks) {
        return error(section_ == Section::kBricks ? "\"settings:\" must come before \"bricks:\""
                                                  : "\"settings:\" given twice");
      }
      section_ = Section::kSettings;
      return {};
    }
    if (header && field->key == "bricks") {
      if (section_ == Section::kBricks) return error("\"bricks:\" given twice");
      section_ = Section::kBricks;
      return {};
    }
    if (field && field->key == "version") return error("\"version\" may appear only once, first");
    switch (section_) {
      case Section::kBeforeBricks:
        return error("expected \"settings:\" or \"bricks:\", got " + quote(line));
      case Section::kSettings:
        return parseSetting(field, line);
      default:
        return field ? parseBrickField(*field) : parsePosition(line);
    }
  }

  Status parseSetting(const std::optional<Field>& field, std::string_view line) {
    if (!field || field->value.empty()) {
      return error("expected a setting \"key: value\", got " + quote(line));
    }
    const auto [first, inserted] = setting_lines_.emplace(std::string(field->key), line_);
    if (!inserted) {
      return error("setting " + std::string(field->key) + " given twice (first on line " +
                   std::to_string(first->second) + ")");
    }
    Status status = applySetting(tmpl_.settings, field->key, field->value, limits_);
    return status.ok() ? status : error(status.message());
  }

  Status parsePosition(std::string_view line) {
    TENDRIL_RETURN_IF_ERROR(finishBrick());
    if (tmpl_.bricks.size() >= limits_.max_bricks) {
      return error("more than " + std::to_string(limits_.max_bricks) + " bricks");
    }
    std::array<std::string_view, 3> parts;
    std::string_view rest = line;
    for (size_t i = 0; i < parts.size(); ++i) {
      const size_t comma = rest.find(',');
      const bool last = i + 1 == parts.size();
      if (last != (comma == std::string_view::npos)) {
        return error("expected \"X,Y,Z\" brick position, got " + quote(line));
      }
      parts[i] = trim(rest.substr(0, comma));
      if (!last) rest = rest.substr(comma + 1);
    }
    std::array<uint32_t, 3> coordinates{};
    for (size_t i = 0; i < parts.size(); ++i) {
      const std::string_view part = parts[i];
      const size_t sign = !part.empty() && part.front() == '-' ? 1 : 0;
      if (part.size() == sign || countDigits(part, sign) != part.size() - sign) {
        return error("expected \"X,Y,Z\" brick position, got " + quote(line));
      }
      Result<uint64_t> value = parseInteger(part, 1, kMaxCoordinate);
      if (!value.ok()) return error("brick position coordinate " + value.status().message());
      coordinates[i] = static_cast<uint32_t>(*value);
    }
    current_ = BrickSpec{};
    current_->position = {coordinates[0], coordinates[1], coordinates[2]};
    current_->line = line_;
    neurons_seen_ = false;
    return {};
  }

  Status parseBrickField(const Field& field) {
    if (!current_) {
      return error(quote(field.key) + " must follow a brick position line \"X,Y,Z\"");
    }
    BrickSpec& brick = *current_;
    const std::string where = "brick " + toString(brick.position) + ": ";
    if (field.key == "input" || field.key == "output") {
      if (brick.role != BrickRole::kHidden) {
        return error(where + "a brick has at most one \"input\" or \"output\" line");
      }
      const std::string problem = nameProblem(field.value, limits_);
      if (!problem.empty()) return error(where + std::string(field.key) + " name " + problem);
      brick.role = field.key == "input" ? BrickRole::kInput : BrickRole::kOutput;
      brick.name = std::string(field.value);
      return {};
    }
    if (field.key == "number_of_neurons") {
      if (neurons_seen_) return error(where + "number_of_neurons given twice");
      Result<uint64_t> value = parseInteger(field.value, 0, std::numeric_limits<uint32_t>::max());
      if (!value.ok()) return error(where + "number_of_neurons " + value.status().message());
      brick.neurons = static_cast<uint32_t>(*value);
      neurons_seen_ = true;
      return {};
    }
    return error(where + "unknown brick field " + quote(field.key) +
                 " (expected input, output or number_of_neurons)");
  }

  Status finishBrick() {
    if (!current_) return {};
    if (!neurons_seen_) {
      return Status::Invalid("line " + std::to_string(current_->line) + ": brick " +
                             toString(current_->position) + " has no number_of_neurons line");
    }
    tmpl_.bricks.push_back(std::move(*current_));
    current_.reset();
    return {};
  }

  const TemplateLimits& limits_;
  Template tmpl_;
  Section section_ = Section::kVersion;
  int line_ = 0;
  std::map<std::string, int, std::less<>> setting_lines_;  // key -> line it was set on
  std::optional<BrickSpec> current_;  // the brick whose field lines are being read
  bool neurons_seen_ = false;
};

}  // namespace

std::string toString(const Position& position) {
  return std::to_string(position.x) + "," + std::to_string(position.y) + "," +
         std::to_string(position.z);
}

std::string_view toString(BrickRole role) {
  switch (role) {
    case BrickRole::kInput:
      return "input";
    case BrickRole::kOutput:
      return "output";
    case BrickRole::kHidden:
      break;
  }
  return "hidden";
}

std::string describeBrick(const BrickSpec& brick) {
  std::string text = "brick " + toString(brick.position);
  if (brick.line > 0) text += " (line " + std::to_string(brick.line) + ")";
  return text;
}

const std::vector<SettingInfo>& settingInfos() {
  static const std::vector<SettingInfo> infos = [] {
    std::vector<SettingInfo> list;
    for (const SettingDef& def : kSettingDefs) list.push_back(def.info);
    return list;
  }();
  return infos;
}

Status applySetting(Settings& settings, std::string_view key, std::string_view value,
                    const TemplateLimits& limits) {
  const SettingDef* def = findSetting(key);
  if (def == nullptr) {
    std::string known;
    for (const SettingDef& each : kSettingDefs) {
      known += (known.empty() ? "" : ", ") + std::string(each.info.key);
    }
    return Status::Invalid("unknown setting " + quote(key) + " (known settings: " + known + ")");
  }
  Status status = def->apply(settings, trim(value), limits);
  if (status.ok()) return status;
  return Status::Invalid(std::string(key) + ": " + status.message());
}

std::string settingValueText(const Settings& settings, std::string_view key) {
  const SettingDef* def = findSetting(key);
  return def == nullptr ? std::string() : def->format(settings);
}

Result<Template> parseTemplateText(std::string_view text, const TemplateLimits& limits) {
  if (text.size() > limits.max_text_bytes) {
    return Status::Invalid("template text is " + std::to_string(text.size()) +
                           " bytes; the limit is " + std::to_string(limits.max_text_bytes));
  }
  Result<Template> parsed = TextParser(limits).parse(text);
  if (!parsed.ok()) return parsed;
  TENDRIL_RETURN_IF_ERROR(validateTemplate(*parsed, limits));
  return parsed;
}

std::string formatTemplateText(const Template& tmpl) {
  std::string text = "version: " + std::to_string(tmpl.version) + "\nsettings:\n";
  for (const SettingDef& def : kSettingDefs) {
    text += "    " + std::string(def.info.key) + ": " + def.format(tmpl.settings) + "\n";
  }
  text += "bricks:\n";
  for (const BrickSpec& brick : tmpl.bricks) {
    text += "    " + toString(brick.position) + "\n";
    if (brick.role != BrickRole::kHidden) {
      text += "        " + std::string(toString(brick.role)) + ": " + brick.name + "\n";
    }
    text += "        number_of_neurons: " + std::to_string(brick.neurons) + "\n";
  }
  return text;
}

Status validateTemplate(const Template& tmpl, const TemplateLimits& limits) {
  if (tmpl.version != 1) {
    return Status::Invalid("unsupported template version " + std::to_string(tmpl.version) +
                           "; this build reads version 1");
  }
  TENDRIL_RETURN_IF_ERROR(validateSettings(tmpl.settings, limits));
  if (tmpl.bricks.empty()) return Status::Invalid("the template lists no brick");
  if (tmpl.bricks.size() > limits.max_bricks) {
    return Status::Invalid("the template lists " + std::to_string(tmpl.bricks.size()) +
                           " bricks; the limit is " + std::to_string(limits.max_bricks));
  }
  std::map<Position, const BrickSpec*> positions;
  std::map<std::string, const BrickSpec*, std::less<>> names;
  uint64_t total_neurons = 0;
  bool has_input = false;
  bool has_output = false;
  for (const BrickSpec& brick : tmpl.bricks) {
    const auto invalid = [&brick](const std::string& why) {
      return Status::Invalid(describeBrick(brick) + ": " + why);
    };
    const Position& p = brick.position;
    if (std::min({p.x, p.y, p.z}) < 1 || std::max({p.x, p.y, p.z}) > kMaxCoordinate) {
      return invalid("coordinates must be between 1 and " + std::to_string(kMaxCoordinate));
    }
    if (const auto [it, inserted] = positions.emplace(p, &brick); !inserted) {
      return invalid("position already used by " + describeBrick(*it->second));
    }
    if (brick.neurons == 0) return invalid("needs at least 1 neuron");
    if (brick.neurons > limits.max_neurons_per_brick) {
      return invalid(std::to_string(brick.neurons) + " neurons exceed the limit of " +
                     std::to_string(limits.max_neurons_per_brick) + " per brick");
    }
    total_neurons += brick.neurons;
    if (brick.role == BrickRole::kHidden) {
      if (!brick.name.empty()) return invalid("a hidden brick has no name");
      continue;
    }
    const std::string problem = nameProblem(brick.name, limits);
    if (!problem.empty()) return invalid(std::string(toString(brick.role)) + " name " + problem);
    if (const auto [it, inserted] = names.emplace(brick.name, &brick); !inserted) {
      return invalid("name " + quote(brick.name) + " is already used by " +
                     describeBrick(*it->second) + "; input and output names must all differ");
    }
    has_input = has_input || brick.role == BrickRole::kInput;
    has_output = has_output || brick.role == BrickRole::kOutput;
  }
  if (total_neurons > limits.max_total_neurons) {
    return Status::Invalid("the bricks hold " + std::to_string(total_neurons) +
                           " neurons in all; the limit is " +
                           std::to_string(limits.max_total_neurons));
  }
  if (!has_input) return Status::Invalid("no input brick: mark one with \"input: NAME\"");
  if (!has_output) return Status::Invalid("no output brick: mark one with \"output: NAME\"");
  Result<BrickGraph> graph = buildBrickGraph(tmpl);
  return graph.ok() ? Status::Ok() : graph.status();
}

}  // namespace tendril::engine
