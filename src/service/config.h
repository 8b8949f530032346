// The configuration of `tendril serve`: every setting declared once, in one table in config.cc
// (key, type, default, allowed values, description, where it lives in ServiceConfig). That
// table gives the defaults, parses the config file, applies environment overrides and
// command-line flags, checks ranges, lists the settings for `--print-config` and the docs, and
// renders a configuration back as config-file text.
//
// Precedence, lowest first: built-in defaults < config file < environment (TENDRIL_<KEY>) <
// command-line flags (applySetting). The file format is flat `key = value` lines (see
// docs/operations.md); unknown keys, duplicates, malformed lines and out-of-range values are
// errors naming the file, the line and the key — nothing is silently ignored.
//
// Secrets are not settings: the token signing key comes from TENDRIL_TOKEN_KEY or a key file
// (loadOrCreateTokenKey), never from the config file.
//
// Errors: InvalidArgument for a bad value, key or line; NotFound for a missing config file; Io
// when a file cannot be read or written; FailedPrecondition for a valid but unusable
// configuration (a database kind not supported yet, an unsafe key file). No exception escapes.
// Thread safety: all functions are reentrant; processEnvironment() reads the process
// environment, which must not be modified concurrently (read it at startup).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "service/credentials.h"

namespace tendril::service {

// The order is the order of the log_level values in the settings table.
enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };

// "trace", "debug", "info", "warn" or "error".
std::string_view logLevelName(LogLevel level);

// Environment variables Tendril reads that are not settings (no config-file key). No setting's
// TENDRIL_<KEY> name may equal one of these (config_test checks it).
inline constexpr std::string_view kTokenKeyEnv = "TENDRIL_TOKEN_KEY";    // the signing key itself
inline constexpr std::string_view kConfigFileEnv = "TENDRIL_CONFIG";     // path of the config file
inline constexpr std::string_view kAdminNameEnv = "TENDRIL_ADMIN_NAME";  // the first admin
inline constexpr std::string_view kAdminPasswordEnv = "TENDRIL_ADMIN_PASSWORD";

// Every setting of `tendril serve`. Field names are the config-file keys. A default-constructed
// ServiceConfig holds the defaults of the settings table (config.cc); describeSettings() lists
// them with their ranges. Fields may be assigned directly (tests, embedders): validate() then
// checks them against the same table.
struct ServiceConfig {
  ServiceConfig();  // the defaults, from the settings table

  // Network
  std::string listen;  // HOST:PORT or [V6HOST]:PORT; port 0 picks a free port
  int io_threads;      // HTTP I/O threads; 0: one per hardware thread, at least 2
  int engine_threads;  // threads that train and query clusters; 0: one per hardware thread
  int handler_threads;  // threads running HTTP handlers; 0: twice the hardware threads, at least 4

  // Storage
  std::filesystem::path data_dir;
  std::string database;                  // "" (SQLite in data_dir), "sqlite:PATH", or a URL
  std::filesystem::path token_key_file;  // "" means <data_dir>/token.key
  std::filesystem::path policy_file;     // "" means the policy built into the binary
  std::filesystem::path dashboard_dir;   // the built web dashboard, served at /

  // Limits
  size_t max_body_bytes;
  size_t max_header_bytes;
  int read_timeout_s;
  int idle_timeout_s;
  size_t max_connections;
  size_t ws_max_message_bytes;
  int ws_idle_timeout_s;

  // ML resources
  int autosave_interval_s;  // seconds between autosaves of changed clusters; 0: off
  int task_slice_ms;        // a task runs this long before the scheduler may switch clusters
  int64_t max_upload_bytes;  // largest declared dataset part or checkpoint upload
  // Default per-project quotas (an admin may set others per project).
  int64_t quota_clusters;
  int64_t quota_synapse_bytes;
  int64_t quota_dataset_bytes;
  int64_t quota_concurrent_tasks;

