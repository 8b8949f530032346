// Client subcommands for the service's accounts: login, logout, whoami, user, project (members,
// switching), apikey, quota and the audit log (docs/cli.md).
#include <iostream>
#include <memory>

#include "cli/client_context.h"
#include "cli/commands.h"

namespace tendril::cli {
namespace {

const std::vector<Column> kUserColumns = {
    {"ID", "/id"}, {"NAME", "/name"}, {"ADMIN", "/is_admin"}, {"CREATED", "/created_at"}};
const std::vector<Column> kProjectColumns = {
    {"ID", "/id"}, {"NAME", "/name"}, {"ROLE", "/role"}, {"CREATED", "/created_at"}};
const std::vector<Column> kMemberColumns = {
    {"USER", "/user_id"}, {"NAME", "/user_name"}, {"ROLE", "/role"}, {"SINCE", "/created_at"}};
const std::vector<Column> kKeyColumns = {{"ID", "/id"},           {"NAME", "/name"},
                                         {"ROLE", "/role"},       {"EXPIRES", "/expires_at"},
                                         {"REVOKED", "/revoked"}, {"LAST USED", "/last_used_at"}};
const std::vector<Column> kAuditColumns = {{"TIME", "/time"},
                                           {"USER", "/user_id"},
                                           {"ACTION", "/action"},
                                           {"TARGET", "/target"},
                                           {"RESULT", "/result"}};
const std::vector<Column> kSessionFields = {{"user", "/user/name"},
                                            {"user_id", "/user/id"},
                                            {"project_id", "/project_id"},
                                            {"role", "/role"},
                                            {"expires_at", "/expires_at"}};

// The session reply of login and switch, saved to the config file; printed without its tokens.
Status keepSession(ClientSession& session, const client::Reply& reply, std::string address) {
  nlohmann::json parsed = nlohmann::json::parse(reply.body, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("access_token")) {
    return Status::Internal("the session reply holds no access token");
  }
  client::Credentials credentials;
  credentials.address = std::move(address);
  credentials.access_token = parsed.value("access_token", "");
  credentials.refresh_token = parsed.value("refresh_token", "");
  TENDRIL_RETURN_IF_ERROR(session.save(credentials));
  if (!session.client().credentials().from_environment)
    session.client().setCredentials(credentials);
  parsed.erase("access_token");
  parsed.erase("refresh_token");
  client::Reply shown = reply;
  shown.body = parsed.dump();
  if (!session.json && !session.quiet) {
    std::cerr << "credentials saved to " << session.configPath().string() << "\n";
  }
  return session.showObject(shown, kSessionFields);
}

void addLogin(CLI::App& app) {
  struct Options {
    std::string address, name, project;
    bool password_stdin = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* login = addClientCommand(
      app, "login", "log in and keep the session in the config file",
      [options](ClientSession& session) {
        client::Credentials credentials = session.client().credentials();
        if (!options->address.empty()) credentials.address = options->address;
        Result<client::Endpoint> endpoint = client::parseAddress(credentials.address);
        if (!endpoint.ok()) return endpoint.status();
        if (options->name.empty()) return Status::Invalid("give the user name with --name");
        Result<std::string> password =
            readPassword("Password for " + options->name + ": ", options->password_stdin);
        if (!password.ok()) return password.status();
        nlohmann::json body = {{"name", options->name}, {"password", *password}};
        if (!options->project.empty()) body["project_id"] = options->project;
        credentials.access_token.clear();
        credentials.refresh_token.clear();
        credentials.api_key.clear();
        session.client().setCredentials(credentials);
        Result<client::Reply> reply =
            session.client().call("POST", "/api/v1/auth/login", body.dump());
        if (!reply.ok()) return reply.status();
        return keepSession(session, *reply, credentials.address);
      });
  login->add_option("--address", options->address,
                    "the service, http://host:port (default: TENDRIL_ADDRESS, the config file, "
                    "or http://127.0.0.1:8080)");
  login->add_option("-u,--name", options->name, "user name")->required();
  login->add_flag("--password-stdin", options->password_stdin,
                  "read the password from the first line of stdin (else: prompt, no echo)");
  login->add_option("--project", options->project, "the project to act in (id)");
}

void addLogout(CLI::App& app) {
  auto all = std::make_shared<bool>(false);
  addClientCommand(
      app, "logout", "end the session on the server and forget its tokens",
      [all](ClientSession& session) {
        client::Credentials credentials = session.client().credentials();
        if (credentials.from_environment) {
          return Status::Invalid(
              "the credentials come from TENDRIL_TOKEN or TENDRIL_API_KEY; "
              "unset them instead");
        }
        if (credentials.access_token.empty()) return session.showDone("not logged in");
        nlohmann::json body = {{"refresh_token", credentials.refresh_token}, {"all", *all}};
        if (credentials.refresh_token.empty()) body.erase("refresh_token");
        Result<client::Reply> reply =
            session.client().call("POST", "/api/v1/auth/logout", body.dump());
        // A session the server already ended is forgotten all the same.
        if (!reply.ok() && reply.status().code() != Code::kUnauthenticated) return reply.status();
        credentials.access_token.clear();
        credentials.refresh_token.clear();
        TENDRIL_RETURN_IF_ERROR(session.save(credentials));
        return session.showDone("logged out");
      })
      ->add_flag("--all", *all, "end every session of the user");
}

// A new password: from stdin, or asked twice on the terminal (a typo would lock the user out).
Result<std::string> newPassword(const std::string& user, bool from_stdin) {
  Result<std::string> password = readPassword("New password for " + user + ": ", from_stdin);
  if (!password.ok() || from_stdin) return password;
  Result<std::string> again = readPassword("Repeat it: ", false);
  if (!again.ok()) return again;
  if (*again != *password) return Status::Invalid("the two passwords differ");
  return password;
}

void addUser(CLI::App& app) {
  CLI::App* group = addCommandGroup(app, "user", "users (admin, except reading yourself)");
  struct Options {
    std::string name, id, admin_value;
    bool admin = false, password = false, password_stdin = false;
  };
  auto options = std::make_shared<Options>();
  CLI::App* create = addClientCommand(*group, "create", "create a user", [options](auto& s) {
    Result<std::string> password = newPassword(options->name, options->password_stdin);
    if (!password.ok()) return password.status();
    nlohmann::json body = {
        {"name", options->name}, {"password", *password}, {"is_admin", options->admin}};
    return s.callAndShow("POST", "/api/v1/users", body);
  });
  create->add_option("name", options->name, "user name")->required();
  create->add_flag("--admin", options->admin, "a global admin");
  create->add_flag("--password-stdin", options->password_stdin, "read the password from stdin");

  auto update = std::make_shared<Options>();
  CLI::App* change = addClientCommand(
      *group, "update", "rename, set a password, grant or drop admin", [update](auto& s) {
        nlohmann::json body = nlohmann::json::object();
        if (!update->name.empty()) body["name"] = update->name;
        if (!update->admin_value.empty()) body["is_admin"] = update->admin_value == "true";
        if (update->password || update->password_stdin) {
          Result<std::string> password = newPassword(update->id, update->password_stdin);
          if (!password.ok()) return password.status();
          body["password"] = *password;
        }
        return s.callAndShow("PATCH", "/api/v1/users/" + percentEncode(update->id), body);
      });
  addIdOption(change, "id", update->id, "/api/v1/users", "user id")->required();
  change->add_option("--name", update->name, "new name");
  change->add_option("--admin", update->admin_value, "true or false")
      ->check(CLI::IsMember({"true", "false"}));
  change->add_flag("--password", update->password, "ask for a new password (no echo)");
  change->add_flag("--password-stdin", update->password_stdin, "read the new password from stdin");

  addListGetDelete(*group, {"user", "/api/v1/users", kUserColumns, {}, {}});
  addListOf(*group, "projects", "a user's projects (ID: the user)", "/api/v1/users/", "/projects",
            kProjectColumns);
}

void addProject(CLI::App& app) {
  CLI::App* group = addCommandGroup(app, "project", "projects, their members and switching");
  auto name = std::make_shared<std::string>();
  addClientCommand(*group, "create", "create a project (admin)",
                   [name](ClientSession& s) {
                     return s.callAndShow("POST", "/api/v1/projects", {{"name", *name}});
                   })
      ->add_option("name", *name, "project name")
      ->required();
  addClientCommand(*group, "list", "list projects", [](ClientSession& s) {
    Result<client::Reply> reply = s.client().call("GET", "/api/v1/projects?limit=1000");
    if (!reply.ok()) return reply.status();
    return s.showList(*reply, kProjectColumns);
  });
  auto id = std::make_shared<std::string>();
  CLI::App* get_command = addClientCommand(*group, "get", "show a project", [id](ClientSession& s) {
    return s.callAndShow("GET", "/api/v1/projects/" + percentEncode(*id));
  });
  addIdOption(get_command, "id", *id, "/api/v1/projects", "project id")->required();

  struct Doomed {
    std::string id;
    bool cascade = false;
  };
  auto doomed = std::make_shared<Doomed>();
  CLI::App* remove =
      addClientCommand(*group, "delete", "delete a project (admin)", [doomed](ClientSession& s) {
        std::string target = "/api/v1/projects/" + percentEncode(doomed->id);
        if (doomed->cascade) target += "?cascade=true";
        Result<client::Reply> reply = s.client().call("DELETE", target);
        if (!reply.ok()) return reply.status();
        return s.showDone("deleted project " + doomed->id);
      });
  addIdOption(remove, "id", doomed->id, "/api/v1/projects", "project id")->required();
  remove->add_flag("--cascade", doomed->cascade, "also its members, keys, clusters and data");

  auto use = std::make_shared<std::string>();
  CLI::App* use_command = addClientCommand(
      *group, "use", "act in another project (a new session, saved)", [use](ClientSession& s) {
        if (s.client().credentials().from_environment) {
          return Status::Invalid(
              "switching needs a login session (tendril login), not "
              "TENDRIL_TOKEN or TENDRIL_API_KEY");
        }
        Result<client::Reply> reply = s.client().call("POST", "/api/v1/auth/switch",
                                                      nlohmann::json{{"project_id", *use}}.dump());
        if (!reply.ok()) return reply.status();
        return keepSession(s, *reply, s.client().credentials().address);
      });
  addIdOption(use_command, "id", *use, "/api/v1/projects", "project id")->required();

  addListOf(*group, "members", "a project's members (ID: the project)", "/api/v1/projects/",
            "/members", kMemberColumns);

  struct Membership {
    std::string project, user, role = "member";
  };
  auto add = std::make_shared<Membership>();
  CLI::App* add_member = addClientCommand(
      *group, "add-member", "add a member or change a role", [add](ClientSession& s) {
        return s.callAndShow("PUT",
                             "/api/v1/projects/" + percentEncode(add->project) + "/members/" +
                                 percentEncode(add->user),
                             {{"role", add->role}});
      });
  addIdOption(add_member, "project", add->project, "/api/v1/projects", "project id")->required();
  addIdOption(add_member, "user", add->user, "/api/v1/users", "user id")->required();
  add_member->add_option("--role", add->role, "member or project-admin")
      ->check(CLI::IsMember({"member", "project-admin"}));

  auto removed = std::make_shared<Membership>();
  CLI::App* remove_member =
      addClientCommand(*group, "remove-member", "remove a member", [removed](ClientSession& s) {
        Result<client::Reply> reply =
            s.client().call("DELETE", "/api/v1/projects/" + percentEncode(removed->project) +
                                          "/members/" + percentEncode(removed->user));
        if (!reply.ok()) return reply.status();
        return s.showDone("removed " + removed->user + " from " + removed->project);
      });
  addIdOption(remove_member, "project", removed->project, "/api/v1/projects", "project id")
      ->required();
  addIdOption(remove_member, "user", removed->user, "/api/v1/users", "user id")->required();
}

void addApiKey(CLI::App& app) {
  CLI::App* group = addCommandGroup(app, "apikey", "API keys of a project");
  struct Options {
    std::string project, name, role, key;
    long long expires_in = 0;
  };
  auto options = std::make_shared<Options>();
  CLI::App* create = addClientCommand(
      *group, "create", "create a key (the secret is shown once)", [options](ClientSession& s) {
        nlohmann::json body = {{"name", options->name}};
        if (!options->role.empty()) body["role"] = options->role;
        if (options->expires_in > 0) body["expires_in_s"] = options->expires_in;
        Result<client::Reply> reply = s.client().call(
            "POST", "/api/v1/projects/" + percentEncode(options->project) + "/api-keys",
            body.dump());
        if (!reply.ok()) return reply.status();
        if (s.quiet) {  // the secret is what a script wants from a new key
          std::cout << nlohmann::json::parse(reply->body).value("key", "") << "\n";
          return Status::Ok();
        }
        return s.showObject(*reply);
      });
  addIdOption(create, "project", options->project, "/api/v1/projects", "project id")->required();
  create->add_option("name", options->name, "key name")->required();
  create->add_option("--role", options->role, "member (default) or project-admin");
  create->add_option("--expires-in", options->expires_in, "seconds until it expires");

  addListOf(*group, "list", "a project's keys (ID: the project)", "/api/v1/projects/", "/api-keys",
            kKeyColumns);

  auto revoke = std::make_shared<Options>();
  CLI::App* remove = addClientCommand(*group, "delete", "revoke a key", [revoke](auto& s) {
    Result<client::Reply> reply =
        s.client().call("DELETE", "/api/v1/projects/" + percentEncode(revoke->project) +
                                      "/api-keys/" + percentEncode(revoke->key));
    if (!reply.ok()) return reply.status();
    return s.showDone("revoked key " + revoke->key);
  });
  addIdOption(remove, "project", revoke->project, "/api/v1/projects", "project id")->required();
  remove->add_option("key", revoke->key, "key id")->required();
}

void addQuota(CLI::App& app) {
  CLI::App* group = addCommandGroup(app, "quota", "a project's limits and usage");
  auto shown = std::make_shared<std::string>();
  CLI::App* get_command =
      addClientCommand(*group, "get", "show limits and usage", [shown](ClientSession& s) {
        return s.callAndShow("GET", "/api/v1/projects/" + percentEncode(*shown) + "/quota");
      });
  addIdOption(get_command, "project", *shown, "/api/v1/projects", "project id")->required();

  struct Limits {
    std::string project;
    std::vector<std::string> values = std::vector<std::string>(4);
  };
  static const char* const kLimits[] = {"clusters", "synapse_bytes", "dataset_bytes",
                                        "concurrent_tasks"};
  auto limits = std::make_shared<Limits>();
  CLI::App* set = addClientCommand(
      *group, "set", "change limits (admin); 'default' resets one", [limits](ClientSession& s) {
        nlohmann::json body = nlohmann::json::object();
        for (size_t i = 0; i < 4; ++i) {
          const std::string& value = limits->values[i];
          if (value.empty()) continue;
          if (value == "default") {
            body[kLimits[i]] = nullptr;
          } else if (value.find_first_not_of("0123456789") == std::string::npos) {
            body[kLimits[i]] = std::stoull(value);
          } else {
            return Status::Invalid(std::string(kLimits[i]) + ": a number or 'default'");
          }
        }
        return s.callAndShow("PUT", "/api/v1/projects/" + percentEncode(limits->project) + "/quota",
                             body);
      });
  addIdOption(set, "project", limits->project, "/api/v1/projects", "project id")->required();
  for (size_t i = 0; i < 4; ++i) {
    std::string flag = std::string("--") + kLimits[i];
    for (char& c : flag) c = c == '_' ? '-' : c;
    set->add_option(flag, limits->values[i], "a number, or 'default'");
  }
}

void addLogsAndSystem(CLI::App& app) {
  addListCommand(app, "audit", "the audit log, newest first", "/api/v1/audit", kAuditColumns,
                 {{"user", "user_id"},
                  {"action", "action"},
                  {"result", "result"},
                  {"from", "from"},
                  {"to", "to"}});
  addListCommand(app, "errors", "the error log, newest first (admin)", "/api/v1/errors",
                 {{"TIME", "/time"},
                  {"USER", "/user_id"},
                  {"COMPONENT", "/component"},
                  {"MESSAGE", "/message"}},
                 {{"user", "user_id"}, {"component", "component"}, {"from", "from"}, {"to", "to"}});

  CLI::App* group = addCommandGroup(app, "system", "the service itself");
  addClientCommand(*group, "version", "the service's name and version",
                   [](ClientSession& s) { return s.callAndShow("GET", "/api/v1/version"); });
  addClientCommand(*group, "health", "is it up (/healthz) and ready (/readyz)?",
                   [](ClientSession& s) {
                     TENDRIL_RETURN_IF_ERROR(s.callAndShow("GET", "/healthz"));
                     return s.callAndShow("GET", "/readyz");
                   });
  addClientCommand(
      *group, "reload-policy", "re-read the policy file (admin)",
      [](ClientSession& s) { return s.callAndShow("POST", "/api/v1/system/policy/reload"); });
}

}  // namespace

void addAccountCommands(CLI::App& app) {
  addLogin(app);
  addLogout(app);
  addClientCommand(app, "whoami", "who the credentials act as", [](ClientSession& s) {
    return s.callAndShow("GET", "/api/v1/auth/whoami", nullptr,
                         {{"user", "/user/name"},
                          {"user_id", "/user/id"},
                          {"is_admin", "/user/is_admin"},
                          {"project_id", "/project_id"},
                          {"role", "/role"},
                          {"auth", "/auth"},
                          {"expires_at", "/expires_at"}});
  });
  addUser(app);
  addProject(app);
  addApiKey(app);
  addQuota(app);
  addLogsAndSystem(app);
}

}  // namespace tendril::cli
