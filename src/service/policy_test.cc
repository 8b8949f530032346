#include "service/policy.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "common/status_testing.h"

namespace tendril::service {
namespace {

constexpr std::array kAllRoles = {PolicyRole::kAnonymous, PolicyRole::kUser, PolicyRole::kMember,
                                  PolicyRole::kProjectAdmin, PolicyRole::kAdmin};

constexpr std::string_view kGoodPolicy =
    "# Tendril policy for the tests\n"
    "\n"
    "GET     /api/v1/users                 admin\n"
    "POST    /api/v1/auth/login            anonymous, user, member, project-admin, admin\n"
    "   # an indented comment\n"
    "GET,HEAD /api/v1/projects/{id}        user, member, project-admin, admin\n"
    "DELETE\t/api/v1/projects/{id}\tadmin,project-admin\r\n"
    "PUT /api/v1/projects/{id}/members/{user_id} none\n"
    "PATCH /  member";  // no final newline

Policy parseOk(std::string_view text) {
  Result<Policy> policy = Policy::parse(text, "test.policy");
  EXPECT_TRUE(policy.ok()) << policy.status().toString();
  return policy.ok() ? std::move(policy).value() : Policy();
}

// The set of roles `policy` lets call (method, path).
std::vector<PolicyRole> allowed(const Policy& policy, std::string_view method,
                                std::string_view path) {
  std::vector<PolicyRole> roles;
  for (PolicyRole role : kAllRoles) {
    if (policy.allows(method, path, role)) roles.push_back(role);
  }
  return roles;
}

using Roles = std::vector<PolicyRole>;

TEST(PolicyRoleTest, NamesRoundTripAndOthersAreRefused) {
  for (PolicyRole role : kAllRoles) {
    Result<PolicyRole> back = parsePolicyRole(policyRoleName(role));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, role);
  }
  EXPECT_EQ(policyRoleName(PolicyRole::kProjectAdmin), "project-admin");
  EXPECT_EQ(policyRoleName(PolicyRole::kAnonymous), "anonymous");
  for (std::string_view bad : {"", "Admin", "none", "project_admin", "admin "}) {
    EXPECT_TRUE(failsWith(parsePolicyRole(bad).status(), Code::kInvalidArgument, "unknown role"))
        << bad;
  }
}

TEST(PolicyTest, ParsesAGoodFile) {
  const Policy policy = parseOk(kGoodPolicy);
  EXPECT_EQ(policy.ruleCount(), 7u);
  EXPECT_EQ(allowed(policy, "GET", "/api/v1/users"), Roles{PolicyRole::kAdmin});
  EXPECT_EQ(allowed(policy, "POST", "/api/v1/auth/login"),
            Roles(kAllRoles.begin(), kAllRoles.end()));
  const Roles logged_in{PolicyRole::kUser, PolicyRole::kMember, PolicyRole::kProjectAdmin,
                        PolicyRole::kAdmin};
  EXPECT_EQ(allowed(policy, "GET", "/api/v1/projects/{id}"), logged_in);
  EXPECT_EQ(allowed(policy, "HEAD", "/api/v1/projects/{id}"), logged_in);
  EXPECT_EQ(allowed(policy, "DELETE", "/api/v1/projects/{id}"),
            (Roles{PolicyRole::kProjectAdmin, PolicyRole::kAdmin}));
  EXPECT_EQ(allowed(policy, "PATCH", "/"), Roles{PolicyRole::kMember});
}

TEST(PolicyTest, DeniesByDefault) {
  const Policy policy = parseOk(kGoodPolicy);
  // A path no rule names, even one the request path would match.
  EXPECT_EQ(allowed(policy, "GET", "/api/v1/users/{id}"), Roles{});
  EXPECT_EQ(allowed(policy, "GET", "/api/v1/projects/42"), Roles{});
  EXPECT_EQ(allowed(policy, "GET", "/api/v1/users/"), Roles{});
  EXPECT_EQ(allowed(policy, "GET", ""), Roles{});
  // A method no rule names for a known path, unknown methods, and lower case.
  EXPECT_EQ(allowed(policy, "POST", "/api/v1/users"), Roles{});
  EXPECT_EQ(allowed(policy, "OPTIONS", "/api/v1/users"), Roles{});
  EXPECT_EQ(allowed(policy, "get", "/api/v1/users"), Roles{});
  // GET does not imply HEAD.
  EXPECT_EQ(allowed(policy, "HEAD", "/api/v1/users"), Roles{});
  // A role not listed.
  EXPECT_FALSE(policy.allows("GET", "/api/v1/users", PolicyRole::kProjectAdmin));
  EXPECT_FALSE(policy.allows("DELETE", "/api/v1/projects/{id}", PolicyRole::kMember));
  // The empty policy denies everything.
  const Policy empty = parseOk("# nothing\n\n");
  EXPECT_EQ(empty.ruleCount(), 0u);
  EXPECT_FALSE(empty.allows("POST", "/api/v1/auth/login", PolicyRole::kAdmin));
  EXPECT_FALSE(Policy().allows("POST", "/api/v1/auth/login", PolicyRole::kAdmin));
}

TEST(PolicyTest, NoneGrantsNobodyButCountsAsARule) {
  const Policy policy = parseOk(kGoodPolicy);
  EXPECT_EQ(allowed(policy, "PUT", "/api/v1/projects/{id}/members/{user_id}"), Roles{});
  const std::vector<std::pair<std::string, std::string>> declared = {
      {"PUT", "/api/v1/projects/{id}/members/{user_id}"}};
  EXPECT_TRUE(policy.uncovered(declared).empty());  // explicitly nobody is not uncovered
  EXPECT_EQ(policy.unknownRules(declared).size(), policy.ruleCount() - 1);
}

struct BadPolicy {
  std::string text;
  std::string expected;  // a part of the message, after "bad.policy line N: "
  int line;
};

TEST(PolicyTest, EveryErrorNamesItsLine) {
  const std::string ok_line = "GET /api/v1/users admin\n";
  const std::vector<BadPolicy> cases = {
      {"FETCH /api/v1/users admin", "unknown method 'FETCH'", 1},
      {"get /api/v1/users admin", "unknown method 'get'", 1},
      {"GET HEAD /api/v1/users admin", "separated by commas", 1},
      {"GET,,HEAD /api/v1/users admin", "empty method", 1},
      {"GET, /api/v1/users admin", "empty method", 1},
      {"OPTIONS /api/v1/users admin", "unknown method 'OPTIONS'", 1},
      {"GET /api/v1/users root", "unknown role 'root'", 1},
      {"GET /api/v1/users Admin", "unknown role 'Admin'", 1},
      {"GET /api/v1/users admin member", "separated by commas", 1},
      {"GET /api/v1/users admin,", "empty role", 1},
      {"GET /api/v1/users admin, none", "'none' must be the only role", 1},
      {"GET /api/v1/users none, none", "'none' must be the only role", 1},
      {"GET /api/v1/users admin, admin", "role 'admin' twice", 1},
      {"GET /api/v1/users", "missing roles", 1},
      {"GET /api/v1/users   # comment", "unknown role '# comment'", 1},
      {"/api/v1/users admin", "missing methods", 1},
      {"GET api/v1/users admin", "missing path", 1},
      {"GET", "missing path", 1},
      {"GET /api//users admin", "malformed path '/api//users': empty segment", 1},
      {"GET /api/v1/users/ admin", "malformed path", 1},
      {"GET /api/v1/{} admin", "not a parameter", 1},
      {"GET /api/v1/{1d} admin", "not a parameter", 1},
      {"GET /api/v1/{id admin", "not a parameter", 1},
      {"GET /api/v1/x{id} admin", "not a parameter", 1},
      {"GET /api/v1/{id}/{id} admin", "parameter '{id}' twice", 1},
      {"GET /api/../users admin", "'..' is not allowed", 1},
      {"GET /api/v1/us%20ers admin", "holds a character other than", 1},
      {"GET /api/v1/users?x=1 admin", "holds a character other than", 1},
      {ok_line + "# comment\n\nPOST /api/v1/users admin, member, bogus\n", "unknown role 'bogus'",
       4},
      {ok_line + "GET /api/v1/users admin\n",
       "duplicate rule for GET /api/v1/users (first at line 1)", 2},
      {ok_line + "HEAD,GET /api/v1/users admin\n", "duplicate rule for GET /api/v1/users", 2},
      {"GET,GET /api/v1/users admin\n", "duplicate rule for GET /api/v1/users", 1},
      {ok_line + "\r\n" + ok_line, "duplicate rule", 3},
      {"GET /api/v1/users ad\x01min\n", "unknown role 'ad\\x01min'", 1},
  };
  for (const BadPolicy& bad : cases) {
    Result<Policy> policy = Policy::parse(bad.text, "bad.policy");
    EXPECT_TRUE(failsWith(policy.status(), Code::kInvalidArgument,
                          "bad.policy line " + std::to_string(bad.line) + ": "))
        << bad.text;
    EXPECT_TRUE(failsWith(policy.status(), Code::kInvalidArgument, bad.expected)) << bad.text;
  }
}

TEST(PolicyTest, AcceptsByteOrderMarkAndCrLf) {
  const Policy policy =
      parseOk("\xEF\xBB\xBFGET /api/v1/users admin\r\nHEAD /api/v1/users admin\r\n");
  EXPECT_TRUE(policy.allows("GET", "/api/v1/users", PolicyRole::kAdmin));
  EXPECT_TRUE(policy.allows("HEAD", "/api/v1/users", PolicyRole::kAdmin));
  EXPECT_EQ(policy.ruleCount(), 2u);
}

TEST(PolicyTest, TextOverTheLimitIsRefused) {
  std::string text = "GET /api/v1/users admin\n";
  text.resize(kMaxPolicyBytes, '#');  // the rest is one long comment line: exactly at the limit
  EXPECT_TRUE(Policy::parse(text, "big").ok());
  text += '#';
  EXPECT_TRUE(failsWith(Policy::parse(text, "big").status(), Code::kInvalidArgument,
                        "big: larger than the limit of 1048576 bytes"));
}

TEST(PolicyTest, RenderIsCanonicalAndRoundTrips) {
  const Policy policy = parseOk(kGoodPolicy);
  const std::string text = policy.render();
  EXPECT_EQ(text,
            "PATCH    /                                       member\n"
            "POST     /api/v1/auth/login                      anonymous, user, member, "
            "project-admin, admin\n"
            "GET,HEAD /api/v1/projects/{id}                   user, member, project-admin, admin\n"
            "DELETE   /api/v1/projects/{id}                   project-admin, admin\n"
            "PUT      /api/v1/projects/{id}/members/{user_id} none\n"
            "GET      /api/v1/users                           admin\n");
  const Policy back = parseOk(text);
  EXPECT_TRUE(back == policy);
  EXPECT_EQ(back.render(), text);
  EXPECT_EQ(Policy().render(), "");
  // Equality looks at the grants: one role more is a different policy.
  EXPECT_FALSE(parseOk("GET / admin") == parseOk("GET / admin, member"));
  EXPECT_FALSE(parseOk("GET / admin") == parseOk("HEAD / admin"));
  EXPECT_FALSE(parseOk("GET / none") == parseOk(""));
  EXPECT_TRUE(parseOk("GET / member, admin") == parseOk("\n\nGET  /   admin,member  "));
}

TEST(PolicyTest, ReportsStaleRulesAndUncoveredEndpoints) {
  const Policy policy = parseOk(
      "GET,HEAD /api/v1/users admin\n"
      "GET /api/v1/foreward member\n"
      "POST /api/v1/users admin\n");
  const std::vector<std::pair<std::string, std::string>> declared = {
      {"GET", "/api/v1/users"},         {"POST", "/api/v1/users"},
      {"DELETE", "/api/v1/users/{id}"}, {"GET", "/api/v1/clusters"},
      {"DELETE", "/api/v1/users/{id}"},  // repeated: reported once
      {"OPTIONS", "/api/v1/users"},      // a method no rule can name
  };
  EXPECT_EQ(policy.unknownRules(declared),
            (std::vector<std::string>{"test.policy line 2: GET /api/v1/foreward",
                                      "test.policy line 1: HEAD /api/v1/users"}));
  EXPECT_EQ(policy.uncovered(declared),
            (std::vector<std::string>{"DELETE /api/v1/users/{id}", "GET /api/v1/clusters",
                                      "OPTIONS /api/v1/users"}));
  EXPECT_EQ(policy.unknownRules({}).size(), policy.ruleCount());
  EXPECT_TRUE(policy.uncovered({}).empty());
}

// A temporary directory removed with everything in it at the end of the test.
class PolicyFileTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tendril-policy-test-" + std::to_string(::getpid()) + "-" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    file_ = dir_ / "policies";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void write(std::string_view text) {
    std::ofstream out(file_, std::ios::binary | std::ios::trunc);
    out << text;
    ASSERT_TRUE(out.good());
  }

  std::filesystem::path dir_;
  std::filesystem::path file_;
};

