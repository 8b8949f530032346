#include "api/json_views.h"

#include <string>
#include <utility>

#include "service/clock.h"

namespace tendril::api {
namespace {

nlohmann::json textOrNull(const std::string& text) {
  return text.empty() ? nlohmann::json(nullptr) : nlohmann::json(text);
}

nlohmann::json timeOrNull(const std::optional<store::TimeMs>& time_ms) {
  return time_ms ? nlohmann::json(service::formatIsoTime(*time_ms)) : nlohmann::json(nullptr);
}

OutputField text(std::string name, std::string description) {
  return {std::move(name), FieldType::kString, std::move(description), false};
}

OutputField nullableText(std::string name, std::string description) {
  return {std::move(name), FieldType::kString, std::move(description), true};
}

OutputField timeField(std::string name, std::string description) {
  return text(std::move(name), std::move(description) + " (ISO-8601 UTC)");
}

}  // namespace

nlohmann::json userJson(const store::User& user) {
  return {{"id", user.id},
          {"name", user.name},
          {"is_admin", user.is_admin},
          {"created_at", service::formatIsoTime(user.created_ms)},
          {"updated_at", service::formatIsoTime(user.updated_ms)}};
}

std::vector<OutputField> userOutput() {
  return {text("id", "the user's id"),
          text("name", "unique login name"),
          {"is_admin", FieldType::kBoolean, "holds the global admin flag", false},
          timeField("created_at", "when the user was created"),
          timeField("updated_at", "when the user was last changed")};
}

nlohmann::json projectJson(const store::Project& project) {
  return {{"id", project.id},
          {"name", project.name},
          {"created_by", textOrNull(project.created_by)},
          {"created_at", service::formatIsoTime(project.created_ms)}};
}

std::vector<OutputField> projectOutput() {
  return {text("id", "the project's id"), text("name", "unique project name"),
          nullableText("created_by", "the creating user's id; null once that user is deleted"),
          timeField("created_at", "when the project was created")};
}

nlohmann::json projectJson(const store::Project& project, std::optional<store::Role> role) {
  nlohmann::json json = projectJson(project);
  json["role"] = role ? nlohmann::json(store::roleName(*role)) : nlohmann::json(nullptr);
  return json;
}

std::vector<OutputField> projectWithRoleOutput() {
  std::vector<OutputField> fields = projectOutput();
  fields.push_back(nullableText(
      "role", "the caller's role in it: member or project-admin (null in an admin's full list)"));
  return fields;
}

nlohmann::json membershipJson(const service::MemberView& member) {
  return {{"project_id", member.membership.project_id},
          {"user_id", member.membership.user_id},
          {"user_name", member.user_name},
          {"role", store::roleName(member.membership.role)},
          {"created_at", service::formatIsoTime(member.membership.created_ms)}};
}

std::vector<OutputField> membershipOutput() {
  return {text("project_id", "the project"), text("user_id", "the member"),
          text("user_name", "the member's name"), text("role", "member or project-admin"),
          timeField("created_at", "when the user joined the project")};
}

nlohmann::json apiKeyJson(const store::ApiKey& key) {
  return {{"id", key.id},
          {"project_id", key.project_id},
          {"name", key.name},
          {"role", store::roleName(key.role)},
          {"created_by", textOrNull(key.created_by)},
          {"created_at", service::formatIsoTime(key.created_ms)},
          {"expires_at", timeOrNull(key.expires_ms)},
          {"revoked", key.revoked},
          {"last_used_at", timeOrNull(key.last_used_ms)}};
}

std::vector<OutputField> apiKeyOutput() {
  return {text("id", "the key's id"),
          text("project_id", "the project the key acts in"),
          text("name", "a label chosen by its creator"),
          text("role", "member or project-admin (never more than the creator's role)"),
          nullableText("created_by", "the creating user's id; null once that user is deleted"),
          timeField("created_at", "when the key was created"),
          nullableText("expires_at", "when the key stops working (ISO-8601 UTC); null: never"),
          {"revoked", FieldType::kBoolean, "revoked keys stop working at once", false},
          nullableText("last_used_at", "when the key was last used (ISO-8601 UTC); null: never")};
}

std::vector<OutputField> auditEntryOutput() {
  return {text("id", "the entry's id"),
          timeField("time", "when it happened"),
          text("user_id", "who acted; empty for an anonymous caller"),
          text("action", "the operation id, e.g. users.create"),
          text("target", "the id (or name) acted on; may be empty"),
          text("result", "ok, or the error kind")};
}

nlohmann::json errorEntryJson(const store::ErrorEntry& entry) {
  return {{"id", entry.id},           {"time", service::formatIsoTime(entry.time_ms)},
          {"user_id", entry.user_id}, {"component", entry.component},
          {"message", entry.message}, {"context", entry.context}};
}

std::vector<OutputField> errorEntryOutput() {
  return {text("id", "the entry's id"),
          timeField("time", "when it happened"),
          text("user_id", "the user involved; empty for none"),
          text("component", "where it happened, e.g. http or scheduler"),
          text("message", "what went wrong"),
          text("context", "what was being done (secrets removed)")};
}

std::vector<Field> pagingFields() {
  return {Field::integer("limit")
              .inQuery()
              .range(1, static_cast<int64_t>(store::kMaxPageLimit))
              .defaultsTo(static_cast<int64_t>(store::kDefaultPageLimit))
              .describe("how many items at most"),
          Field::string("cursor").inQuery().length(0, 512).describe(
              "next_cursor of the previous page; absent for the first page")};
}

store::PageRequest pageRequestOf(const nlohmann::json& input) {
  store::PageRequest page;
  page.limit = input.value("limit", store::kDefaultPageLimit);
  page.cursor = input.value("cursor", std::string());
  return page;
}

std::optional<std::string> optionalString(const nlohmann::json& input, const char* key) {
  auto found = input.find(key);
  if (found == input.end() || !found->is_string()) return std::nullopt;
  return found->get<std::string>();
}

std::vector<OutputField> itemsOutput(std::string what) {
  return {{"items", FieldType::kArray, std::move(what), false}};
}

}  // namespace tendril::api
