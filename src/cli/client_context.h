// The frame every client subcommand of `tendril` runs in (user, project, cluster, task, …):
// credentials from the config file and the environment, one Client for the whole command, the
// --json / --quiet output switches, and the translation of a failed Status into a message on
// stderr and the documented exit code. The command files (client_commands_*.cc) only say which
// requests to send and which columns to show.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cli/client_output.h"
#include "client/client.h"
#include "client/config.h"
#include "common/status.h"

namespace tendril::cli {

class ClientSession {
 public:
  // Reads the config file (refusing one others may read), applies the environment, and uses
  // the default address when none is set. Refreshed tokens are saved back to the file.
  static Result<std::unique_ptr<ClientSession>> open();

  client::Client& client() { return client_; }
  const std::filesystem::path& configPath() const { return config_path_; }
  // Saves `credentials`' address and tokens (the login, switch and logout commands).
  Status save(const client::Credentials& credentials);

  bool json = false;   // print the server's JSON exactly as received
  bool quiet = false;  // print only the id of the resource
  bool terminal = false;

  // The reply of a resource: its JSON (--json), its id (--quiet), or `fields` (all when empty).
  Status showObject(const client::Reply& reply, const std::vector<Column>& fields = {});
  // A page or {"items": [...]}: the JSON, the ids, or a table of `columns`.
  Status showList(const client::Reply& reply, const std::vector<Column>& columns);
  // A reply without a body (204): `message` for people, nothing for scripts.
  Status showDone(const std::string& message);
  // `call` a request and show its reply as an object (a shortcut used by most commands).
  Status callAndShow(std::string_view method, const std::string& target,
                     const nlohmann::json& body = nullptr, const std::vector<Column>& fields = {});

 private:
  ClientSession(client::Client client, std::filesystem::path path)
      : client_(std::move(client)), config_path_(std::move(path)) {}
  client::Client client_;
  std::filesystem::path config_path_;
};

using ClientAction = std::function<Status(ClientSession&)>;

// Adds the subcommand `name` to `parent` with --json and --quiet; when it runs, a session is
// opened, `action` runs, and a failure is reported and turned into the exit code.
CLI::App* addClientCommand(CLI::App& parent, const std::string& name,
                           const std::string& description, ClientAction action);

// Adds the positional or `--` option `name` to `command` for the id of a resource in the
// collection `collection` ("/api/v1/clusters"). The value may also be the resource's name: when
// it is not an id, the command looks the name up in the collection (the items the caller may
// see) before it runs, and fails with NotFound when no item has that name, or InvalidArgument
// when several do (then the id is needed). `command` must come from addClientCommand().
CLI::Option* addIdOption(CLI::App* command, const std::string& name, std::string& value,
                         const std::string& collection, const std::string& description);

// A group such as `tendril cluster` that needs one of its subcommands.
CLI::App* addCommandGroup(CLI::App& parent, const std::string& name,
                          const std::string& description);

// `path` with a query string of the non-empty values, percent-encoded.
std::string withQuery(const std::string& path,
                      const std::vector<std::pair<std::string, std::string>>& query);
std::string percentEncode(std::string_view text);

// `NAME` listing the page at `path`: --limit, --cursor, and per filter (option name, query key)
// an option whose value goes into the query string.
CLI::App* addListCommand(CLI::App& group, const std::string& name, const std::string& description,
                         const std::string& path, const std::vector<Column>& columns,
                         const std::vector<std::pair<std::string, std::string>>& filters);

// A resource family's plain commands: `list` (--limit, --cursor, plus `filters`: option name
// and query key), `get ID` and `delete ID`, on the collection at `path` (e.g. "/clusters").
struct ResourceCommands {
  std::string noun;  // "cluster"
  std::string path;  // "/api/v1/clusters"
  std::vector<Column> columns;
  std::vector<Column> fields;  // for get (all when empty)
  std::vector<std::pair<std::string, std::string>> filters;
};
void addListGetDelete(CLI::App& group, const ResourceCommands& resource);

// `NAME ID`: GET `prefix` + ID + `suffix` (a list owned by ID), shown with `columns`.
void addListOf(CLI::App& group, const std::string& name, const std::string& description,
               const std::string& prefix, const std::string& suffix,
               const std::vector<Column>& columns);

// `download ID -o FILE`: GET `prefix` + ID + "/download" streamed to FILE; with `query_key`, an
// option `--QUERY_KEY VALUE` (checked against `choices` when given) goes into the query string.
void addDownload(CLI::App& group, const std::string& noun, const std::string& prefix,
                 const std::string& query_key = "", const std::vector<std::string>& choices = {});

// A password from stdin (one line) when `from_stdin`, else from the terminal without echo.
Result<std::string> readPassword(const std::string& prompt, bool from_stdin);

// Reads a whole file as text (templates, value lists).
Result<std::string> readTextFile(const std::filesystem::path& path);

}  // namespace tendril::cli
