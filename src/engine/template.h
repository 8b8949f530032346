// Cluster templates: the description a cluster is created from.
//
// A template lists bricks (cells of the hexagonal 3-D grid) with their role (input, output or
// hidden), their neuron count and, for I/O bricks, a name; plus a few settings. Two encodings
// exist: the Hanami text format (parsed here) and JSON (parsed in src/data/template_json.h, since
// the engine never sees JSON). Both produce the same Template, and both run validateTemplate().
//
// Thread safety: all functions are pure; Template is a plain value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tendril::engine {

// A brick position on the grid. Coordinates start at 1 (0 is rejected).
struct Position {
  uint32_t x = 0;
  uint32_t y = 0;
  uint32_t z = 0;
  friend auto operator<=>(const Position&, const Position&) = default;
};

std::string toString(const Position& position);  // "1,2,1"

enum class BrickRole : uint8_t { kHidden = 0, kInput = 1, kOutput = 2 };
std::string_view toString(BrickRole role);  // "hidden", "input" or "output"

struct BrickSpec {
  Position position;
  BrickRole role = BrickRole::kHidden;
  std::string name;      // I/O name for input and output bricks; empty for hidden bricks
  uint32_t neurons = 0;  // I/O width for input/output bricks; capacity for hidden bricks
  int line = 0;          // 1-based source line of the position (text format); 0 if unknown
  friend bool operator==(const BrickSpec&, const BrickSpec&) = default;
};

// How messages name a brick: "brick 2,1,1 (line 5)", or "brick 2,1,1" when the line is unknown.
std::string describeBrick(const BrickSpec& brick);

// How the output error is measured in the backward pass.
enum class OutputLoss : uint8_t {
  kSquaredError = 0,  // H4 rule: delta = (y - t) * y * (1 - y)
  kCrossEntropy = 1,  // sigmoid + binary cross-entropy: delta = y - t
  kSoftmax = 2,       // softmax over each output brick + cross-entropy: delta = y - t
};

// Every setting of a template, with its default. The table in template.cc declares each key
// once (name, type, range, documentation); parsers, the formatter and the docs use that table.
struct Settings {
  double neuron_cooldown = 1e9;          // divisor applied each cycle to carried potential
  uint32_t refractory_time = 1;          // cycles between two integrations (1 = every cycle)
  uint32_t max_connection_distance = 1;  // brick hops a new section may reach
  bool enable_reduction = false;         // prune synapses that never prove useful
  double learning_rate = 0.05;           // Tendril extension
  uint64_t learning_rate_decay = 0;      // Tendril extension: cycles until the rate halves
  double hidden_dropout = 0.0;           // Tendril extension: share of hidden neurons silenced
  uint64_t seed = 0;                     // Tendril extension: all randomness derives from it
  bool sign_split_inputs = true;         // Tendril extension: negative inputs get own channel
  OutputLoss output_loss = OutputLoss::kSquaredError;  // Tendril extension
  uint32_t synapses_per_section = 8;     // Tendril extension: most synapses of one section
  uint32_t sections_per_neuron = 8;      // Tendril extension: most sections one neuron may own
  friend bool operator==(const Settings&, const Settings&) = default;
};

struct Template {
  uint32_t version = 1;
  Settings settings;
  std::vector<BrickSpec> bricks;  // declaration order
  friend bool operator==(const Template&, const Template&) = default;
};

// Bounds that keep a template from allocating unbounded memory. The service sets them from its
// configuration; the defaults suit local tools.
struct TemplateLimits {
  size_t max_text_bytes = 1u << 20;        // 1 MiB of template text
  uint32_t max_bricks = 1024;
  uint32_t max_neurons_per_brick = 1u << 20;
  uint64_t max_total_neurons = 1u << 22;
  uint32_t max_name_length = 128;           // I/O names: [A-Za-z0-9_]+
  uint32_t max_connection_distance = 16;
  uint32_t max_refractory_time = 255;
};

// Describes one settings key for parsers, the formatter and the docs.
struct SettingInfo {
  std::string_view key;
  std::string_view type;  // "float", "int", "bool" or "enum"
  std::string_view default_text;
  std::string_view doc;
};
const std::vector<SettingInfo>& settingInfos();

// Parses the Hanami text format (see docs/templates.md) and validates the result.
// Errors name the line ("line 7: ...") or the brick ("brick 2,1,1: ...").
Result<Template> parseTemplateText(std::string_view text, const TemplateLimits& limits = {});

// Writes a template in the text format, every setting included. parseTemplateText() of the
// result equals `tmpl` except for BrickSpec::line, which then holds the lines of the written text.
std::string formatTemplateText(const Template& tmpl);

// Checks everything a parser cannot see line by line: neuron counts and caps, duplicate
// positions and I/O names, at least one input and one output brick, bricks touching no other
// brick, cycles, and bricks from which no output brick can be reached. Messages name the brick.
Status validateTemplate(const Template& tmpl, const TemplateLimits& limits = {});

// Applies one "key: value" setting given as text (shared by the text and JSON parsers).
// Unknown keys and out-of-range values give an InvalidArgument naming the key.
Status applySetting(Settings& settings, std::string_view key, std::string_view value,
                    const TemplateLimits& limits = {});

// The value of one setting as text that applySetting() reads back exactly (shortest round-trip
// form for floats); empty for an unknown key. Used by the formatter, the JSON writer and the CLI.
std::string settingValueText(const Settings& settings, std::string_view key);

}  // namespace tendril::engine