TEST_F(PolicyFileTest, ReadsFilesAndRefusesBadOnes) {
  EXPECT_TRUE(failsWith(readPolicyFile(file_).status(), Code::kNotFound, "no such file"));
  EXPECT_TRUE(failsWith(readPolicyFile(dir_).status(), Code::kIo, "is a directory"));
  write("GET /api/v1/users admin\n");
  Result<Policy> policy = readPolicyFile(file_);
  ASSERT_TRUE(policy.ok()) << policy.status().toString();
  EXPECT_TRUE(policy->allows("GET", "/api/v1/users", PolicyRole::kAdmin));
  write("GET /api/v1/users admin\nGET /api/v1/users member\n");
  EXPECT_TRUE(failsWith(readPolicyFile(file_).status(), Code::kInvalidArgument,
                        file_.string() + " line 2: duplicate rule"));
}

TEST_F(PolicyFileTest, FileTooLargeIsRefused) {
  std::string text = "GET /api/v1/users admin\n";
  text.resize(kMaxPolicyBytes + 100, '#');
  write(text);
  EXPECT_TRUE(
      failsWith(readPolicyFile(file_).status(), Code::kInvalidArgument, "larger than the limit"));
  PolicyHolder holder(parseOk("GET / admin"), file_);
  EXPECT_TRUE(failsWith(holder.reload(), Code::kInvalidArgument, "larger than the limit"));
  EXPECT_TRUE(holder.current()->allows("GET", "/", PolicyRole::kAdmin));
}