  // Authentication
  int64_t access_token_ttl_s;
  int64_t refresh_token_ttl_s;
  std::string token_issuer;
  int login_max_failures;  // failed logins of one name within login_window_s before a lockout
  int login_window_s;
  int login_lockout_s;
  HashCost password_hash_cost;  // kTesting is for the test suite only

  // Logging
  LogLevel log_level;

  // The SQLite database file: <data_dir>/tendril.db when `database` is empty, PATH for
  // "sqlite:PATH", and an empty path for any other kind of database. Relative paths stay
  // relative to the working directory.
  std::filesystem::path databaseFile() const;
  // token_key_file, or <data_dir>/token.key when it is empty.
  std::filesystem::path tokenKeyFile() const;

  // Checks every field against the settings table (InvalidArgument naming the key) and the
  // rules between fields (refresh tokens live at least as long as access tokens); then
  // FailedPrecondition for a `database` other than SQLite, which this build cannot use yet.
  // Call it once the file, environment and flags are all applied.
  Status validate() const;

  friend bool operator==(const ServiceConfig&, const ServiceConfig&) = default;
};

// Things a valid configuration still deserves a loud warning for (password_hash_cost =
// testing); `tendril serve` prints each line at startup. Empty for a production setup.
std::vector<std::string> configWarnings(const ServiceConfig& config);

// A listen address split into host (brackets of an IPv6 literal removed) and port.
struct ListenAddress {
  std::string host;
  uint16_t port = 0;
};
// Parses "HOST:PORT" or "[V6HOST]:PORT" (InvalidArgument otherwise).
Result<ListenAddress> parseListenAddress(std::string_view text);

// Where environment variables come from: the value of `name`, or nullopt when it is unset.
// Injected so that tests stay hermetic.
using Environment = std::function<std::optional<std::string>(std::string_view name)>;
// The real process environment (getenv).
Environment processEnvironment();
// An environment holding exactly `variables` (tests, and callers that build one).
Environment fixedEnvironment(std::map<std::string, std::string, std::less<>> variables);

// Defaults, then `file` when given, then every TENDRIL_<KEY> that `env` holds (an empty value
// counts as set). Errors name the file and line, or the environment variable, and the key.
// Does not call validate(): apply command-line flags first, then validate.
Result<ServiceConfig> loadConfig(const std::optional<std::filesystem::path>& file,
                                 const Environment& env);

// Parses `value` for setting `key` and stores it (InvalidArgument for an unknown key or a value
// out of range; `config` is unchanged then). Used for the file, the environment and flags.
Status applySetting(ServiceConfig& config, std::string_view key, std::string_view value);

// One row per setting, in table order.
struct SettingInfo {
  std::string key;            // config-file key, e.g. "max_body_bytes"
  std::string env;            // environment variable, e.g. "TENDRIL_MAX_BODY_BYTES"
  std::string default_value;  // as config-file text, unquoted ("" for an empty default)
  std::string description;    // one line
  std::string allowed;        // "1024..1073741824", "trace|debug|info|warn|error", "HOST:PORT"
};
std::vector<SettingInfo> describeSettings();

// `config` as config-file text, every setting with a comment line; loadConfig() of the text
// gives back an equal ServiceConfig.
std::string renderConfig(const ServiceConfig& config);

// The token signing key. From TENDRIL_TOKEN_KEY when `env` has it (InvalidArgument when shorter
// than 32 bytes; used as given). Otherwise from config.tokenKeyFile(), trailing newlines
// stripped; when that file does not exist it is created (parent directory too) holding 32
// random bytes as base64url text, mode 0600, written to a temporary file and then linked into
// place, so two processes starting together end up with the same key. FailedPrecondition for
// an existing key file that is not a regular file, has any group or other permission bits, or
// holds fewer than 32 bytes; Io when it cannot be read or created.
Result<std::string> loadOrCreateTokenKey(const ServiceConfig& config, const Environment& env);

}  // namespace tendril::service
