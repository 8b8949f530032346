// The CLI's config file: where it is, mode 0600, atomic replacement, refusal of a readable
// file, and the environment's precedence.
#include "client/config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>

namespace tendril::client {
namespace {

namespace fs = std::filesystem;

Environment fixed(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto found = values.find(name);
    if (found == values.end()) return std::nullopt;
    return found->second;
  };
}

class ConfigTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(testing::TempDir()) /
           ("config_" + std::string(testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static unsigned mode(const fs::path& path) {
    struct stat info {};
    EXPECT_EQ(::stat(path.c_str(), &info), 0);
    return info.st_mode & 0777;
  }

  fs::path dir_;
};

TEST_F(ConfigTest, PathPrecedenceIsExplicitThenXdgThenHome) {
  EXPECT_EQ(
      *configPath(fixed(
          {{"TENDRIL_CONFIG", "/x/c.json"}, {"XDG_CONFIG_HOME", "/xdg"}, {"HOME", "/home/u"}})),
      fs::path("/x/c.json"));
  EXPECT_EQ(*configPath(fixed({{"XDG_CONFIG_HOME", "/xdg"}, {"HOME", "/home/u"}})),
            fs::path("/xdg/tendril/config.json"));
  EXPECT_EQ(*configPath(fixed({{"HOME", "/home/u"}})),
            fs::path("/home/u/.config/tendril/config.json"));
  EXPECT_FALSE(configPath(fixed({})).ok());
}

TEST_F(ConfigTest, SavedFileHasMode0600AndReadsBack) {
  fs::path path = dir_ / "new" / "folder" / "config.json";
  Credentials saved{"http://127.0.0.1:9", "access", "refresh", "tdk_never_saved", false};
  ASSERT_TRUE(saveConfig(path, saved).ok());
  EXPECT_EQ(mode(path), 0600u);
  EXPECT_EQ(mode(path.parent_path()), 0700u);
  Result<Credentials> loaded = loadConfig(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().toString();
  EXPECT_EQ(loaded->address, "http://127.0.0.1:9");
  EXPECT_EQ(loaded->access_token, "access");
  EXPECT_EQ(loaded->refresh_token, "refresh");
  EXPECT_EQ(loaded->api_key, "") << "an API key is never written to the file";
  // Only the file itself is left: the temporary file was renamed over it.
  EXPECT_EQ(std::distance(fs::directory_iterator(path.parent_path()), fs::directory_iterator()), 1);
}

TEST_F(ConfigTest, ReplacingAWideFileNarrowsItToOwnerOnly) {
  fs::path path = dir_ / "config.json";
  std::ofstream(path) << "{}";
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                            fs::perms::others_read);
  ASSERT_TRUE(saveConfig(path, {"http://h:1", "a", "r", "", false}).ok());
  EXPECT_EQ(mode(path), 0600u);
}

TEST_F(ConfigTest, AFileOthersMayReadIsRefused) {
  fs::path path = dir_ / "config.json";
  ASSERT_TRUE(saveConfig(path, {"http://h:1", "a", "r", "", false}).ok());
  fs::permissions(path, fs::perms::group_read, fs::perm_options::add);
  Result<Credentials> loaded = loadConfig(path);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), Code::kPermissionDenied);
  EXPECT_NE(loaded.status().message().find("chmod 600"), std::string::npos);
}

TEST_F(ConfigTest, AMissingFileIsEmptyAndGarbageIsRefused) {
  Result<Credentials> missing = loadConfig(dir_ / "absent.json");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->authenticated());
  fs::path path = dir_ / "config.json";
  ASSERT_TRUE(saveConfig(path, {}).ok());
  std::ofstream(path) << "not json";
  EXPECT_EQ(loadConfig(path).status().code(), Code::kInvalidArgument);
}

TEST_F(ConfigTest, EnvironmentOverridesTheFile) {
  Credentials file{"http://file:1", "file-access", "file-refresh", "", false};
  Credentials unchanged = applyEnvironment(file, fixed({}));
  EXPECT_EQ(unchanged.access_token, "file-access");
  EXPECT_FALSE(unchanged.from_environment);

  Credentials address = applyEnvironment(file, fixed({{"TENDRIL_ADDRESS", "http://env:2"}}));
  EXPECT_EQ(address.address, "http://env:2");
  EXPECT_EQ(address.refresh_token, "file-refresh") << "an address alone keeps the session";

  Credentials token = applyEnvironment(file, fixed({{"TENDRIL_TOKEN", "env-access"}}));
  EXPECT_EQ(token.access_token, "env-access");
  EXPECT_EQ(token.refresh_token, "") << "the file's refresh token belongs to another session";
  EXPECT_TRUE(token.from_environment);

  Credentials key = applyEnvironment(file, fixed({{"TENDRIL_API_KEY", "tdk_x"}}));
  EXPECT_EQ(key.api_key, "tdk_x");
  EXPECT_EQ(key.access_token, "");
  EXPECT_TRUE(key.authenticated());
}

}  // namespace
}  // namespace tendril::client
