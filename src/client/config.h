// Where the CLI client keeps its credentials, and how the environment overrides them.
//
// The config file is JSON: {"address", "access_token", "refresh_token"} (each optional). It is
// found at $TENDRIL_CONFIG, else $XDG_CONFIG_HOME/tendril/config.json, else
// ~/.config/tendril/config.json. It holds secrets, so it is written atomically (a temporary file
// in the same folder, then rename) with mode 0600, and a file that the group or others may read
// is refused rather than trusted. TENDRIL_ADDRESS, TENDRIL_TOKEN and TENDRIL_API_KEY override what
// the file says; credentials that came from the environment are never written back.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "common/status.h"

namespace tendril::client {

// Reads one environment variable; nullopt when unset. Tests pass a fixed map instead of getenv.
using Environment = std::function<std::optional<std::string>(const std::string& name)>;
Environment processEnvironment();

inline constexpr const char* kDefaultAddress = "http://127.0.0.1:8080";

struct Credentials {
  std::string address;        // "http://host:port"; empty: not configured
  std::string access_token;   // a JWT from login, refresh or switch
  std::string refresh_token;  // trades for a new access token when the old one expired
  std::string api_key;        // "tdk_…", from TENDRIL_API_KEY only; wins over the tokens
  // True when the tokens came from the environment (TENDRIL_TOKEN or TENDRIL_API_KEY): refreshed
  // tokens are then not saved to the file.
  bool from_environment = false;

  bool authenticated() const { return !api_key.empty() || !access_token.empty(); }
};

// The config file's path for `env` (see the header comment). Fails only when no variable names
// a home.
Result<std::filesystem::path> configPath(const Environment& env);

// The file's credentials; an absent file gives empty credentials. Refuses (PermissionDenied) a
// file that the group or others may read, and (InvalidArgument) one that is not a JSON object.
Result<Credentials> loadConfig(const std::filesystem::path& path);

// Writes address and tokens (never the API key) atomically with mode 0600, creating the folder
// (0700) when needed.
Status saveConfig(const std::filesystem::path& path, const Credentials& credentials);

// `file` with TENDRIL_ADDRESS, TENDRIL_TOKEN and TENDRIL_API_KEY applied; a token or key from the
// environment drops the file's tokens (they may belong to another user).
Credentials applyEnvironment(Credentials file, const Environment& env);

}  // namespace tendril::client
