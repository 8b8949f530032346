#include "api/template_routes.h"

#include <nlohmann/json.hpp>
#include <string>

#include "data/template_json.h"

namespace tendril::api {

void addTemplateEndpoints(std::vector<Endpoint>& out, engine::TemplateLimits limits) {
  using service::PolicyRole;
  Endpoint check = declare(
      "POST", "/api/v1/templates/check", "templates.check",
      "Validate a cluster template without creating anything (the dashboard's preview)",
      {PolicyRole::kUser, PolicyRole::kMember, PolicyRole::kProjectAdmin, PolicyRole::kAdmin});
  check.success_status = 200;  // nothing is created
  check.description =
      "The same parser and limits as POST /api/v1/clusters: 400 naming the line (text) or path "
      "(JSON) when the template does not parse.";
  check.input = {Field::string("template")
                     .required()
                     .length(1, limits.max_text_bytes)
                     .describe("Hanami text or JSON template")};
  check.output = {
      {"inputs", FieldType::kArray, "input ports in order: {name, width}"},
      {"outputs", FieldType::kArray, "output ports in order: {name, width}"},
      {"bricks", FieldType::kInteger, "number of bricks"},
      {"neurons", FieldType::kInteger, "neurons over every brick"},
      {"json", FieldType::kObject, "the template as JSON, every setting"},
  };
  check.handler = [limits](Call& call) -> Result<Reply> {
    Result<engine::Template> parsed =
        data::parseTemplateAny(call.input.at("template").get<std::string>(), limits);
    if (!parsed.ok()) return Status::Invalid("template: " + parsed.status().message());
    nlohmann::json inputs = nlohmann::json::array();
    nlohmann::json outputs = nlohmann::json::array();
    uint64_t neurons = 0;
    for (const engine::BrickSpec& brick : parsed->bricks) {
      neurons += brick.neurons;
      nlohmann::json port = {{"name", brick.name}, {"width", brick.neurons}};
      if (brick.role == engine::BrickRole::kInput) inputs.push_back(port);
      if (brick.role == engine::BrickRole::kOutput) outputs.push_back(port);
    }
    return Reply(nlohmann::json{{"inputs", inputs},
                                {"outputs", outputs},
                                {"bricks", parsed->bricks.size()},
                                {"neurons", neurons},
                                {"json", nlohmann::json::parse(data::templateToJson(*parsed))}});
  };
  out.push_back(std::move(check));
}

}  // namespace tendril::api