TEST_F(PolicyFileTest, ReloadInstallsTheNewPolicyOrKeepsTheOld) {
  write("GET /api/v1/users admin\n");
  PolicyHolder holder(readPolicyFile(file_).value(), file_);
  const std::shared_ptr<const Policy> first = holder.current();
  EXPECT_TRUE(first->allows("GET", "/api/v1/users", PolicyRole::kAdmin));
  EXPECT_FALSE(first->allows("GET", "/api/v1/users", PolicyRole::kMember));

  write("GET /api/v1/users admin, member\n");
  ASSERT_TRUE(holder.reload().ok());
  EXPECT_TRUE(holder.current()->allows("GET", "/api/v1/users", PolicyRole::kMember));
  // A snapshot taken before stays as it was.
  EXPECT_FALSE(first->allows("GET", "/api/v1/users", PolicyRole::kMember));

  write("GET /api/v1/users admin, member\nPOST /api/v1/users superuser\n");
  EXPECT_TRUE(failsWith(holder.reload(), Code::kInvalidArgument, "line 2: unknown role"));
  EXPECT_TRUE(holder.current()->allows("GET", "/api/v1/users", PolicyRole::kMember));
  EXPECT_EQ(holder.current()->ruleCount(), 1u);

  std::filesystem::remove(file_);
  EXPECT_TRUE(failsWith(holder.reload(), Code::kNotFound, "no such file"));
  EXPECT_TRUE(holder.current()->allows("GET", "/api/v1/users", PolicyRole::kMember));
}

