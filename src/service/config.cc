#include "service/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace tendril::service {
namespace {

constexpr std::array<std::string_view, 5> kLogLevelNames = {"trace", "debug", "info", "warn",
                                                            "error"};
constexpr std::array<std::string_view, 2> kHashCostNames = {"interactive", "testing"};
static_assert(static_cast<size_t>(HashCost::kInteractive) == 0 &&
                  static_cast<size_t>(HashCost::kTesting) == 1,
              "kHashCostNames follows the order of HashCost");
static_assert(static_cast<size_t>(LogLevel::kError) == 4,
              "kLogLevelNames follows the order of LogLevel");

constexpr size_t kMaxTextBytes = 4096;
constexpr size_t kMaxConfigFileBytes = 1024 * 1024;
constexpr size_t kMinTokenKeyBytes = 32;
constexpr size_t kMaxTokenKeyFileBytes = 64 * 1024;
constexpr std::string_view kSqlitePrefix = "sqlite:";

// --- The settings table -----------------------------------------------------------------------
//
// Each kind of field knows how to read and write its member of ServiceConfig; the templates
// below build those accessors from a pointer to member, so a row of the table names its field
// once and the compiler checks that ranges fit the field's type.

// Extra check of a text value beyond length and control characters; gets non-empty text.
using TextCheck = Status (*)(std::string_view value);

struct TextField {
  std::string (*get)(const ServiceConfig&);
  void (*set)(ServiceConfig&, std::string_view);
  bool allow_empty;
  std::string_view allowed;  // for describeSettings()
  TextCheck check;           // may be null
};

struct IntegerField {
  int64_t (*get)(const ServiceConfig&);
  void (*set)(ServiceConfig&, int64_t);
  int64_t min;
  int64_t max;
};

struct ChoiceField {  // an enum whose values are 0, 1, ... in the order of `names`
  size_t (*get)(const ServiceConfig&);
  void (*set)(ServiceConfig&, size_t);
  std::span<const std::string_view> names;
};

struct Setting {
  std::string_view key;
  std::string_view default_value;  // config-file text, parsed by ServiceConfig()
  std::string_view description;
  std::variant<TextField, IntegerField, ChoiceField> field;
};

template <auto kMember>
using FieldType = std::remove_cvref_t<decltype(std::declval<ServiceConfig&>().*kMember)>;

template <auto kMember>
constexpr TextField text(bool allow_empty, std::string_view allowed, TextCheck check = nullptr) {
  using T = FieldType<kMember>;
  static_assert(std::is_same_v<T, std::string> || std::is_same_v<T, std::filesystem::path>);
  return {[](const ServiceConfig& config) -> std::string {
            if constexpr (std::is_same_v<T, std::string>) {
              return config.*kMember;
            } else {
              return (config.*kMember).string();
            }
          },
          [](ServiceConfig& config, std::string_view value) { config.*kMember = T(value); },
          allow_empty, allowed, check};
}

template <auto kMember, int64_t kMin, int64_t kMax>
constexpr IntegerField integer() {
  using T = FieldType<kMember>;
  static_assert(std::is_integral_v<T> && std::in_range<T>(kMin) && std::in_range<T>(kMax) &&
                kMin <= kMax);
  return {[](const ServiceConfig& config) { return static_cast<int64_t>(config.*kMember); },
          [](ServiceConfig& config, int64_t value) { config.*kMember = static_cast<T>(value); },
          kMin, kMax};
}

template <auto kMember>
constexpr ChoiceField choice(std::span<const std::string_view> names) {
  using T = FieldType<kMember>;
  static_assert(std::is_enum_v<T>);
  return {[](const ServiceConfig& config) { return static_cast<size_t>(config.*kMember); },
          [](ServiceConfig& config, size_t index) { config.*kMember = static_cast<T>(index); },
          names};
}

Status checkListen(std::string_view value) { return parseListenAddress(value).status(); }

// Any database text is accepted here; validate() says which kinds this build can use.
Status checkDatabase(std::string_view value) {
  if (value == kSqlitePrefix) return Status::Invalid("sqlite: needs a file path after the colon");
  return Status::Ok();
}

using C = ServiceConfig;
constexpr int64_t kGiB = 1024 * 1024 * 1024;
constexpr int64_t kDay = 24 * 60 * 60;

// The one declaration of every setting. Descriptions are one line; docs/operations.md and
// config/tendril.conf list the same keys and defaults (config_test checks both).
constexpr std::array kSettings = {
    Setting{"listen", "127.0.0.1:8080",
            "Address to listen on, HOST:PORT or [V6HOST]:PORT; port 0 picks a free port",
            text<&C::listen>(false, "HOST:PORT", checkListen)},
    Setting{"io_threads", "0",
            "Threads serving HTTP and WebSocket I/O; 0: one per hardware thread, at least 2",
            integer<&C::io_threads, 0, 256>()},
    Setting{"engine_threads", "0",
            "Threads training and querying clusters; 0: one per hardware thread",
            integer<&C::engine_threads, 0, 1024>()},
    Setting{"handler_threads", "0",
            "Threads running HTTP handlers (never the I/O threads); 0: twice the hardware "
            "threads, at least 4",
            integer<&C::handler_threads, 0, 1024>()},
    Setting{"data_dir", "./data",
            "Directory of the database, the token key, clusters, datasets and checkpoints",
            text<&C::data_dir>(false, "path")},
    Setting{
        "database", "",
        "Metadata database: empty for <data_dir>/tendril.db, or sqlite:PATH (no PostgreSQL yet)",
        text<&C::database>(true, "empty or sqlite:PATH", checkDatabase)},
    Setting{"token_key_file", "",
            "Token signing key file, created when missing; empty: <data_dir>/token.key",
            text<&C::token_key_file>(true, "path or empty")},
    Setting{"policy_file", "",
            "Policy of endpoints and roles, reloaded on SIGHUP; empty: the built-in policy",
            text<&C::policy_file>(true, "path or empty")},
    Setting{"dashboard_dir", "web/dist",
            "The built web dashboard (index.html and assets/), served at /; missing: / says so",
            text<&C::dashboard_dir>(false, "path")},
    Setting{"max_body_bytes", "1048576", "Largest HTTP request body in bytes (larger: 413)",
            integer<&C::max_body_bytes, 1024, kGiB>()},
    Setting{"max_header_bytes", "16384",
            "Largest request line and headers together in bytes (larger: 431)",
            integer<&C::max_header_bytes, 1024, 1024 * 1024>()},
    Setting{"read_timeout_s", "10", "Seconds a client has to send a whole request once started",
            integer<&C::read_timeout_s, 1, 3600>()},
    Setting{"idle_timeout_s", "30", "Seconds an idle keep-alive connection stays open",
            integer<&C::idle_timeout_s, 1, 3600>()},
    Setting{"max_connections", "512", "Open connections beyond which new ones are answered 503",
            integer<&C::max_connections, 1, 1000000>()},
    Setting{"ws_max_message_bytes", "1048576", "Largest WebSocket message in bytes",
            integer<&C::ws_max_message_bytes, 1024, kGiB>()},
    Setting{"ws_idle_timeout_s", "60", "Seconds a WebSocket may stay silent before it is closed",
            integer<&C::ws_idle_timeout_s, 1, kDay>()},
    Setting{"autosave_interval_s", "300",
            "Seconds between autosaves of every changed cluster; 0: only on shutdown",
            integer<&C::autosave_interval_s, 0, kDay>()},
    Setting{"task_slice_ms", "50",
            "Milliseconds a task runs before the scheduler may hand its thread to another cluster",
            integer<&C::task_slice_ms, 1, 60000>()},
    Setting{"max_upload_bytes", "8589934592",
            "Largest declared size of one uploaded dataset part or checkpoint in bytes",
            integer<&C::max_upload_bytes, 1024, 1024 * kGiB>()},
    Setting{"quota_clusters", "64", "Default quota: clusters per project",
            integer<&C::quota_clusters, 0, 1000000>()},
    Setting{"quota_synapse_bytes", "8589934592",
            "Default quota: bytes the clusters of a project may grow to (sections and synapses)",
            integer<&C::quota_synapse_bytes, 0, 1024 * kGiB>()},
    Setting{"quota_dataset_bytes", "17179869184", "Default quota: dataset bytes per project",
            integer<&C::quota_dataset_bytes, 0, 1024 * kGiB>()},
    Setting{"quota_concurrent_tasks", "8",
            "Default quota: tasks a project may have queued or running at once",
            integer<&C::quota_concurrent_tasks, 0, 100000>()},
    Setting{"access_token_ttl_s", "900", "Lifetime of an access token in seconds",
            integer<&C::access_token_ttl_s, 1, kDay>()},
    Setting{"refresh_token_ttl_s", "2592000",
            "Lifetime of a refresh token in seconds, at least access_token_ttl_s",
            integer<&C::refresh_token_ttl_s, 300, 366 * kDay>()},
    Setting{"token_issuer", "tendril",
            "Issuer (iss) written into access tokens and required of them",
            text<&C::token_issuer>(false, "text")},
    Setting{"login_max_failures", "5",
            "Failed logins of one user name within login_window_s that lock it",
            integer<&C::login_max_failures, 1, 1000>()},
    Setting{"login_window_s", "300", "Seconds over which failed logins are counted",
            integer<&C::login_window_s, 1, kDay>()},
    Setting{"login_lockout_s", "60",
            "Seconds of a first login lock; each further lock soon after lasts twice as long",
            integer<&C::login_lockout_s, 1, kDay>()},
    Setting{"password_hash_cost", "interactive",
            "Argon2id cost of password hashes; testing is for the test suite only",
            choice<&C::password_hash_cost>(kHashCostNames)},
    Setting{"log_level", "info", "Least severe log messages written to stderr",
            choice<&C::log_level>(kLogLevelNames)},
};

const Setting* findSetting(std::string_view key) {
  for (const Setting& setting : kSettings) {
    if (setting.key == key) return &setting;
  }
  return nullptr;
}

std::string envName(std::string_view key) {
  std::string name = "TENDRIL_";
  for (char c : key) name += (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  return name;
}

bool isControlCharacter(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

// `text` in single quotes for a message, control characters escaped and long text cut short,
// so that a hostile value cannot garble a terminal or a log line.
std::string displayed(std::string_view text) {
  constexpr size_t kShown = 80;
  std::string out = "'";
  for (char c : text.substr(0, kShown)) {
    if (isControlCharacter(c)) {
      constexpr std::string_view kHex = "0123456789abcdef";
      const auto byte = static_cast<unsigned char>(c);
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  out += text.size() > kShown ? "'..." : "'";
  return out;
}

std::string joinedNames(const ChoiceField& field) {
  std::string names;
  for (std::string_view name : field.names) {
    if (!names.empty()) names += '|';
    names += name;
  }
  return names;
}

std::string allowedText(const Setting& setting) {
  if (const auto* field = std::get_if<TextField>(&setting.field)) {
    return std::string(field->allowed);
  }
  if (const auto* field = std::get_if<IntegerField>(&setting.field)) {
    return std::to_string(field->min) + ".." + std::to_string(field->max);
  }
  return joinedNames(std::get<ChoiceField>(setting.field));
}

Status parseText(const TextField& field, ServiceConfig& config, std::string_view value) {
  if (value.empty()) {
    if (!field.allow_empty) return Status::Invalid("must not be empty");
  } else {
    if (value.size() > kMaxTextBytes) {
      return Status::Invalid("must have at most " + std::to_string(kMaxTextBytes) + " bytes");
    }
    if (std::any_of(value.begin(), value.end(), isControlCharacter)) {
      return Status::Invalid("must not contain control characters, got " + displayed(value));
    }
    if (field.check != nullptr) TENDRIL_RETURN_IF_ERROR(field.check(value));
  }
  field.set(config, value);
  return Status::Ok();
}

// Decimal digits with a '-' only where negative values are allowed; no '+', no spaces, no
// trailing text, no overflow (std::from_chars neither throws nor wraps).
Status parseInteger(const IntegerField& field, ServiceConfig& config, std::string_view value) {
  const Status refused =
      Status::Invalid("must be an integer from " + std::to_string(field.min) + " to " +
                      std::to_string(field.max) + ", got " + displayed(value));
  if (value.empty() || (value.front() == '-' && field.min >= 0)) return refused;
  int64_t number = 0;
  const char* end = value.data() + value.size();
  auto [stop, error] = std::from_chars(value.data(), end, number);
  if (error != std::errc() || stop != end || number < field.min || number > field.max) {
    return refused;
  }
  field.set(config, number);
  return Status::Ok();
}

Status parseChoice(const ChoiceField& field, ServiceConfig& config, std::string_view value) {
  for (size_t i = 0; i < field.names.size(); ++i) {
    if (field.names[i] == value) {
      field.set(config, i);
      return Status::Ok();
    }
  }
  return Status::Invalid("must be one of " + joinedNames(field) + ", got " + displayed(value));
}

// Parses `value` into the setting's field; the message of an error does not name the key (the
// callers add the context: key, file and line, or environment variable).
Status parseInto(const Setting& setting, ServiceConfig& config, std::string_view value) {
  return std::visit(
      [&](const auto& field) -> Status {
        using F = std::decay_t<decltype(field)>;
        if constexpr (std::is_same_v<F, TextField>) return parseText(field, config, value);
        if constexpr (std::is_same_v<F, IntegerField>) return parseInteger(field, config, value);
        if constexpr (std::is_same_v<F, ChoiceField>) return parseChoice(field, config, value);
      },
      setting.field);
}

// The setting's current value as (unquoted) config-file text; "?" for an enum value outside
// the table, which parseInto() then refuses.
std::string valueText(const Setting& setting, const ServiceConfig& config) {
  if (const auto* field = std::get_if<TextField>(&setting.field)) return field->get(config);
  if (const auto* field = std::get_if<IntegerField>(&setting.field)) {
    return std::to_string(field->get(config));
  }
  const auto& field = std::get<ChoiceField>(setting.field);
  const size_t index = field.get(config);
  return index < field.names.size() ? std::string(field.names[index]) : "?";
}

// --- The config file --------------------------------------------------------------------------

constexpr std::string_view kBlanks = " \t";

std::string_view trimmed(std::string_view text) {
  const size_t first = text.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kBlanks) - first + 1);
}

// A value after the '=' (already trimmed): `"..."` with \" and \\ escapes, or bare text up to
// a comment. A '#' starts a comment at the beginning of a value or after a blank.
Result<std::string> parseValue(std::string_view raw) {
  if (!raw.empty() && raw.front() == '"') {
    std::string value;
    size_t i = 1;
    for (; i < raw.size() && raw[i] != '"'; ++i) {
      if (raw[i] != '\\') {
        value += raw[i];
        continue;
      }
      if (++i == raw.size() || (raw[i] != '"' && raw[i] != '\\')) {
        return Status::Invalid("only \\\" and \\\\ may follow a backslash in a quoted value");
      }
      value += raw[i];
    }
    if (i == raw.size()) return Status::Invalid("the quoted value has no closing quote");
    std::string_view rest = trimmed(raw.substr(i + 1));
    if (!rest.empty() && rest.front() != '#') {
      return Status::Invalid("unexpected text after the closing quote: " + displayed(rest));
    }
    return value;
  }
  size_t end = raw.size();
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '#' && (i == 0 || raw[i - 1] == ' ' || raw[i - 1] == '\t')) {
      end = i;
      break;
    }
  }
  std::string_view value = trimmed(raw.substr(0, end));
  if (value.find('"') != std::string_view::npos) {
    return Status::Invalid("a quote inside an unquoted value; quote the whole value");
  }
  return std::string(value);
}

struct FileDescriptor {
  explicit FileDescriptor(int descriptor) : fd(descriptor) {}
  ~FileDescriptor() {
    if (fd >= 0) ::close(fd);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int fd;
};

std::string systemError(int error) {
  return std::error_code(error, std::generic_category()).message();
}

// Reads everything from `fd`, at most `max_bytes` (ResourceExhausted beyond). `what` names the
// file in messages.
Result<std::string> readAll(int fd, size_t max_bytes, const std::string& what) {
  std::string data;
  char buffer[4096];
  while (true) {
    const ssize_t count = ::read(fd, buffer, sizeof buffer);
    if (count < 0) {
      if (errno == EINTR) continue;
      return Status::Io("cannot read " + what + ": " + systemError(errno));
    }
    if (count == 0) return data;
    if (data.size() + static_cast<size_t>(count) > max_bytes) {
      return Status::Exhausted(what + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
    data.append(buffer, static_cast<size_t>(count));
  }
}

// Opens a regular file for reading, following symbolic links. NotFound when it does not exist,
// FailedPrecondition when it is not a regular file, Io otherwise. `info` receives its status.
Result<int> openRegularFile(const std::filesystem::path& path, const std::string& what,
                            struct stat* info) {
  // O_NONBLOCK: opening a FIFO must not hang; it is refused below as not a regular file.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) return Status::NotFound(what + " does not exist");
    return Status::Io("cannot open " + what + ": " + systemError(error));
  }
  if (::fstat(fd, info) != 0 || !S_ISREG(info->st_mode)) {
    ::close(fd);
    return Status::Precondition(what + " is not a regular file");
  }
  return fd;
}

Status parseConfigText(std::string_view text, const std::string& file_name, ServiceConfig& config) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // a UTF-8 byte order mark
  std::map<std::string, size_t, std::less<>> first_line;        // key -> line number
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (line.ends_with('\r')) line.remove_suffix(1);
    line = trimmed(line);
    if (line.empty() || line.front() == '#') continue;

    const std::string where = file_name + ":" + std::to_string(line_number) + ": ";
    const size_t equals = line.find('=');
    if (equals == std::string_view::npos) {
      return Status::Invalid(where + "expected 'key = value', got " + displayed(line));
    }
    const std::string_view key = trimmed(line.substr(0, equals));
    if (key.empty()) return Status::Invalid(where + "a key is missing before '='");
    const Setting* setting = findSetting(key);
    if (setting == nullptr) return Status::Invalid(where + "unknown key " + displayed(key));
    if (auto [previous, inserted] = first_line.emplace(key, line_number); !inserted) {
      return Status::Invalid(where + std::string(key) + " is set twice (first on line " +
                             std::to_string(previous->second) + ")");
    }
    Result<std::string> value = parseValue(trimmed(line.substr(equals + 1)));
    Status status = value.ok() ? parseInto(*setting, config, *value) : value.status();
    if (!status.ok()) return Status::Invalid(where + std::string(key) + ": " + status.message());
  }
  return Status::Ok();
}

Status applyConfigFile(const std::filesystem::path& file, ServiceConfig& config) {
  const std::string what = "config file " + file.string();
  struct stat info {};
  Result<int> fd = openRegularFile(file, what, &info);
  if (!fd.ok()) return fd.status();
  FileDescriptor closer(*fd);
  Result<std::string> text = readAll(*fd, kMaxConfigFileBytes, what);
  if (!text.ok()) return text.status();
  return parseConfigText(*text, file.string(), config);
}

// `value` as the right-hand side of a config-file line: numbers bare, text in double quotes
// with '"' and '\\' escaped (values hold no control characters, so nothing else needs escaping).
std::string renderedValue(const Setting& setting, std::string_view value) {
  if (std::holds_alternative<IntegerField>(setting.field)) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// --- The token key ----------------------------------------------------------------------------

Result<std::string> readTokenKeyFile(const std::filesystem::path& file) {
  const std::string what = "token key file " + file.string();
  struct stat info {};
  Result<int> fd = openRegularFile(file, what, &info);
  if (!fd.ok()) return fd.status();
  FileDescriptor closer(*fd);
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(info.st_mode & 07777));
    return Status::Precondition(what + " has mode " + mode +
                                ": group and others must have no access (chmod 600 " +
                                file.string() + ")");
  }
  Result<std::string> key = readAll(*fd, kMaxTokenKeyFileBytes, what);
  if (!key.ok()) return key.status();
  while (!key->empty() && (key->back() == '\n' || key->back() == '\r')) key->pop_back();
  if (key->size() < kMinTokenKeyBytes) {
    return Status::Precondition(what + " holds " + std::to_string(key->size()) +
                                " bytes; a token key needs at least " +
                                std::to_string(kMinTokenKeyBytes));
  }
  return std::move(key).value();
}

