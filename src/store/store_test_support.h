// Shared fixture of the store tests: each test runs against a fresh SQLite file in
// testing::TempDir() and against the in-memory variant.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "common/status_testing.h"
#include "store/store.h"

namespace tendril::store {

enum class Backing { kFile, kMemory };

inline std::string backingName(const testing::TestParamInfo<Backing>& info) {
  return info.param == Backing::kFile ? "File" : "Memory";
}

// SQL metacharacters, quotes and non-ASCII text that every string field must keep verbatim.
inline const std::string kHostile = "x'; DROP TABLE users; -- \"q\" `b` \\ % _ ? $1 Grüße 🌱 ;";

// A database file path unique to the running test, removed (with its WAL files) first.
inline std::filesystem::path freshDatabasePath() {
  const testing::TestInfo* info = testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "_" + info->name() + ".db";
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  std::filesystem::path path = std::filesystem::path(testing::TempDir()) / name;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::filesystem::remove(path.string() + suffix);
  }
  return path;
}

class StoreTest : public testing::TestWithParam<Backing> {
 protected:
  void SetUp() override {
    if (GetParam() == Backing::kFile) {
      path_ = freshDatabasePath();
      Result<std::unique_ptr<MetadataStore>> opened = openSqliteStore(path_);
      ASSERT_TRUE(opened.ok()) << opened.status().toString();
      store_ = std::move(opened).value();
    } else {
      Result<std::unique_ptr<MetadataStore>> opened = openSqliteMemoryStore();
      ASSERT_TRUE(opened.ok()) << opened.status().toString();
      store_ = std::move(opened).value();
    }
  }

  MetadataStore& store() { return *store_; }

  static User makeUser(std::string id, std::string name, TimeMs created_ms = 1000) {
    return User{std::move(id), std::move(name), "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA",
                false,         created_ms,      created_ms};
  }
  static Project makeProject(std::string id, std::string name, TimeMs created_ms = 1000) {
    return Project{std::move(id), std::move(name), "", created_ms};
  }

  std::filesystem::path path_;
  std::unique_ptr<MetadataStore> store_;
};

}  // namespace tendril::store
