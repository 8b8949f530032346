// JSON views of the account and log records (users, projects, memberships, API keys, audit and
// error entries) as the API replies with them (docs/api.md), each next to the OutputField list
// that documents it in the OpenAPI document, so a reply and its description change together.
// Also the paging convention every list endpoint shares: the `limit` and `cursor` query fields
// and the {"items": [...], "next_cursor": ...} reply.
//
// Promises: secrets never appear (a user's password hash, an API key's hash); times are
// ISO-8601 UTC text (service::formatIsoTime); absent optional values are JSON null, never
// omitted. Thread safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "api/endpoint.h"
#include "service/accounts.h"
#include "store/store.h"

namespace tendril::api {

// {"id", "name", "is_admin", "created_at", "updated_at"}
nlohmann::json userJson(const store::User& user);
std::vector<OutputField> userOutput();

// {"id", "name", "created_by" (null once the creator is deleted), "created_at"}
nlohmann::json projectJson(const store::Project& project);
std::vector<OutputField> projectOutput();
// The same plus "role": the caller's role in it (null in an admin's list of every project).
nlohmann::json projectJson(const store::Project& project, std::optional<store::Role> role);
std::vector<OutputField> projectWithRoleOutput();

// {"project_id", "user_id", "user_name", "role", "created_at"}
nlohmann::json membershipJson(const service::MemberView& member);
std::vector<OutputField> membershipOutput();

// {"id", "project_id", "name", "role", "created_by", "created_at", "expires_at", "revoked",
//  "last_used_at"}
nlohmann::json apiKeyJson(const store::ApiKey& key);
std::vector<OutputField> apiKeyOutput();

// Documents service::auditEntryJson(): {"id", "time", "user_id", "action", "target",
// "result"}, the form of the list and of the event stream alike.
std::vector<OutputField> auditEntryOutput();

// {"id", "time", "user_id", "component", "message", "context"}
nlohmann::json errorEntryJson(const store::ErrorEntry& entry);
std::vector<OutputField> errorEntryOutput();

// --- Lists -----------------------------------------------------------------------------------

// The query fields of a paged endpoint: limit (1..1000, default 50) and cursor.
std::vector<Field> pagingFields();
// The page a validated call asks for (its input has the fields of pagingFields()).
store::PageRequest pageRequestOf(const nlohmann::json& input);
// A validated optional string input field: absent when not sent.
std::optional<std::string> optionalString(const nlohmann::json& input, const char* key);

// {"items": [render(item)...], "next_cursor": cursor or null}
template <typename T, typename Render>
nlohmann::json pageJson(const store::Page<T>& page, Render render) {
  nlohmann::json items = nlohmann::json::array();
  for (const T& item : page.items) items.push_back(render(item));
  return {{"items", std::move(items)},
          {"next_cursor",
           page.next_cursor.empty() ? nlohmann::json(nullptr) : nlohmann::json(page.next_cursor)}};
}

// The reply of a paged list call: its page as pageJson(), or the call's error.
template <typename T, typename Render>
Result<Reply> pageReply(const Result<store::Page<T>>& page, Render render) {
  if (!page.ok()) return page.status();
  return Reply(pageJson(*page, render));
}

// {"items": [render(item)...]}: an unpaged list (bounded by nature: a user's projects, a
// project's members or keys).
template <typename T, typename Render>
nlohmann::json itemsJson(const std::vector<T>& list, Render render) {
  nlohmann::json items = nlohmann::json::array();
  for (const T& item : list) items.push_back(render(item));
  return {{"items", std::move(items)}};
}

// The output declaration of an unpaged list: one "items" array described as `what`.
std::vector<OutputField> itemsOutput(std::string what);

}  // namespace tendril::api