Status writeAllAndSync(int fd, std::string_view data, const std::string& what) {
  while (!data.empty()) {
    const ssize_t count = ::write(fd, data.data(), data.size());
    if (count < 0) {
      if (errno == EINTR) continue;
      return Status::Io("cannot write " + what + ": " + systemError(errno));
    }
    data.remove_prefix(static_cast<size_t>(count));
  }
  if (::fsync(fd) != 0) return Status::Io("cannot flush " + what + ": " + systemError(errno));
  return Status::Ok();
}

// Creates `file` with a fresh random key, mode 0600. The key goes to a temporary file first,
// which is then hard-linked to `file`: link() never replaces an existing file, so when two
// processes race, both end up reading the one key that won. Filesystems without hard links
// get a rename() instead.
Status createTokenKeyFile(const std::filesystem::path& file) {
  TENDRIL_RETURN_IF_ERROR(initCredentials());
  std::filesystem::path directory = file.parent_path();
  if (directory.empty()) directory = ".";
  std::error_code error;
  std::filesystem::create_directories(directory, error);
  if (error) {
    return Status::Io("cannot create directory " + directory.string() + ": " + error.message());
  }
  const std::filesystem::path temporary =
      directory / ("." + file.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                   randomSecret(6));
  const std::string what = "token key file " + temporary.string();
  {
    FileDescriptor out(
        ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (out.fd < 0) return Status::Io("cannot create " + what + ": " + systemError(errno));
    Status written = ::fchmod(out.fd, 0600) == 0
                         ? writeAllAndSync(out.fd, randomSecret(kMinTokenKeyBytes) + "\n", what)
                         : Status::Io("cannot chmod " + what + ": " + systemError(errno));
    if (!written.ok()) {
      ::unlink(temporary.c_str());
      return written;
    }
  }
  int placed = ::link(temporary.c_str(), file.c_str());
  int link_error = placed == 0 ? 0 : errno;
  if (placed != 0 && (link_error == EPERM || link_error == EOPNOTSUPP || link_error == ENOSYS)) {
    placed = ::rename(temporary.c_str(), file.c_str());
    link_error = placed == 0 ? 0 : errno;
  }
  ::unlink(temporary.c_str());  // gone already after a rename
  if (placed != 0 && link_error != EEXIST) {
    return Status::Io("cannot create token key file " + file.string() + ": " +
                      systemError(link_error));
  }
  FileDescriptor dir(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.fd < 0 || ::fsync(dir.fd) != 0) {
    return Status::Io("cannot flush directory " + directory.string() + ": " + systemError(errno));
  }
  return Status::Ok();
}

}  // namespace