TEST(PolicyHolderTest, ReloadWithoutAFileIsAPreconditionFailure) {
  PolicyHolder holder(parseOk("GET / admin"));
  EXPECT_TRUE(failsWith(holder.reload(), Code::kFailedPrecondition, "no policy file"));
  EXPECT_TRUE(holder.current()->allows("GET", "/", PolicyRole::kAdmin));
  holder.replace(parseOk("GET / member"));
  EXPECT_FALSE(holder.current()->allows("GET", "/", PolicyRole::kAdmin));
  EXPECT_TRUE(holder.current()->allows("GET", "/", PolicyRole::kMember));
}

TEST_F(PolicyFileTest, ReadersDuringReloadSeeTheOldOrTheNewPolicyWhole) {
  // Policy A grants GET and POST to admins only; policy B to members only. A reader that saw a
  // half-installed policy, or mixed two, would see a combination that is neither.
  const std::string policy_a = "GET /api/v1/x admin\nPOST /api/v1/x admin\n";
  const std::string policy_b = "GET /api/v1/x member\nPOST /api/v1/x member\n";
  write(policy_a);
  PolicyHolder holder(readPolicyFile(file_).value(), file_);

  std::atomic<bool> stop{false};
  std::atomic<int> mixed{0};
  std::atomic<long> reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        const std::shared_ptr<const Policy> policy = holder.current();
        const bool a = policy->allows("GET", "/api/v1/x", PolicyRole::kAdmin) &&
                       policy->allows("POST", "/api/v1/x", PolicyRole::kAdmin) &&
                       !policy->allows("GET", "/api/v1/x", PolicyRole::kMember);
        const bool b = policy->allows("GET", "/api/v1/x", PolicyRole::kMember) &&
                       policy->allows("POST", "/api/v1/x", PolicyRole::kMember) &&
                       !policy->allows("GET", "/api/v1/x", PolicyRole::kAdmin);
        if (a == b) ++mixed;
        ++reads;
      }
    });
  }
  int reloads = 0;
  for (int i = 0; i < 200; ++i) {
    write(i % 2 == 0 ? policy_b : policy_a);
    if (holder.reload().ok()) ++reloads;
    if (i % 50 == 0) holder.replace(parseOk(policy_a));
  }
  stop = true;
  for (std::thread& reader : readers) reader.join();
  EXPECT_EQ(mixed.load(), 0);
  EXPECT_EQ(reloads, 200);
  EXPECT_GT(reads.load(), 0);
  EXPECT_TRUE(holder.current()->allows("GET", "/api/v1/x", PolicyRole::kAdmin));  // last: A
}

}  // namespace
}  // namespace tendril::service
