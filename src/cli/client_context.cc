#include "cli/client_context.h"

#include <fcntl.h>
#include <sys/file.h>
#include <termios.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>

#include "cli/commands.h"

namespace tendril::cli {

Result<std::unique_ptr<ClientSession>> ClientSession::open() {
  client::Environment env = client::processEnvironment();
  Result<std::filesystem::path> path = client::configPath(env);
  if (!path.ok()) return path.status();
  Result<client::Credentials> file = client::loadConfig(*path);
  if (!file.ok()) return file.status();
  client::Credentials credentials = client::applyEnvironment(*file, env);
  if (credentials.address.empty()) credentials.address = client::kDefaultAddress;
  client::ClientOptions options;
  const std::filesystem::path saved_path = *path;
  const bool from_environment = credentials.from_environment;
  options.on_refreshed = [saved_path, from_environment](const client::Credentials& renewed) {
    if (from_environment) return;
    Result<client::Credentials> current = client::loadConfig(saved_path);
    client::Credentials stored = current.ok() ? *current : client::Credentials{};
    stored.access_token = renewed.access_token;
    stored.refresh_token = renewed.refresh_token;
    Status saved = client::saveConfig(saved_path, stored);
    if (!saved.ok()) std::cerr << "tendril: warning: " << saved.message() << "\n";
  };
  if (!from_environment) {
    options.lock_session = [saved_path]() -> std::shared_ptr<void> {
      const std::string lock_path = saved_path.string() + ".lock";
      const int fd = ::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
      if (fd < 0) return nullptr;  // no folder to lock in: nothing is shared yet
      while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {
      }
      return std::shared_ptr<void>(nullptr, [fd](void*) { ::close(fd); });
    };
    options.saved_session = [saved_path]() -> std::optional<client::Credentials> {
      Result<client::Credentials> current = client::loadConfig(saved_path);
      if (!current.ok()) return std::nullopt;
      return *current;
    };
  }
  auto session = std::unique_ptr<ClientSession>(
      new ClientSession(client::Client(std::move(credentials), std::move(options)), *path));
  session->terminal = ::isatty(STDOUT_FILENO) == 1;
  return session;
}

Status ClientSession::save(const client::Credentials& credentials) {
  return client::saveConfig(config_path_, credentials);
}

namespace {

void printRaw(const std::string& body) {
  std::cout << body;
  if (body.empty() || body.back() != '\n') std::cout << "\n";
}

Result<nlohmann::json> parseBody(const client::Reply& reply) {
  nlohmann::json parsed = nlohmann::json::parse(reply.body, nullptr, false);
  if (parsed.is_discarded()) return Status::Internal("the reply is not JSON");
  return parsed;
}

}  // namespace

Status ClientSession::showObject(const client::Reply& reply, const std::vector<Column>& fields) {
  if (json) {
    printRaw(reply.body);
    return Status::Ok();
  }
  Result<nlohmann::json> object = parseBody(reply);
  if (!object.ok()) return object.status();
  if (quiet) {
    std::cout << cellText(object->value("id", nlohmann::json())) << "\n";
    return Status::Ok();
  }
  printFields(std::cout, *object, fields);
  return Status::Ok();
}

Status ClientSession::showList(const client::Reply& reply, const std::vector<Column>& columns) {
  if (json) {
    printRaw(reply.body);
    return Status::Ok();
  }
  Result<nlohmann::json> page = parseBody(reply);
  if (!page.ok()) return page.status();
  const nlohmann::json items = page->value("items", nlohmann::json::array());
  if (quiet) {
    for (const nlohmann::json& item : items) {
      std::cout << cellText(item.value("id", nlohmann::json())) << "\n";
    }
  } else {
    printTable(std::cout, items, columns, terminal);
  }
  auto next = page->find("next_cursor");
  if (next != page->end() && next->is_string()) {
    std::cerr << "more: --cursor " << next->get<std::string>() << "\n";
  }
  return Status::Ok();
}

Status ClientSession::showDone(const std::string& message) {
  if (!json && !quiet) std::cout << message << "\n";
  return Status::Ok();
}

Status ClientSession::callAndShow(std::string_view method, const std::string& target,
                                  const nlohmann::json& body, const std::vector<Column>& fields) {
  Result<client::Reply> reply =
      client_.call(method, target, body.is_null() ? std::string() : body.dump());
  if (!reply.ok()) return reply.status();
  return showObject(*reply, fields);
}

CLI::App* addCommandGroup(CLI::App& parent, const std::string& name,
                          const std::string& description) {
  CLI::App* group = parent.add_subcommand(name, description);
  group->require_subcommand(1);
  return group;
}

namespace {

// Per command, what to do once its session is open and before its action: the name lookups
// of its id options (addIdOption). CLI11 builds the command tree once per process, on one
// thread.
std::map<const CLI::App*, std::vector<ClientAction>>& beforeActions() {
  static std::map<const CLI::App*, std::vector<ClientAction>> actions;
  return actions;
}

bool isUuid(std::string_view text) {
  static const std::regex uuid("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$");
  return std::regex_match(text.begin(), text.end(), uuid);
}

// The id of the one item named `name` in `collection`, following every page.
Result<std::string> idOfName(ClientSession& s, const std::string& collection,
                             const std::string& noun, const std::string& name) {
  std::vector<std::string> found;
  std::string cursor;
  do {
    Result<client::Reply> reply =
        s.client().call("GET", withQuery(collection, {{"limit", "1000"}, {"cursor", cursor}}));
    if (!reply.ok()) return reply.status();
    const nlohmann::json page = nlohmann::json::parse(reply->body, nullptr, false);
    if (!page.is_object() || !page.contains("items")) {
      return Status::Internal("the list of " + collection + " is not a page");
    }
    for (const nlohmann::json& item : page["items"]) {
      if (item.value("name", nlohmann::json(nullptr)) == nlohmann::json(name))
        found.push_back(item.value("id", ""));
    }
    const nlohmann::json next = page.value("next_cursor", nlohmann::json(nullptr));
    cursor = next.is_string() ? next.get<std::string>() : "";
  } while (!cursor.empty());
  if (found.empty()) return Status::NotFound("no " + noun + " named '" + name + "' found");
  if (found.size() > 1) {
    return Status::Invalid(std::to_string(found.size()) + " " + noun + "s are named '" + name +
                           "': give the id");
  }
  return found.front();
}

}  // namespace

CLI::Option* addIdOption(CLI::App* command, const std::string& name, std::string& value,
                         const std::string& collection, const std::string& description) {
  const std::string noun = description.substr(0, description.find(' '));
  beforeActions()[command].push_back([&value, collection, noun](ClientSession& s) -> Status {
    if (value.empty() || isUuid(value)) return Status::Ok();
    Result<std::string> id = idOfName(s, collection, noun, value);
    if (!id.ok()) return id.status();
    value = *id;
    return Status::Ok();
  });
  return command->add_option(name, value, description + " (or its name)");
}

CLI::App* addClientCommand(CLI::App& parent, const std::string& name,
                           const std::string& description, ClientAction action) {
  CLI::App* command = parent.add_subcommand(name, description);
  auto flags = std::make_shared<std::pair<bool, bool>>(false, false);
  command->add_flag("--json", flags->first, "print the server's JSON reply exactly");
  command->add_flag("-q,--quiet", flags->second, "print only ids");
  command->callback([command, flags, action = std::move(action)] {
    Result<std::unique_ptr<ClientSession>> session = ClientSession::open();
    Status status = session.status();
    if (session.ok()) {
      (*session)->json = flags->first;
      (*session)->quiet = flags->second;
      for (const ClientAction& before : beforeActions()[command]) {
        status = before(**session);
        if (!status.ok()) break;
      }
      if (status.ok()) status = action(**session);
    }
    exitCode() = exitCodeFor(status);
    if (status.ok()) return;
    if (session.ok() && flags->first && !(*session)->client().lastProblem().empty()) {
      printRaw((*session)->client().lastProblem());
    }
    std::cerr << "tendril: " << status.message() << "\n";
    if (status.code() == Code::kUnauthenticated) {
      std::cerr << "tendril: log in with `tendril login`, or set TENDRIL_TOKEN or "
                   "TENDRIL_API_KEY\n";
    }
  });
  return command;
}

std::string percentEncode(std::string_view text) {
  static const char* const kHex = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    }
  }
  return out;
}