std::string_view logLevelName(LogLevel level) {
  const auto index = static_cast<size_t>(level);
  return index < kLogLevelNames.size() ? kLogLevelNames[index] : "unknown";
}

ServiceConfig::ServiceConfig() {
  for (const Setting& setting : kSettings) {
    [[maybe_unused]] Status status = parseInto(setting, *this, setting.default_value);
    assert(status.ok() && "every default in the settings table parses");
  }
}

std::filesystem::path ServiceConfig::databaseFile() const {
  if (database.empty()) return data_dir / "tendril.db";
  if (database.starts_with(kSqlitePrefix)) return database.substr(kSqlitePrefix.size());
  return {};
}

std::filesystem::path ServiceConfig::tokenKeyFile() const {
  return token_key_file.empty() ? data_dir / "token.key" : token_key_file;
}

Status ServiceConfig::validate() const {
  ServiceConfig scratch;
  for (const Setting& setting : kSettings) {
    if (Status status = parseInto(setting, scratch, valueText(setting, *this)); !status.ok()) {
      return Status::Invalid(std::string(setting.key) + ": " + status.message());
    }
  }
  if (refresh_token_ttl_s < access_token_ttl_s) {
    return Status::Invalid("refresh_token_ttl_s (" + std::to_string(refresh_token_ttl_s) +
                           ") must be at least access_token_ttl_s (" +
                           std::to_string(access_token_ttl_s) + ")");
  }
  if (!database.empty() && !database.starts_with(kSqlitePrefix)) {
    // Name only the scheme: a database URL may carry a password.
    const size_t colon = database.find(':');
    const std::string kind =
        colon == std::string::npos ? "a plain path" : displayed(database.substr(0, colon));
    return Status::Precondition("database: " + kind +
                                " is not supported yet; leave database empty for "
                                "<data_dir>/tendril.db or write sqlite:PATH");
  }
  return Status::Ok();
}

