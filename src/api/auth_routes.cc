#include "api/auth_routes.h"

#include "api/session_cookie.h"
#include "service/clock.h"

namespace tendril::api {
namespace {

using service::PolicyRole;

const std::vector<PolicyRole> kEveryone = {PolicyRole::kAnonymous, PolicyRole::kUser,
                                           PolicyRole::kMember, PolicyRole::kProjectAdmin,
                                           PolicyRole::kAdmin};

nlohmann::json nullableText(const std::string& text) {
  return text.empty() ? nlohmann::json(nullptr) : nlohmann::json(text);
}

nlohmann::json userSummary(const store::User& user) {
  return {{"id", user.id}, {"name", user.name}, {"is_admin", user.is_admin}};
}

nlohmann::json sessionJson(const service::SessionTokens& session) {
  return {{"access_token", session.access_token},
          {"token_type", "Bearer"},
          {"expires_in", session.access_ttl_s},
          {"expires_at", service::formatIsoTime(session.access_expires_ms)},
          {"refresh_token", session.refresh_token},
          {"refresh_expires_at", service::formatIsoTime(session.refresh_expires_ms)},
          {"user", userSummary(session.user)},
          {"project_id", nullableText(session.project_id)},
          {"role", service::policyRoleName(session.role)}};
}

// The session as the reply to send: in the body, or (`cookie`) in HttpOnly cookies with the
// tokens left out of the body, so the page's scripts never hold them.
Reply sessionReply(Call& call, const service::SessionTokens& session, bool cookie) {
  nlohmann::json body = sessionJson(session);
  if (cookie) {
    body.erase("access_token");
    body.erase("refresh_token");
    int64_t refresh_ttl_s =
        (session.refresh_expires_ms - session.access_expires_ms) / 1000 + session.access_ttl_s;
    for (auto& header :
         sessionCookies(session.access_token, session.access_ttl_s, session.refresh_token,
                        refresh_ttl_s, secureOrigin(call.request))) {
      call.response_headers.push_back(std::move(header));
    }
  }
  return Reply(std::move(body));
}

std::vector<OutputField> sessionOutput() {
  return {
      {"access_token", FieldType::kString,
       "JWT for `Authorization: Bearer`; absent for a cookie session"},
      {"token_type", FieldType::kString, "always Bearer"},
      {"expires_in", FieldType::kInteger, "seconds the access token is valid"},
      {"expires_at", FieldType::kString, "when the access token expires"},
      {"refresh_token", FieldType::kString,
       "exchange at /api/v1/auth/refresh; shown once; absent for a cookie session"},
      {"refresh_expires_at", FieldType::kString, "when the refresh token expires"},
      {"user", FieldType::kObject, "id, name, is_admin"},
      {"project_id", FieldType::kString, "the project the session acts in", /*nullable=*/true},
      {"role", FieldType::kString, "user, member, project-admin or admin"},
  };
}

Field projectIdField() {
  return Field::string("project_id").pattern(kUuidPattern).describe("a project id");
}

Field passwordField(std::string name) {
  return Field::string(std::move(name)).required().length(8, 1024).secret();
}

}  // namespace

void addAuthEndpoints(std::vector<Endpoint>& out, service::AuthService& auth,
                      service::AccountService& accounts) {
  Endpoint login = declare("POST", "/api/v1/auth/login", "auth.login",
                           "Log in with a name and password", kEveryone);
  login.success_status = 200;  // a session, not a created resource
  login.description =
      "Opens a session in `project_id`, or in the user's first project by name. Wrong name and "
      "wrong password give the same 401; repeated failures give 429 with Retry-After.";
  login.audited = true;
  login.input = {Field::string("name").required().length(1, 256).describe("the user name"),
                 Field::string("password").required().length(1, 1024).secret(), projectIdField(),
                 Field::boolean("cookie").defaultsTo(false).describe(
                     "put the tokens in HttpOnly SameSite=Strict cookies instead of the body "
                     "(the web dashboard)")};
  login.output = sessionOutput();
  login.handler = [&auth](Call& call) -> Result<Reply> {
    const std::string name = call.input["name"];
    call.audit_target = name;
    int retry_after_s = 0;
    Result<service::SessionTokens> session = auth.login(
        name, call.input["password"].get<std::string>(),
        call.input.value("project_id", std::string()), call.request.remote_address, &retry_after_s);
    if (!session.ok()) {
      if (session.status().code() == Code::kResourceExhausted) {
        call.response_headers.emplace_back("Retry-After", std::to_string(retry_after_s));
      }
      return session.status();
    }
    call.audit_user_id = session->user.id;
    return sessionReply(call, *session, call.input["cookie"].get<bool>());
  };
  out.push_back(std::move(login));

  Endpoint refresh = declare("POST", "/api/v1/auth/refresh", "auth.refresh",
                             "Exchange a refresh token for a new session (rotation)", kEveryone);
  refresh.success_status = 200;  // a session, not a created resource
  refresh.description =
      "The refresh token used is revoked. Presenting an already used refresh token ends every "
      "session of its user. Without `refresh_token` in the body, the `tendril_refresh` cookie "
      "is used (only with this server's Origin) and the new session goes into cookies again.";
  refresh.input = {Field::string("refresh_token").length(1, 256).secret()};
  refresh.output = sessionOutput();
  refresh.handler = [&auth](Call& call) -> Result<Reply> {
    bool by_cookie = !call.input.contains("refresh_token");
    std::string token = by_cookie ? cookieValue(call.request, kRefreshCookie)
                                  : call.input["refresh_token"].get<std::string>();
    if (by_cookie && token.empty()) {
      return Status::Invalid("refresh_token: is required (or the tendril_refresh cookie)");
    }
    if (by_cookie && !sameOrigin(call.request)) {
      return Status::Denied("the refresh cookie is accepted only with this server's Origin");
    }
    Result<service::SessionTokens> session = auth.refresh(token);
    if (!session.ok()) {
      if (by_cookie) call.response_headers = clearedSessionCookies();
      return session.status();
    }
    call.audit_user_id = session->user.id;
    return sessionReply(call, *session, by_cookie);
  };
  out.push_back(std::move(refresh));

  Endpoint logout = declare("POST", "/api/v1/auth/logout", "auth.logout",
                            "End the current session (or every session with `all`)", kSignedIn);
  logout.success_status = 204;
  logout.input = {Field::string("refresh_token").length(1, 256).secret(),
                  Field::boolean("all").defaultsTo(false).describe("end every session")};
  logout.description =
      "Also deletes the session cookies of a cookie session (they are cleared even when the "
      "call fails).";
  logout.handler = [&auth](Call& call) -> Result<Reply> {
    if (!cookieValue(call.request, kAccessCookie).empty() ||
        !cookieValue(call.request, kRefreshCookie).empty()) {
      call.response_headers = clearedSessionCookies();
    }
    Status status = auth.logout(call.principal, call.input.value("refresh_token", std::string()),
                                call.input["all"].get<bool>());
    if (!status.ok()) return status;
    return Reply();
  };
  out.push_back(std::move(logout));

  Endpoint whoami = declare("GET", "/api/v1/auth/whoami", "auth.whoami",
                            "Who the credentials belong to, and their projects", kSignedIn);
  whoami.output = {
      {"user", FieldType::kObject, "id, name, is_admin"},
      {"project_id", FieldType::kString, "the current project", true},
      {"role", FieldType::kString, "the current role"},
      {"auth", FieldType::kString, "access_token or api_key"},
      {"expires_at", FieldType::kString, "when the access token expires", true},
      {"projects", FieldType::kArray, "the user's projects: id, name, role"},
  };
  whoami.handler = [&accounts](Call& call) -> Result<Reply> {
    const service::Principal& caller = call.principal;
    nlohmann::json projects = nlohmann::json::array();
    Result<std::vector<store::UserProject>> memberships =
        accounts.projectsOfUser(caller, caller.user_id);
    if (!memberships.ok()) return memberships.status();
    for (const store::UserProject& membership : *memberships) {
      projects.push_back({{"id", membership.project.id},
                          {"name", membership.project.name},
                          {"role", store::roleName(membership.role)}});
    }
    return Reply(nlohmann::json{
        {"user",
         {{"id", caller.user_id}, {"name", caller.user_name}, {"is_admin", caller.is_admin}}},
        {"project_id", nullableText(caller.project_id)},
        {"role", service::policyRoleName(caller.role)},
        {"auth", caller.method == service::AuthMethod::kApiKey ? "api_key" : "access_token"},
        {"expires_at", caller.expires_at > 0
                           ? nlohmann::json(service::formatIsoTime(caller.expires_at * 1000))
                           : nlohmann::json(nullptr)},
        {"projects", projects}});
  };
  out.push_back(std::move(whoami));

  Endpoint switch_project =
      declare("POST", "/api/v1/auth/switch", "auth.switch",
              "Open a session in another project (the current one ends)", kSignedIn);
  switch_project.success_status = 200;  // a session, not a created resource
  switch_project.input = {projectIdField().required()};
  switch_project.output = sessionOutput();
  switch_project.handler = [&auth](Call& call) -> Result<Reply> {
    const std::string project_id = call.input["project_id"];
    call.audit_target = project_id;
    Result<service::SessionTokens> session = auth.switchProject(call.principal, project_id);
    if (!session.ok()) return session.status();
    return sessionReply(call, *session, authenticatesByCookie(call.request));
  };
  out.push_back(std::move(switch_project));

  Endpoint password = declare("POST", "/api/v1/auth/password", "auth.password",
                              "Change your own password (your other sessions end)", kSignedIn);
  password.success_status = 204;
  password.input = {passwordField("current_password"), passwordField("new_password")};
  password.handler = [&auth](Call& call) -> Result<Reply> {
    call.audit_target = call.principal.user_id;
    Status status =
        auth.changePassword(call.principal, call.input["current_password"].get<std::string>(),
                            call.input["new_password"].get<std::string>());
    if (!status.ok()) return status;
    return Reply();
  };
  out.push_back(std::move(password));
}

}  // namespace tendril::api
