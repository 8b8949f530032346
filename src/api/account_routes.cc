#include "api/account_routes.h"

#include <optional>
#include <string>
#include <utility>

#include "api/json_views.h"

namespace tendril::api {
namespace {

// --- Input ---------------------------------------------------------------------------------

Field nameField(std::string what) {
  return Field::string("name")
      .required()
      .length(kMinNameLength, kMaxNameLength)
      .pattern(kNamePattern)
      .describe(std::move(what));
}

Field passwordField() {
  return Field::string("password")
      .length(service::kMinPasswordLength, service::kMaxPasswordLength)
      .secret();
}

Field roleField() {
  return Field::string("role").oneOf({std::string(store::roleName(store::Role::kMember)),
                                      std::string(store::roleName(store::Role::kProjectAdmin))});
}

// --- Output --------------------------------------------------------------------------------

template <typename T, typename Render>
Result<Reply> reply(const Result<T>& result, Render render) {
  if (!result.ok()) return result.status();
  return Reply(render(*result));
}

// Renderers of whole lists from a renderer of one item.
template <typename Render>
auto asItems(Render render) {
  return [render](const auto& list) { return itemsJson(list, render); };
}
template <typename Render>
auto asPage(Render render) {
  return [render](const auto& page) { return pageJson(page, render); };
}

nlohmann::json plainProject(const store::Project& project) { return projectJson(project); }

nlohmann::json projectView(const service::ProjectView& view) {
  return projectJson(view.project, view.role);
}

Result<Reply> noContent(const Status& status) {
  if (!status.ok()) return status;
  return Reply();
}

nlohmann::json projectWithRole(const store::UserProject& entry) {
  return projectJson(entry.project, entry.role);
}

// --- Users ---------------------------------------------------------------------------------

void addUserEndpoints(std::vector<Endpoint>& out, service::AccountService& accounts) {
  Endpoint create = declare("POST", "/api/v1/users", "users.create", "Create a user", kAdminOnly);
  create.input = {nameField("unique login name"), passwordField().required(),
                  Field::boolean("is_admin").defaultsTo(false).describe("the global admin flag")};
  create.output = userOutput();
  create.handler = [&accounts](Call& call) -> Result<Reply> {
    call.audit_target = inputText(call, "name");
    Result<store::User> user =
        accounts.createUser(call.principal, call.audit_target, inputText(call, "password"),
                            call.input.at("is_admin").get<bool>());
    if (user.ok()) call.audit_target = user->id;
    return reply(user, userJson);
  };
  out.push_back(std::move(create));

  Endpoint list = declare("GET", "/api/v1/users", "users.list", "List users", kAdminOnly);
  list.input = pagingFields();
  list.output = userOutput();
  list.paged = true;
  list.handler = [&accounts](Call& call) -> Result<Reply> {
    return reply(accounts.listUsers(call.principal, pageRequestOf(call.input)), asPage(userJson));
  };
  out.push_back(std::move(list));

  Endpoint get = declare("GET", "/api/v1/users/{id}", "users.get", "Read a user", kSignedIn);
  get.description = "Admins read anyone; any other caller only themselves (403 otherwise).";
  get.input = {uuidInPath("id", "the user's id")};
  get.output = userOutput();
  get.handler = [&accounts](Call& call) -> Result<Reply> {
    return reply(accounts.getUser(call.principal, inputText(call, "id")), userJson);
  };
  out.push_back(std::move(get));

  Endpoint update =
      declare("PATCH", "/api/v1/users/{id}", "users.update", "Change a user", kAdminOnly);
  update.description =
      "Fields not sent keep their value. A new password ends every session of the user. The "
      "admin flag of the last admin cannot be removed (409).";
  update.input = {uuidInPath("id", "the user's id"),
                  Field::string("name")
                      .length(kMinNameLength, kMaxNameLength)
                      .pattern(kNamePattern)
                      .describe("a new unique login name"),
                  passwordField().describe("a new password"),
                  Field::boolean("is_admin").describe("the global admin flag")};
  update.output = userOutput();
  update.handler = [&accounts](Call& call) -> Result<Reply> {
    call.audit_target = inputText(call, "id");
    service::UserChanges changes{optionalString(call.input, "name"),
                                 optionalString(call.input, "password"), std::nullopt};
    if (call.input.contains("is_admin")) changes.is_admin = call.input.at("is_admin").get<bool>();
    return reply(accounts.updateUser(call.principal, call.audit_target, changes), userJson);
  };
  out.push_back(std::move(update));

  Endpoint remove =
      declare("DELETE", "/api/v1/users/{id}", "users.delete", "Delete a user", kAdminOnly);
  remove.description =
      "Their memberships and sessions go too; projects and keys they created stay. 409 for "
      "yourself and for the last admin.";
  remove.input = {uuidInPath("id", "the user's id")};
  remove.handler = [&accounts](Call& call) -> Result<Reply> {
    call.audit_target = inputText(call, "id");
    return noContent(accounts.deleteUser(call.principal, call.audit_target));
  };
  out.push_back(std::move(remove));

  Endpoint projects = declare("GET", "/api/v1/users/{id}/projects", "users.projects",
                              "The projects a user belongs to, with their role", kSignedIn);
  projects.description = "Admins, or the user themselves. Ordered by project name.";
  projects.input = {uuidInPath("id", "the user's id")};
  projects.output = itemsOutput("projects: id, name, created_by, created_at, role");
  projects.handler = [&accounts](Call& call) -> Result<Reply> {
    return reply(accounts.projectsOfUser(call.principal, inputText(call, "id")),
                 asItems(projectWithRole));
  };
  out.push_back(std::move(projects));
}

// --- Projects and memberships --------------------------------------------------------------

void addProjectEndpoints(std::vector<Endpoint>& out, service::AccountService& accounts) {
  Endpoint create =
      declare("POST", "/api/v1/projects", "projects.create", "Create a project", kAdminOnly);
  create.input = {nameField("unique project name")};
  create.output = projectOutput();
  create.handler = [&accounts](Call& call) -> Result<Reply> {
    call.audit_target = inputText(call, "name");
    Result<store::Project> project = accounts.createProject(call.principal, call.audit_target);
    if (project.ok()) call.audit_target = project->id;
    return reply(project, plainProject);
  };
  out.push_back(std::move(create));

  Endpoint list = declare("GET", "/api/v1/projects", "projects.list", "List projects", kSignedIn);
  list.description =
      "Admins: every project (role null). Others: the projects they are a member of, with their "
      "role, ordered by name.";
  list.input = pagingFields();
  list.output = projectWithRoleOutput();
  list.paged = true;
  list.handler = [&accounts](Call& call) -> Result<Reply> {
    return reply(accounts.listProjects(call.principal, pageRequestOf(call.input)),
                 asPage(projectView));
  };
  out.push_back(std::move(list));

  Endpoint get =
      declare("GET", "/api/v1/projects/{id}", "projects.get", "Read a project", kSignedIn);
  get.description = "Admins and the project's members; 404 for anyone else.";
  get.input = {uuidInPath("id", "the project's id")};
  get.output = projectOutput();
  get.handler = [&accounts](Call& call) -> Result<Reply> {
    return reply(accounts.getProject(call.principal, inputText(call, "id")), plainProject);
  };
  out.push_back(std::move(get));

  Endpoint remove =
      declare("DELETE", "/api/v1/projects/{id}", "projects.delete", "Delete a project", kAdminOnly);
  remove.description =
      "409 while the project has members or API keys (the detail says how many), unless "
      "`cascade=true`, which deletes them with it.";
  remove.input = {uuidInPath("id", "the project's id"),
                  Field::boolean("cascade").inQuery().defaultsTo(false).describe(
                      "also delete the project's memberships, API keys and sessions")};
  remove.handler = [&accounts](Call& call) -> Result<Reply> {
    call.audit_target = inputText(call, "id");
    return noContent(accounts.deleteProject(call.principal, call.audit_target,
                                            call.input.at("cascade").get<bool>()));
  };
  out.push_back(std::move(remove));

  Endpoint members = declare("GET", "/api/v1/projects/{id}/members", "projects.members.list",
                             "List a project's members", kManagers);
  members.description = "Admins, or the project-admin acting in this project.";
  members.input = {uuidInPath("id", "the project's id")};
  members.output = itemsOutput("memberships: project_id, user_id, user_name, role, created_at");
  members.handler = [&accounts](Call& call) -> Result<Reply> {
    return reply(accounts.listMembers(call.principal, inputText(call, "id")),
                 asItems(membershipJson));
  };
  out.push_back(std::move(members));

  Endpoint put = declare("PUT", "/api/v1/projects/{id}/members/{user_id}", "projects.members.put",
                         "Add a member, or change a member's role", kManagers);
  put.success_status = 200;
  put.description = "Admins, or the project-admin acting in this project. 404 for an unknown user.";
  put.input = {uuidInPath("id", "the project's id"), uuidInPath("user_id", "the user's id"),
               roleField().required().describe("member or project-admin")};
  put.output = membershipOutput();
  put.handler = [&accounts](Call& call) -> Result<Reply> {
    const std::string project_id = inputText(call, "id");
    const std::string user_id = inputText(call, "user_id");
    call.audit_target = user_id;  // the membership acted on; the project is in the path
    Result<store::Role> role = store::parseRole(inputText(call, "role"));
    if (!role.ok()) return role.status();
    return reply(accounts.setMember(call.principal, project_id, user_id, *role), membershipJson);
  };
  out.push_back(std::move(put));

  Endpoint remove_member = declare("DELETE", "/api/v1/projects/{id}/members/{user_id}",
                                   "projects.members.delete", "Remove a member", kManagers);
  remove_member.description = "Admins, or the project-admin acting in this project.";
  remove_member.input = {uuidInPath("id", "the project's id"),
                         uuidInPath("user_id", "the user's id")};
  remove_member.handler = [&accounts](Call& call) -> Result<Reply> {
    const std::string project_id = inputText(call, "id");
    const std::string user_id = inputText(call, "user_id");
    call.audit_target = user_id;  // the membership acted on; the project is in the path
    return noContent(accounts.removeMember(call.principal, project_id, user_id));
  };
  out.push_back(std::move(remove_member));
}

// --- API keys ------------------------------------------------------------------------------

void addApiKeyEndpoints(std::vector<Endpoint>& out, service::AccountService& accounts) {
  Endpoint create = declare("POST", "/api/v1/projects/{id}/api-keys", "apikeys.create",
                            "Create an API key (the secret is shown once)", kInProject);
  create.description =
      "Admins, and the project-admin acting in the project, create keys of either role; a "
      "member acting in it, `member` keys only. The reply's `key` is the secret to send as "
      "X-API-Key; the server keeps only its SHA-256.";
  create.input = {uuidInPath("id", "the project's id"), nameField("a label for the key"),
                  roleField().defaultsTo("member").describe("the role the key acts with"),
                  Field::integer("expires_in_s")
                      .range(service::kMinApiKeyLifetimeS, service::kMaxApiKeyLifetimeS)
                      .describe("lifetime in seconds; absent: the key never expires")};
  create.output = apiKeyOutput();
  create.output.push_back({"key", FieldType::kString, "the secret (tdk_...); shown only here"});
  create.handler = [&accounts](Call& call) -> Result<Reply> {
    const std::string project_id = inputText(call, "id");
    call.audit_target = project_id;
    Result<store::Role> role = store::parseRole(inputText(call, "role"));
    if (!role.ok()) return role.status();
    std::optional<int64_t> lifetime;
    if (call.input.contains("expires_in_s"))
      lifetime = call.input.at("expires_in_s").get<int64_t>();
    Result<service::CreatedApiKey> created =
        accounts.createApiKey(call.principal, project_id, inputText(call, "name"), *role, lifetime);
    if (!created.ok()) return created.status();
    call.audit_target = created->key.id;
    nlohmann::json body = apiKeyJson(created->key);
    body["key"] = created->secret;
    return Reply(std::move(body));
  };
  out.push_back(std::move(create));

  Endpoint list = declare("GET", "/api/v1/projects/{id}/api-keys", "apikeys.list",
                          "List a project's API keys", kInProject);
  list.description =
      "Admins and the project-admin see every key of the project; a member the keys they "
      "created. Revoked and expired keys are listed too.";
  list.input = {uuidInPath("id", "the project's id")};
  list.output = itemsOutput("API keys (without secrets)");
  list.handler = [&accounts](Call& call) -> Result<Reply> {
    return reply(accounts.listApiKeys(call.principal, inputText(call, "id")), asItems(apiKeyJson));
  };
  out.push_back(std::move(list));

  Endpoint revoke = declare("DELETE", "/api/v1/projects/{id}/api-keys/{key_id}", "apikeys.revoke",
                            "Revoke an API key", kInProject);
  revoke.description =
      "Takes effect at once. Admins and the project-admin revoke any key of the project; a "
      "member their own (404 for others').";
  revoke.input = {uuidInPath("id", "the project's id"), uuidInPath("key_id", "the key's id")};
  revoke.handler = [&accounts](Call& call) -> Result<Reply> {
    call.audit_target = inputText(call, "key_id");
    return noContent(
        accounts.revokeApiKey(call.principal, inputText(call, "id"), call.audit_target));
  };
  out.push_back(std::move(revoke));
}

}  // namespace

void addAccountEndpoints(std::vector<Endpoint>& out, service::AccountService& accounts) {
  addUserEndpoints(out, accounts);
  addProjectEndpoints(out, accounts);
  addApiKeyEndpoints(out, accounts);
}

}  // namespace tendril::api