std::vector<std::string> configWarnings(const ServiceConfig& config) {
  std::vector<std::string> warnings;
  if (config.password_hash_cost == HashCost::kTesting) {
    warnings.push_back(
        "WARNING: password_hash_cost = testing makes password hashes cheap to crack. It exists "
        "for the test suite only; never use it with real users.");
  }
  if (config.access_token_ttl_s < 60) {
    warnings.push_back("WARNING: access_token_ttl_s = " +
                       std::to_string(config.access_token_ttl_s) +
                       " s: clients will spend much of their time refreshing. Short lifetimes "
                       "are meant for tests of token expiry.");
  }
  return warnings;
}

Result<ListenAddress> parseListenAddress(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    return Status::Invalid(displayed(text) + " is not HOST:PORT");
  }
  ListenAddress address;
  std::string_view host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find_first_of("[]:") != std::string_view::npos) {
    return Status::Invalid(displayed(text) + " is not HOST:PORT (write an IPv6 host in brackets)");
  }
  address.host = std::string(host);
  const std::string_view port = text.substr(colon + 1);
  auto [stop, error] = std::from_chars(port.data(), port.data() + port.size(), address.port);
  if (error != std::errc() || stop != port.data() + port.size()) {
    return Status::Invalid("the port of " + displayed(text) + " must be 0-65535");
  }
  return address;
}

