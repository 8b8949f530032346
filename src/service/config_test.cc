#include "service/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "common/status_testing.h"

namespace tendril::service {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kExpectedKeys = {"listen",
                                                "io_threads",
                                                "engine_threads",
                                                "handler_threads", "data_dir",
                                                "database",
                                                "token_key_file",
                                                "policy_file",
                                                "dashboard_dir",
                                                "max_body_bytes",
                                                "max_header_bytes",
                                                "read_timeout_s",
                                                "idle_timeout_s",
                                                "max_connections",
                                                "ws_max_message_bytes",
                                                "ws_idle_timeout_s",
                                                "autosave_interval_s", "task_slice_ms", "max_upload_bytes", "quota_clusters", "quota_synapse_bytes", "quota_dataset_bytes", "quota_concurrent_tasks", "access_token_ttl_s",
                                                "refresh_token_ttl_s",
                                                "token_issuer",
                                                "login_max_failures",
                                                "login_window_s",
                                                "login_lockout_s",
                                                "password_hash_cost",
                                                "log_level"};

Environment noEnvironment() { return fixedEnvironment({}); }

std::string readSourceFile(const std::string& relative) {
  std::ifstream in(fs::path(TENDRIL_SOURCE_DIR) / relative, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A default value as the example file and the docs write it: empty as "".
std::string shownDefault(const SettingInfo& info) {
  return info.default_value.empty() ? "\"\"" : info.default_value;
}

// Checks the source file `name` against the settings table: it holds the text `expected(info)`
// for every setting, and every line matching `pattern` names a known key in its first group
// (no stale keys). Returns those lines.
std::vector<std::string> checkEverySettingShown(
    const std::string& name, const std::function<std::string(const SettingInfo&)>& expected,
    const std::regex& pattern) {
  const std::string text = readSourceFile(name);
  EXPECT_FALSE(text.empty()) << name << " is missing";
  std::set<std::string> known;
  for (const SettingInfo& info : describeSettings()) {
    known.insert(info.key);
    EXPECT_NE(text.find(expected(info)), std::string::npos) << name << " lacks " << expected(info);
  }
  std::vector<std::string> found;
  std::istringstream lines(text);
  std::smatch match;
  for (std::string line; std::getline(lines, line);) {
    if (std::regex_match(line, match, pattern)) {
      EXPECT_TRUE(known.contains(match[1])) << "stale key in " << name << ": " << line;
      found.push_back(line);
    }
  }
  return found;
}

class ConfigTest : public testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("tendril-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  // Loads `text` as tendril.conf with no environment.
  Result<ServiceConfig> load(const std::string& text) {
    return loadConfig(write("tendril.conf", text), noEnvironment());
  }

  static unsigned modeOf(const fs::path& path) {
    struct stat info {};
    EXPECT_EQ(::stat(path.c_str(), &info), 0);
    return info.st_mode & 07777;
  }

  fs::path dir_;
};

TEST_F(ConfigTest, DefaultsAreTheDocumentedOnes) {
  const ServiceConfig config;
  EXPECT_EQ(config.listen, "127.0.0.1:8080");
  EXPECT_EQ(config.io_threads, 0);
  EXPECT_EQ(config.engine_threads, 0);
  EXPECT_EQ(config.data_dir, fs::path("./data"));
  EXPECT_EQ(config.database, "");
  EXPECT_EQ(config.token_key_file, fs::path());
  EXPECT_EQ(config.policy_file, fs::path());
  EXPECT_EQ(config.max_body_bytes, 1048576u);
  EXPECT_EQ(config.max_header_bytes, 16384u);
  EXPECT_EQ(config.read_timeout_s, 10);
  EXPECT_EQ(config.idle_timeout_s, 30);
  EXPECT_EQ(config.max_connections, 512u);
  EXPECT_EQ(config.ws_max_message_bytes, 1048576u);
  EXPECT_EQ(config.ws_idle_timeout_s, 60);
  EXPECT_EQ(config.access_token_ttl_s, 900);
  EXPECT_EQ(config.refresh_token_ttl_s, 2592000);
  EXPECT_EQ(config.token_issuer, "tendril");
  EXPECT_EQ(config.login_max_failures, 5);
  EXPECT_EQ(config.login_window_s, 300);
  EXPECT_EQ(config.login_lockout_s, 60);
  EXPECT_EQ(config.password_hash_cost, HashCost::kInteractive);
  EXPECT_EQ(config.log_level, LogLevel::kInfo);
  EXPECT_TRUE(config.validate().ok()) << config.validate().toString();
  EXPECT_TRUE(configWarnings(config).empty());

  EXPECT_EQ(config.databaseFile(), fs::path("./data/tendril.db"));
  EXPECT_EQ(config.tokenKeyFile(), fs::path("./data/token.key"));

  Result<ServiceConfig> loaded = loadConfig(std::nullopt, noEnvironment());
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  EXPECT_EQ(*loaded, config);
}

TEST_F(ConfigTest, ResolvedPathsFollowTheSettings) {
  ServiceConfig config;
  config.data_dir = "var/tendril";
  EXPECT_EQ(config.databaseFile(), fs::path("var/tendril/tendril.db"));  // stays relative
  EXPECT_EQ(config.tokenKeyFile(), fs::path("var/tendril/token.key"));
  config.database = "sqlite:/srv/meta.db";
  config.token_key_file = "/etc/tendril/key";
  EXPECT_EQ(config.databaseFile(), fs::path("/srv/meta.db"));
  EXPECT_EQ(config.tokenKeyFile(), fs::path("/etc/tendril/key"));
  config.database = "postgresql://tendril@db/tendril";
  EXPECT_EQ(config.databaseFile(), fs::path());
}

TEST_F(ConfigTest, FileWithCommentsQuotesAndWhitespace) {
  Result<ServiceConfig> config = load(
      "\xEF\xBB\xBF# a comment line\n"
      "\n"
      "   # an indented comment\n"
      "listen=0.0.0.0:9000\n"
      "\tdata_dir   =   /srv/tendril data   # spaces inside, comment after\n"
      "token_issuer = \"a # is no comment in quotes\"   # but after them\n"
      "policy_file = \"/etc/say \\\"hi\\\"\\\\policy\"\n"
      "max_body_bytes = 2048\r\n"
      "log_level = debug\n"
      "password_hash_cost = \"testing\"\n"
      "token_key_file = \"\"\n"
      "database = sqlite:meta#1.db\n"
      "io_threads = 4");  // no final newline
  ASSERT_TRUE(config.ok()) << config.status().toString();
  EXPECT_EQ(config->listen, "0.0.0.0:9000");
  EXPECT_EQ(config->data_dir, fs::path("/srv/tendril data"));
  EXPECT_EQ(config->token_issuer, "a # is no comment in quotes");
  EXPECT_EQ(config->policy_file, fs::path("/etc/say \"hi\"\\policy"));
  EXPECT_EQ(config->max_body_bytes, 2048u);
  EXPECT_EQ(config->log_level, LogLevel::kDebug);
  EXPECT_EQ(config->password_hash_cost, HashCost::kTesting);
  EXPECT_EQ(config->token_key_file, fs::path());
  EXPECT_EQ(config->database, "sqlite:meta#1.db");  // '#' not after a blank is text
  EXPECT_EQ(config->io_threads, 4);
  EXPECT_EQ(config->read_timeout_s, 10);  // untouched settings keep their defaults

  ASSERT_EQ(configWarnings(*config).size(), 1u);
  EXPECT_NE(configWarnings(*config)[0].find("password_hash_cost = testing"), std::string::npos);
}

TEST_F(ConfigTest, FileErrorsNameFileLineAndKey) {
  struct Case {
    std::string text;
    std::string expected;  // a part of the message after "tendril.conf:"
  };
  const std::vector<Case> cases = {
      {"# ok\nlisten 127.0.0.1:80\n", "tendril.conf:2: expected 'key = value'"},
      {"\n\n = 5\n", "tendril.conf:3: a key is missing"},
      {"listen = 127.0.0.1:1\nlisen = 127.0.0.1:2\n", "tendril.conf:2: unknown key 'lisen'"},
      {"[auth]\n", "tendril.conf:1: expected 'key = value'"},
      {"log_level = info\n\nlog_level = warn\n",
       "tendril.conf:3: log_level is set twice (first on line 1)"},
      {"io_threads = 2\nmax_body_bytes = 10\n",
       "tendril.conf:2: max_body_bytes: must be an integer from 1024 to 1073741824, got '10'"},
      {"read_timeout_s = 99999999999999999999\n",
       "tendril.conf:1: read_timeout_s: must be an integer from 1 to 3600"},
      {"log_level = loud\n",
       "tendril.conf:1: log_level: must be one of "
       "trace|debug|info|warn|error, got 'loud'"},
      {"token_issuer = \"open\n", "tendril.conf:1: token_issuer: the quoted value has no closing"},
      {"token_issuer = \"a\" b\n", "tendril.conf:1: token_issuer: unexpected text after"},
      {"policy_file = \"a\\nb\"\n", "tendril.conf:1: policy_file: only \\\" and \\\\ may follow"},
      {"token_issuer = say \"hi\"\n", "tendril.conf:1: token_issuer: a quote inside an unquoted"},
      {"data_dir =\n", "tendril.conf:1: data_dir: must not be empty"},
      {"data_dir = # nothing\n", "tendril.conf:1: data_dir: must not be empty"},
      {"token_issuer = a\x01z\n",
       "tendril.conf:1: token_issuer: must not contain control "
       "characters, got 'a\\x01z'"},
      {"listen = localhost\n", "tendril.conf:1: listen: 'localhost' is not HOST:PORT"},
      {"database = sqlite:\n", "tendril.conf:1: database: sqlite: needs a file path"},
      {"Listen = 127.0.0.1:80\n", "unknown key 'Listen'"},
  };
  for (const Case& c : cases) {
    Result<ServiceConfig> config = load(c.text);
    EXPECT_TRUE(failsWith(config.status(), Code::kInvalidArgument, c.expected)) << c.text;
    EXPECT_NE(config.status().message().find((dir_ / "tendril.conf").string() + ":"),
              std::string::npos)
        << "the message names the file: " << config.status().message();
  }
}

TEST_F(ConfigTest, UnreadableFilesAreErrors) {
  EXPECT_TRUE(failsWith(loadConfig(dir_ / "missing.conf", noEnvironment()).status(),
                        Code::kNotFound, "missing.conf does not exist"));
  EXPECT_TRUE(failsWith(loadConfig(dir_, noEnvironment()).status(), Code::kFailedPrecondition,
                        "is not a regular file"));
  const fs::path fifo = dir_ / "fifo.conf";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_TRUE(failsWith(loadConfig(fifo, noEnvironment()).status(), Code::kFailedPrecondition,
                        "is not a regular file"));  // and does not hang waiting for a writer
  const fs::path huge = write("huge.conf", std::string(2 * 1024 * 1024, '#'));
  EXPECT_TRUE(failsWith(loadConfig(huge, noEnvironment()).status(), Code::kResourceExhausted,
                        "huge.conf is larger than"));
}

TEST_F(ConfigTest, IntegersRefuseSignsJunkAndOverflow) {
  ServiceConfig config;
  for (const char* bad :
       {"", " 5", "5 ", "+5", "-5", "-0", "5x", "0x10", "1e3", "5.0", "١٠", "9223372036854775807",
        "9223372036854775808", "99999999999999999999999", "-9223372036854775809", "257"}) {
    EXPECT_TRUE(failsWith(applySetting(config, "io_threads", bad), Code::kInvalidArgument,
                          "io_threads: must be an integer from 0 to 256"))
        << "'" << bad << "'";
  }
  EXPECT_EQ(config, ServiceConfig());  // a refused value changes nothing

  ASSERT_TRUE(applySetting(config, "io_threads", "0").ok());
  ASSERT_TRUE(applySetting(config, "io_threads", "256").ok());
  EXPECT_EQ(config.io_threads, 256);
  ASSERT_TRUE(applySetting(config, "io_threads", "007").ok());
  EXPECT_EQ(config.io_threads, 7);
  ASSERT_TRUE(applySetting(config, "max_body_bytes", "1073741824").ok());
  EXPECT_EQ(config.max_body_bytes, 1073741824u);
  EXPECT_FALSE(applySetting(config, "max_body_bytes", "1073741825").ok());
  EXPECT_FALSE(applySetting(config, "max_body_bytes", "1023").ok());
  ASSERT_TRUE(applySetting(config, "refresh_token_ttl_s", "31622400").ok());  // 366 days
  EXPECT_FALSE(applySetting(config, "refresh_token_ttl_s", "31622401").ok());
}

TEST_F(ConfigTest, ApplySettingChecksKeysAndValues) {
  ServiceConfig config;
  EXPECT_TRUE(failsWith(applySetting(config, "no_such_key", "1"), Code::kInvalidArgument,
                        "unknown setting 'no_such_key'"));
  EXPECT_TRUE(failsWith(applySetting(config, "TENDRIL_LISTEN", "1"), Code::kInvalidArgument,
                        "unknown setting"));
  EXPECT_TRUE(failsWith(applySetting(config, "token_issuer", std::string(4097, 'i')),
                        Code::kInvalidArgument, "at most 4096 bytes"));
  EXPECT_TRUE(failsWith(applySetting(config, "password_hash_cost", "Testing"),
                        Code::kInvalidArgument, "must be one of interactive|testing"));
  EXPECT_EQ(config, ServiceConfig());
  for (std::string_view level : {"trace", "debug", "info", "warn", "error"}) {
    ASSERT_TRUE(applySetting(config, "log_level", level).ok());
    EXPECT_EQ(logLevelName(config.log_level), level);
  }
  ASSERT_TRUE(applySetting(config, "policy_file", "").ok());
  ASSERT_TRUE(applySetting(config, "database", "postgresql://u:pw@db/t").ok());  // parses
}

TEST_F(ConfigTest, ListenAddresses) {
  Result<ListenAddress> v4 = parseListenAddress("0.0.0.0:8080");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "0.0.0.0");
  EXPECT_EQ(v4->port, 8080);
  Result<ListenAddress> v6 = parseListenAddress("[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  Result<ListenAddress> name = parseListenAddress("tendril.example:65535");
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(name->port, 65535);
  for (const char* bad : {"", ":80", "host", "host:", "host:65536", "host:-1", "host:+80",
                          "host:80x", "::1:80", "[]:80", "[::1:80"}) {
    EXPECT_FALSE(parseListenAddress(bad).ok()) << bad;
  }
}

TEST_F(ConfigTest, EnvironmentOverridesTheFile) {
  const fs::path file = write("tendril.conf",
                              "listen = 127.0.0.1:1000\n"
                              "max_body_bytes = 4096\n"
                              "policy_file = /etc/tendril/policy\n"
                              "log_level = warn\n");
  Result<ServiceConfig> config = loadConfig(
      file, fixedEnvironment({{"TENDRIL_LISTEN", "0.0.0.0:2000"},
                              {"TENDRIL_MAX_BODY_BYTES", "8192"},
                              {"TENDRIL_POLICY_FILE", ""},  // set but empty: back to built-in
                              {"TENDRIL_DATA_DIR", "/var/lib/tendril"},
                              {"TENDRIL_UNRELATED", "ignored"},
                              {"LISTEN", "ignored too"}}));
  ASSERT_TRUE(config.ok()) << config.status().toString();
  EXPECT_EQ(config->listen, "0.0.0.0:2000");
  EXPECT_EQ(config->max_body_bytes, 8192u);
  EXPECT_EQ(config->policy_file, fs::path());
  EXPECT_EQ(config->data_dir, fs::path("/var/lib/tendril"));
  EXPECT_EQ(config->log_level, LogLevel::kWarn);  // from the file, not overridden

  // Command-line flags come last and win over both.
  ASSERT_TRUE(applySetting(*config, "listen", "[::]:3000").ok());
  EXPECT_EQ(config->listen, "[::]:3000");

  EXPECT_TRUE(failsWith(
      loadConfig(file, fixedEnvironment({{"TENDRIL_MAX_BODY_BYTES", "lots"}})).status(),
      Code::kInvalidArgument,
      "environment TENDRIL_MAX_BODY_BYTES: must be an integer from 1024 to 1073741824, got "
      "'lots'"));
  // The environment is read for every key, without a file too.
  Result<ServiceConfig> env_only =
      loadConfig(std::nullopt, fixedEnvironment({{"TENDRIL_LOGIN_LOCKOUT_S", "120"}}));
  ASSERT_TRUE(env_only.ok());
  EXPECT_EQ(env_only->login_lockout_s, 120);
}

TEST_F(ConfigTest, ProcessEnvironmentReadsTheRealOne) {
  ASSERT_EQ(::setenv("TENDRIL_CONFIG_TEST_PROBE", "seen", 1), 0);
  const Environment env = processEnvironment();
  EXPECT_EQ(env("TENDRIL_CONFIG_TEST_PROBE"), std::optional<std::string>("seen"));
  ::unsetenv("TENDRIL_CONFIG_TEST_PROBE");
  EXPECT_EQ(env("TENDRIL_CONFIG_TEST_PROBE"), std::nullopt);
}

TEST_F(ConfigTest, ValidateChecksFieldsSetDirectly) {
  ServiceConfig config;
  config.max_body_bytes = 0;
  EXPECT_TRUE(failsWith(config.validate(), Code::kInvalidArgument,
                        "max_body_bytes: must be an integer from 1024"));
  config = ServiceConfig();
  config.log_level = static_cast<LogLevel>(99);
  EXPECT_TRUE(failsWith(config.validate(), Code::kInvalidArgument, "log_level: must be one of"));
  config = ServiceConfig();
  config.listen = "nowhere";
  EXPECT_TRUE(failsWith(config.validate(), Code::kInvalidArgument, "listen: 'nowhere'"));
  config = ServiceConfig();
  config.access_token_ttl_s = 3600;
  config.refresh_token_ttl_s = 600;
  EXPECT_TRUE(failsWith(config.validate(), Code::kInvalidArgument,
                        "refresh_token_ttl_s (600) must be at least access_token_ttl_s (3600)"));
}

TEST_F(ConfigTest, OnlySqliteDatabasesAreSupportedSoFar) {
  ServiceConfig config;
  config.database = "sqlite:/srv/tendril/meta.db";
  EXPECT_TRUE(config.validate().ok());
  config.database = "postgresql://tendril:s3cret@db:5432/tendril";
  Status status = config.validate();
  EXPECT_TRUE(failsWith(status, Code::kFailedPrecondition, "'postgresql' is not supported yet"));
  EXPECT_EQ(status.message().find("s3cret"), std::string::npos) << "no password in messages";
  config.database = "/srv/meta.db";
  EXPECT_TRUE(failsWith(config.validate(), Code::kFailedPrecondition, "not supported"));
}

TEST_F(ConfigTest, RenderedConfigLoadsBackEqual) {
  ServiceConfig config;
  config.listen = "[::1]:0";
  config.data_dir = "/srv/a dir/with # and \"quotes\" and \\ backslash ";
  config.database = "sqlite:  spaced.db";
  config.token_key_file = "#hash";
  config.policy_file = "pölicy ✓";
  config.token_issuer = "\"";
  config.io_threads = 3;
  config.max_connections = 1000000;
  config.refresh_token_ttl_s = 31622400;
  config.password_hash_cost = HashCost::kTesting;
  config.log_level = LogLevel::kError;
  ASSERT_TRUE(config.validate().ok()) << config.validate().toString();

  for (const ServiceConfig& original : {ServiceConfig(), config}) {
    const std::string text = renderConfig(original);
    Result<ServiceConfig> loaded = load(text);
    ASSERT_TRUE(loaded.ok()) << loaded.status().toString() << "\n" << text;
    EXPECT_EQ(*loaded, original) << text;
  }
  const std::string text = renderConfig(config);
  EXPECT_NE(text.find("\nio_threads = 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nlog_level = \"error\"\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# env TENDRIL_MAX_CONNECTIONS"), std::string::npos) << text;
}

TEST_F(ConfigTest, DescribeSettingsListsEveryKeyOnce) {
  const std::vector<SettingInfo> settings = describeSettings();
  std::vector<std::string> keys;
  std::set<std::string> envs;
  const std::set<std::string> reserved = {std::string(kTokenKeyEnv), std::string(kConfigFileEnv),
                                          std::string(kAdminNameEnv),
                                          std::string(kAdminPasswordEnv)};
  for (const SettingInfo& info : settings) {
    keys.push_back(info.key);
    envs.insert(info.env);
    EXPECT_TRUE(std::regex_match(info.key, std::regex("[a-z][a-z0-9_]*"))) << info.key;
    std::string upper = info.key;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    EXPECT_EQ(info.env, "TENDRIL_" + upper);
    EXPECT_FALSE(reserved.contains(info.env)) << info.env << " is reserved for a non-setting";
    EXPECT_FALSE(info.description.empty()) << info.key;
    EXPECT_EQ(info.description.find('\n'), std::string::npos) << info.key;
    EXPECT_FALSE(info.allowed.empty()) << info.key;
    // The listed default is what a default ServiceConfig holds.
    ServiceConfig config;
    ASSERT_TRUE(applySetting(config, info.key, info.default_value).ok()) << info.key;
    EXPECT_EQ(config, ServiceConfig()) << info.key;
  }
  EXPECT_EQ(keys, kExpectedKeys);
  EXPECT_EQ(envs.size(), settings.size());
  auto body = std::find_if(settings.begin(), settings.end(),
                           [](const SettingInfo& info) { return info.key == "max_body_bytes"; });
  ASSERT_NE(body, settings.end());
  EXPECT_EQ(body->allowed, "1024..1073741824");
  EXPECT_EQ(settings.back().allowed, "trace|debug|info|warn|error");
}

// config/tendril.conf shows every setting as "# key = default"; uncommented, those lines load
// as exactly the defaults. So the example cannot drift from the table, in keys or defaults.
TEST_F(ConfigTest, ExampleConfigFileShowsEverySettingAndItsDefault) {
  const std::vector<std::string> lines = checkEverySettingShown(
      "config/tendril.conf",
      [](const SettingInfo& info) { return "\n# " + info.key + " = " + shownDefault(info) + "\n"; },
      std::regex("# ([a-z_]+) = .*"));
  std::string uncommented;
  for (const std::string& line : lines) uncommented += line.substr(2) + "\n";
  Result<ServiceConfig> loaded = load(uncommented);
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  EXPECT_EQ(*loaded, ServiceConfig());
}

// docs/operations.md has one table row per setting: | `key` | `TENDRIL_KEY` | `default` | ...
TEST_F(ConfigTest, OperationsGuideDocumentsEverySetting) {
  const std::vector<std::string> rows = checkEverySettingShown(
      "docs/operations.md",
      [](const SettingInfo& info) {
        return "| `" + info.key + "` | `" + info.env + "` | `" + shownDefault(info) + "` |";
      },
      std::regex("\\| `([a-z_]+)` \\| `TENDRIL_[A-Z_]+` \\|.*"));
  EXPECT_EQ(rows.size(), describeSettings().size());
}

// --- The token key ----------------------------------------------------------------------------

TEST_F(ConfigTest, TokenKeyFileIsCreatedPrivateAndReused) {
  ServiceConfig config;
  config.data_dir = dir_ / "data" / "nested";  // created on demand
  Result<std::string> key = loadOrCreateTokenKey(config, noEnvironment());
  ASSERT_TRUE(key.ok()) << key.status().toString();
  EXPECT_TRUE(std::regex_match(*key, std::regex("[A-Za-z0-9_-]{43}"))) << *key;
  const fs::path file = dir_ / "data" / "nested" / "token.key";
  ASSERT_TRUE(fs::is_regular_file(file));
  EXPECT_EQ(modeOf(file), 0600u);
  for (const auto& entry : fs::directory_iterator(file.parent_path())) {
    EXPECT_EQ(entry.path().filename(), "token.key") << "left behind: " << entry.path();
  }

  Result<std::string> again = loadOrCreateTokenKey(config, noEnvironment());
  ASSERT_TRUE(again.ok()) << again.status().toString();
  EXPECT_EQ(*again, *key);

  ServiceConfig other;
  other.data_dir = dir_ / "other";
  Result<std::string> different = loadOrCreateTokenKey(other, noEnvironment());
  ASSERT_TRUE(different.ok());
  EXPECT_NE(*different, *key);
}

// Servers starting together on one data directory must not end up with different keys: the
// key file is linked into place, never renamed over a key another process already wrote.
TEST_F(ConfigTest, ConcurrentStartsAgreeOnOneKey) {
  ServiceConfig config;
  config.data_dir = dir_ / "shared";
  constexpr int kStarts = 8;
  std::vector<Result<std::string>> keys(kStarts, Status::Internal("not run"));
  std::vector<std::thread> threads;
  for (int i = 0; i < kStarts; ++i) {
    threads.emplace_back([&, i] { keys[i] = loadOrCreateTokenKey(config, noEnvironment()); });
  }
  for (std::thread& thread : threads) thread.join();
  for (const Result<std::string>& key : keys) {
    ASSERT_TRUE(key.ok()) << key.status().toString();
    EXPECT_EQ(*key, *keys[0]);
  }
  size_t files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(config.data_dir)) ++files;
  EXPECT_EQ(files, 1u) << "temporary files left behind";
}

TEST_F(ConfigTest, TokenKeyFromAnExistingFile) {
  ServiceConfig config;
  config.token_key_file = write("given.key", std::string(40, 'k') + "\r\n\n");
  fs::permissions(config.token_key_file, fs::perms::owner_read);
  Result<std::string> key = loadOrCreateTokenKey(config, noEnvironment());
  ASSERT_TRUE(key.ok()) << key.status().toString();
  EXPECT_EQ(*key, std::string(40, 'k'));  // trailing newlines stripped
}

TEST_F(ConfigTest, TokenKeyFromTheEnvironmentWins) {
  ServiceConfig config;
  config.data_dir = dir_ / "data";
  const std::string secret = "an environment key of at least thirty-two bytes";
  Result<std::string> key =
      loadOrCreateTokenKey(config, fixedEnvironment({{"TENDRIL_TOKEN_KEY", secret}}));
  ASSERT_TRUE(key.ok()) << key.status().toString();
  EXPECT_EQ(*key, secret);
  EXPECT_FALSE(fs::exists(config.tokenKeyFile())) << "no key file when the environment has one";

  EXPECT_TRUE(failsWith(
      loadOrCreateTokenKey(config, fixedEnvironment({{"TENDRIL_TOKEN_KEY", std::string(31, 'x')}}))
          .status(),
      Code::kInvalidArgument, "TENDRIL_TOKEN_KEY holds 31 bytes; a token key needs at least 32"));
  EXPECT_TRUE(failsWith(
      loadOrCreateTokenKey(config, fixedEnvironment({{"TENDRIL_TOKEN_KEY", ""}})).status(),
      Code::kInvalidArgument, "holds 0 bytes"));
}

TEST_F(ConfigTest, UnsafeOrShortKeyFilesAreRefused) {
  ServiceConfig config;
  config.token_key_file = write("token.key", std::string(64, 'k') + "\n");
  for (fs::perms extra : {fs::perms::others_read, fs::perms::group_read, fs::perms::group_write}) {
    fs::permissions(config.token_key_file, fs::perms::owner_read | fs::perms::owner_write | extra);
    EXPECT_TRUE(failsWith(loadOrCreateTokenKey(config, noEnvironment()).status(),
                          Code::kFailedPrecondition, "group and others must have no access"));
  }
  fs::permissions(config.token_key_file,
                  fs::perms::owner_read | fs::perms::owner_write | fs::perms::others_read);
  EXPECT_TRUE(failsWith(loadOrCreateTokenKey(config, noEnvironment()).status(),
                        Code::kFailedPrecondition, "has mode 0604"));
  // The refusal leaves the file alone (no new key is written over it).
  EXPECT_EQ(fs::file_size(config.token_key_file), 65u);

  const fs::path short_key = write("short.key", std::string(31, 'k') + "\n");
  fs::permissions(short_key, fs::perms::owner_read | fs::perms::owner_write);
  config.token_key_file = short_key;
  EXPECT_TRUE(failsWith(loadOrCreateTokenKey(config, noEnvironment()).status(),
                        Code::kFailedPrecondition,
                        "holds 31 bytes; a token key needs at least 32"));

  config.token_key_file = dir_;  // a directory
  EXPECT_TRUE(failsWith(loadOrCreateTokenKey(config, noEnvironment()).status(),
                        Code::kFailedPrecondition, "is not a regular file"));
}

}  // namespace
}  // namespace tendril::service
