#include "client/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace tendril::client {
namespace fs = std::filesystem;

Environment processEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

namespace {

std::string nonEmpty(const Environment& env, const char* name) {
  std::optional<std::string> value = env(name);
  return value ? *value : std::string();
}

std::string errnoText(const std::string& what, const fs::path& path) {
  return what + " " + path.string() + ": " + std::strerror(errno);
}

std::string stringField(const nlohmann::json& object, const char* name) {
  auto found = object.find(name);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string();
}

}  // namespace

Result<fs::path> configPath(const Environment& env) {
  if (std::string explicit_path = nonEmpty(env, "TENDRIL_CONFIG"); !explicit_path.empty()) {
    return fs::path(explicit_path);
  }
  if (std::string xdg = nonEmpty(env, "XDG_CONFIG_HOME"); !xdg.empty()) {
    return fs::path(xdg) / "tendril" / "config.json";
  }
  if (std::string home = nonEmpty(env, "HOME"); !home.empty()) {
    return fs::path(home) / ".config" / "tendril" / "config.json";
  }
  return Status::Invalid("no config file: set TENDRIL_CONFIG, XDG_CONFIG_HOME or HOME");
}

Result<Credentials> loadConfig(const fs::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    if (errno == ENOENT) return Credentials{};
    return Status::Io(errnoText("cannot read", path));
  }
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    std::ostringstream mode;
    mode << std::oct << (info.st_mode & 0777);
    return Status::Denied("config file " + path.string() + " is accessible to others (mode 0" +
                          mode.str() + "); it holds secrets: run chmod 600 on it");
  }
  std::ifstream in(path);
  if (!in) return Status::Io(errnoText("cannot read", path));
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json parsed = nlohmann::json::parse(text.str(), nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Status::Invalid("config file " + path.string() + " is not a JSON object");
  }
  Credentials credentials;
  credentials.address = stringField(parsed, "address");
  credentials.access_token = stringField(parsed, "access_token");
  credentials.refresh_token = stringField(parsed, "refresh_token");
  return credentials;
}

Status saveConfig(const fs::path& path, const Credentials& credentials) {
  nlohmann::json object = nlohmann::json::object();
  if (!credentials.address.empty()) object["address"] = credentials.address;
  if (!credentials.access_token.empty()) object["access_token"] = credentials.access_token;
  if (!credentials.refresh_token.empty()) object["refresh_token"] = credentials.refresh_token;
  const std::string text = object.dump(2) + "\n";

  const fs::path folder = path.has_parent_path() ? path.parent_path() : fs::path(".");
  std::error_code error;
  if (!fs::exists(folder, error)) {
    fs::create_directories(folder, error);
    if (error) return Status::Io("cannot create " + folder.string() + ": " + error.message());
    fs::permissions(folder, fs::perms::owner_all, error);
  }
  // The secret never exists with a wider mode: the temporary file is created 0600.
  fs::path temporary = path;
  temporary += ".tmp-" + std::to_string(::getpid());
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Io(errnoText("cannot write", temporary));
  ::fchmod(fd, 0600);  // O_CREAT keeps the mode of a file left behind by an earlier crash
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status failed = Status::Io(errnoText("cannot write", temporary));
      ::close(fd);
      ::unlink(temporary.c_str());
      return failed;
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(temporary.c_str());
    return Status::Io(errnoText("cannot write", temporary));
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    Status failed = Status::Io(errnoText("cannot replace", path));
    ::unlink(temporary.c_str());
    return failed;
  }
  return Status::Ok();
}

Credentials applyEnvironment(Credentials file, const Environment& env) {
  if (std::string address = nonEmpty(env, "TENDRIL_ADDRESS"); !address.empty()) {
    file.address = address;
  }
  std::string token = nonEmpty(env, "TENDRIL_TOKEN");
  std::string key = nonEmpty(env, "TENDRIL_API_KEY");
  if (!token.empty() || !key.empty()) {
    file.access_token = token;
    file.refresh_token.clear();
    file.api_key = key;
    file.from_environment = true;
  }
  return file;
}

}  // namespace tendril::client