Environment processEnvironment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Environment fixedEnvironment(std::map<std::string, std::string, std::less<>> variables) {
  return [variables = std::move(variables)](std::string_view name) -> std::optional<std::string> {
    auto found = variables.find(name);
    if (found == variables.end()) return std::nullopt;
    return found->second;
  };
}

Result<ServiceConfig> loadConfig(const std::optional<std::filesystem::path>& file,
                                 const Environment& env) {
  ServiceConfig config;
  if (file) TENDRIL_RETURN_IF_ERROR(applyConfigFile(*file, config));
  for (const Setting& setting : kSettings) {
    const std::string name = envName(setting.key);
    if (std::optional<std::string> value = env(name)) {
      if (Status status = parseInto(setting, config, *value); !status.ok()) {
        return Status::Invalid("environment " + name + ": " + status.message());
      }
    }
  }
  return config;
}

Status applySetting(ServiceConfig& config, std::string_view key, std::string_view value) {
  const Setting* setting = findSetting(key);
  if (setting == nullptr) return Status::Invalid("unknown setting " + displayed(key));
  if (Status status = parseInto(*setting, config, value); !status.ok()) {
    return Status::Invalid(std::string(key) + ": " + status.message());
  }
  return Status::Ok();
}

std::vector<SettingInfo> describeSettings() {
  std::vector<SettingInfo> rows;
  for (const Setting& setting : kSettings) {
    rows.push_back({std::string(setting.key), envName(setting.key),
                    std::string(setting.default_value), std::string(setting.description),
                    allowedText(setting)});
  }
  return rows;
}

