// `tendril check-template FILE [--json]`: parses and validates a template (text or JSON) and
// shows what the engine will build from it, so a template can be fixed before a cluster exists.
//
// Exit status: 0 valid, 1 the file cannot be read, 2 the template is invalid.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "cli/commands.h"
#include "data/template_json.h"
#include "engine/geometry.h"
#include "engine/template.h"

namespace tendril::cli {
namespace {

constexpr int kUnreadable = 1;
constexpr int kInvalid = 2;

struct CheckTemplateOptions {
  std::string file;
  bool json = false;
};

// Reads at most `limit` + 1 bytes, enough for the parser to refuse an oversized file without
// this command holding all of it.
Result<std::string> readFile(const std::string& path, size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Io("cannot read " + path + ": " + std::strerror(errno));
  std::string text(limit + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return Status::Io("cannot read " + path + ": " + std::strerror(errno));
  text.resize(static_cast<size_t>(in.gcount()));
  return text;
}

std::string summary(const engine::Template& tmpl, const engine::BrickGraph& graph) {
  uint64_t neurons = 0;
  int inputs = 0;
  int outputs = 0;
  for (const engine::BrickSpec& brick : tmpl.bricks) {
    neurons += brick.neurons;
    inputs += brick.role == engine::BrickRole::kInput ? 1 : 0;
    outputs += brick.role == engine::BrickRole::kOutput ? 1 : 0;
  }
  std::ostringstream out;
  out << "template is valid: " << tmpl.bricks.size() << " bricks, " << neurons << " neurons, "
      << inputs << " input and " << outputs << " output bricks\n\nsettings:\n";
  for (const engine::SettingInfo& info : engine::settingInfos()) {
    out << "  " << info.key << ": " << engine::settingValueText(tmpl.settings, info.key) << "\n";
  }
  out << "\nbricks (declaration order):\n";
  for (size_t b = 0; b < tmpl.bricks.size(); ++b) {
    const engine::BrickSpec& brick = tmpl.bricks[b];
    std::string role(engine::toString(brick.role));
    if (!brick.name.empty()) role += " \"" + brick.name + "\"";
    out << "  " << engine::toString(brick.position) << "  " << role << ", " << brick.neurons
        << (brick.neurons == 1 ? " neuron" : " neurons");
    if (!graph.forward[b].empty()) {
      out << ", feeds";
      for (uint32_t next : graph.forward[b]) {
        out << " " << engine::toString(tmpl.bricks[next].position);
      }
    }
    out << "\n";
  }
  out << "\nprocessing order:";
  for (uint32_t b : graph.topological_order) {
    out << (b == graph.topological_order.front() ? " " : " -> ")
        << engine::toString(tmpl.bricks[b].position);
  }
  out << "\n";
  return out.str();
}

int checkTemplate(const CheckTemplateOptions& options) {
  const engine::TemplateLimits limits;
  Result<std::string> text = readFile(options.file, limits.max_text_bytes);
  if (!text.ok()) {
    std::cerr << "tendril check-template: " << text.status().message() << "\n";
    return kUnreadable;
  }
  if (text->size() > limits.max_text_bytes) {
    std::cerr << options.file << ": larger than the template limit of " << limits.max_text_bytes
              << " bytes\n";
    return kInvalid;
  }
  Result<engine::Template> tmpl = data::parseTemplateAny(*text, limits);
  if (!tmpl.ok()) {
    std::cerr << options.file << ": " << tmpl.status().message() << "\n";
    return kInvalid;
  }
  if (options.json) {
    std::cout << data::templateToJson(*tmpl, 2) << "\n";
    return 0;
  }
  // Cannot fail: validation already built this graph.
  Result<engine::BrickGraph> graph = engine::buildBrickGraph(*tmpl);
  if (!graph.ok()) {
    std::cerr << options.file << ": " << graph.status().message() << "\n";
    return kInvalid;
  }
  std::cout << summary(*tmpl, *graph);
  return 0;
}

}  // namespace

void addCheckTemplateCommand(CLI::App& app) {
  auto options = std::make_shared<CheckTemplateOptions>();
  CLI::App* command = app.add_subcommand(
      "check-template",
      "Parse and validate a cluster template (Hanami text format or JSON) and show the bricks, "
      "their wiring and the processing order. Exit status: 0 valid, 1 unreadable file, "
      "2 invalid template.");
  command->add_option("FILE", options->file, "template file")->required();
  command->add_flag("--json", options->json, "print the parsed template as JSON instead");
  command->callback([options] { exitCode() = checkTemplate(*options); });
}

}  // namespace tendril::cli