std::string withQuery(const std::string& path,
                      const std::vector<std::pair<std::string, std::string>>& query) {
  std::string target = path;
  char separator = '?';
  for (const auto& [key, value] : query) {
    if (value.empty()) continue;
    target += separator + key + "=" + percentEncode(value);
    separator = '&';
  }
  return target;
}

CLI::App* addListCommand(CLI::App& group, const std::string& name, const std::string& description,
                         const std::string& path, const std::vector<Column>& columns,
                         const std::vector<std::pair<std::string, std::string>>& filters) {
  struct ListOptions {
    std::string limit, cursor;
    std::vector<std::string> filter_values;
  };
  auto list = std::make_shared<ListOptions>();
  list->filter_values.resize(filters.size());
  CLI::App* command = addClientCommand(group, name, description, [=](ClientSession& s) {
    std::vector<std::pair<std::string, std::string>> query = {{"limit", list->limit},
                                                              {"cursor", list->cursor}};
    for (size_t i = 0; i < filters.size(); ++i) {
      query.emplace_back(filters[i].second, list->filter_values[i]);
    }
    Result<client::Reply> reply = s.client().call("GET", withQuery(path, query));
    if (!reply.ok()) return reply.status();
    return s.showList(*reply, columns);
  });
  command->add_option("--limit", list->limit, "items per page (1-1000, default 50)");
  command->add_option("--cursor", list->cursor, "the next_cursor of the previous page");
  for (size_t i = 0; i < filters.size(); ++i) {
    command->add_option("--" + filters[i].first, list->filter_values[i],
                        "only items with this " + filters[i].second);
  }
  return command;
}