std::string renderConfig(const ServiceConfig& config) {
  std::string out =
      "# Effective configuration of tendril serve (config-file syntax; see docs/operations.md).\n"
      "# Precedence: defaults < config file < environment TENDRIL_<KEY> < command-line flags.\n";
  for (const Setting& setting : kSettings) {
    const std::string value = valueText(setting, config);
    out += "\n# " + std::string(setting.description) + "\n";
    out += "# env " + envName(setting.key) + ", allowed " + allowedText(setting) + ", default " +
           renderedValue(setting, setting.default_value) + "\n";
    out += std::string(setting.key) + " = " + renderedValue(setting, value) + "\n";
  }
  return out;
}

Result<std::string> loadOrCreateTokenKey(const ServiceConfig& config, const Environment& env) {
  if (std::optional<std::string> key = env(kTokenKeyEnv)) {
    if (key->size() < kMinTokenKeyBytes) {
      return Status::Invalid(std::string(kTokenKeyEnv) + " holds " + std::to_string(key->size()) +
                             " bytes; a token key needs at least " +
                             std::to_string(kMinTokenKeyBytes));
    }
    return std::move(*key);
  }
  const std::filesystem::path file = config.tokenKeyFile();
  Result<std::string> existing = readTokenKeyFile(file);
  if (existing.ok() || existing.status().code() != Code::kNotFound) return existing;
  TENDRIL_RETURN_IF_ERROR(createTokenKeyFile(file));
  return readTokenKeyFile(file);
}

}  // namespace tendril::service