void addListGetDelete(CLI::App& group, const ResourceCommands& resource) {
  addListCommand(group, "list", "list " + resource.noun + "s", resource.path, resource.columns,
                 resource.filters);

  auto id = std::make_shared<std::string>();
  CLI::App* get_command =
      addClientCommand(group, "get", "show one " + resource.noun, [resource, id](auto& s) {
        return s.callAndShow("GET", resource.path + "/" + percentEncode(*id), nullptr,
                             resource.fields);
      });
  addIdOption(get_command, "id", *id, resource.path, resource.noun + " id")->required();

  auto doomed = std::make_shared<std::string>();
  CLI::App* delete_command =
      addClientCommand(group, "delete", "delete a " + resource.noun, [resource, doomed](auto& s) {
        Result<client::Reply> reply =
            s.client().call("DELETE", resource.path + "/" + percentEncode(*doomed));
        if (!reply.ok()) return reply.status();
        return s.showDone("deleted " + resource.noun + " " + *doomed);
      });
  addIdOption(delete_command, "id", *doomed, resource.path, resource.noun + " id")->required();
}

void addListOf(CLI::App& group, const std::string& name, const std::string& description,
               const std::string& prefix, const std::string& suffix,
               const std::vector<Column>& columns) {
  auto id = std::make_shared<std::string>();
  addClientCommand(group, name, description,
                   [=](ClientSession& s) {
                     Result<client::Reply> reply =
                         s.client().call("GET", prefix + percentEncode(*id) + suffix);
                     if (!reply.ok()) return reply.status();
                     return s.showList(*reply, columns);
                   })
      ->add_option("id", *id, "id of the owner")
      ->required();
}

void addDownload(CLI::App& group, const std::string& noun, const std::string& prefix,
                 const std::string& query_key, const std::vector<std::string>& choices) {
  struct Options {
    std::string id, value, output;
  };
  auto options = std::make_shared<Options>();
  CLI::App* download = addClientCommand(
      group, "download", "download a " + noun + " to a file", [=](ClientSession& s) {
        std::string target = prefix + percentEncode(options->id) + "/download";
        if (!query_key.empty()) target = withQuery(target, {{query_key, options->value}});
        TENDRIL_RETURN_IF_ERROR(s.client().download(target, options->output));
        return s.showDone("saved " + options->output);
      });
  download->add_option("id", options->id, noun + " id")->required();
  download->add_option("-o,--output", options->output, "file to write")->required();
  if (!query_key.empty()) {
    CLI::Option* option = download->add_option("--" + query_key, options->value, query_key);
    if (!choices.empty()) option->check(CLI::IsMember(choices));
  }
}

Result<std::string> readPassword(const std::string& prompt, bool from_stdin) {
  std::string password;
  if (from_stdin) {
    if (!std::getline(std::cin, password)) return Status::Invalid("no password on stdin");
    if (!password.empty() && password.back() == '\r') password.pop_back();
    return password;
  }
  FILE* tty = std::fopen("/dev/tty", "r+");
  if (tty == nullptr) {
    return Status::Invalid("no terminal to ask for the password: use --password-stdin");
  }
  // Echo goes off before the prompt appears, so nothing typed after the prompt is echoed.
  termios saved{};
  const bool have_terminal = ::tcgetattr(fileno(tty), &saved) == 0;
  if (have_terminal) {
    termios quiet = saved;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(fileno(tty), TCSANOW, &quiet);
  }
  std::fputs(prompt.c_str(), tty);
  std::fflush(tty);
  char buffer[1100];
  const bool read = std::fgets(buffer, sizeof(buffer), tty) != nullptr;
  if (have_terminal) ::tcsetattr(fileno(tty), TCSANOW, &saved);
  std::fputs("\n", tty);
  std::fclose(tty);
  if (!read) return Status::Invalid("no password given");
  password = buffer;
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) {
    password.pop_back();
  }
  return password;
}

Result<std::string> readTextFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Invalid("cannot read " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace tendril::cli
