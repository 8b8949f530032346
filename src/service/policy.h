// The access policy: which roles may call which endpoint with which method. Every request is
// checked against it, and anything the policy does not grant is denied.
//
// A policy is a text file (format, byte by byte, in docs/policy.md): one rule per line naming
// methods, a path template exactly as the router declares it, and the roles allowed. Unlike the
// Hanami policy file it replaces, parsing is strict: an unknown method or role, a malformed
// path, a rule without roles and a second rule for the same (method, path) are errors naming
// the line, never silently kept or dropped. Rules for endpoints the server does not declare
// (stale entries) and declared endpoints no rule covers are reported by unknownRules() and
// uncovered(), so the server can refuse or warn at start-up and on reload.
//
// Promises: a Policy never changes after parse(); GET does not imply HEAD; a role, method or
// path not named by a rule is denied. Errors are InvalidArgument (parse), NotFound or Io
// (reading the file), FailedPrecondition (reload without a file); no exception escapes.
//
// Thread safety: a Policy is immutable and may be read from any number of threads. A
// PolicyHolder may be used from any thread: current() and reload()/replace() may overlap, and
// a reader sees either the old or the new policy, whole.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace tendril::service {

// Who the caller is, as far as the policy cares. The wire and file spellings are "anonymous"
// (no credentials), "user" (logged in, no project selected), "member", "project-admin" and
// "admin" (the global admin flag).
enum class PolicyRole { kAnonymous, kUser, kMember, kProjectAdmin, kAdmin };

inline constexpr size_t kPolicyRoleCount = 5;

// The wire spelling of `role`.
std::string_view policyRoleName(PolicyRole role);
// The inverse of policyRoleName(); InvalidArgument for any other text (case-sensitive).
Result<PolicyRole> parsePolicyRole(std::string_view text);

// The largest policy text parse() and readPolicyFile() accept.
inline constexpr size_t kMaxPolicyBytes = size_t{1} << 20;

class Policy {
 public:
  // An empty policy: denies everything.
  Policy() = default;

  // Parses policy text. `source_name` (a file name, or "built-in") starts every error message
  // and the entries of unknownRules(): "<source_name> line <n>: <what is wrong>".
  // InvalidArgument for text over kMaxPolicyBytes and for every rule the format refuses.
  static Result<Policy> parse(std::string_view text, std::string_view source_name);

  // Whether a rule grants `role` the use of `method` on `path_template` (the route's template,
  // "/api/v1/users/{id}", not the request's path). False for anything no rule names.
  bool allows(std::string_view method, std::string_view path_template, PolicyRole role) const;

  // Rules naming a (method, path template) that is not in `declared`: stale entries. Each is
  // described as "<source_name> line <n>: <METHOD> <path>", sorted by path, then method.
  std::vector<std::string> unknownRules(
      const std::vector<std::pair<std::string, std::string>>& declared) const;

  // The (method, path template) pairs of `declared` that no rule mentions, so nobody may call
  // them. Each is described as "<METHOD> <path>", in the order of `declared`, without repeats.
  std::vector<std::string> uncovered(
      const std::vector<std::pair<std::string, std::string>>& declared) const;

  // Canonical text: one line per path and set of roles, methods joined by commas, paths sorted,
  // columns aligned. parse(render()) gives a policy equal to this one.
  std::string render() const;

  // The number of (method, path) pairs the policy has a rule for (a `none` rule counts).
  size_t ruleCount() const;

  // Equal when the same (method, path) pairs grant the same roles; source names and line
  // numbers do not count.
  friend bool operator==(const Policy& a, const Policy& b);

 private:
  static constexpr size_t kMethodCount = 6;  // GET HEAD POST PUT PATCH DELETE

  struct Grant {
    uint8_t roles = 0;  // bit (1 << PolicyRole); 0 for `none`
    int line = 0;       // where the rule was written (0: never)
    bool present = false;
  };
  using Grants = std::array<Grant, kMethodCount>;

  std::string source_name_;
  std::map<std::string, Grants, std::less<>> rules_;  // by path template
};

// Reads and parses the policy file at `path`. NotFound when it does not exist, Io when it
// cannot be read, InvalidArgument when it is larger than kMaxPolicyBytes or does not parse.
Result<Policy> readPolicyFile(const std::filesystem::path& path);

// The policy in force. Readers take a snapshot with current() and keep using it for the whole
// request; reload() and replace() swap in a new policy atomically.
class PolicyHolder {
 public:
  // `file`, when given, is what reload() reads.
  explicit PolicyHolder(Policy initial, std::optional<std::filesystem::path> file = std::nullopt);

  // The policy in force now; never null. Cheap (copies a shared pointer under a short lock).
  std::shared_ptr<const Policy> current() const;

  // Re-reads the file. On success the new policy is in force; on any error the old one stays
  // and the error (as from readPolicyFile) is returned. FailedPrecondition without a file.
  // Concurrent reloads are serialised.
  Status reload();

  // Puts `next` in force (used when the built-in default policy is in force).
  void replace(Policy next);

 private:
  const std::optional<std::filesystem::path> file_;
  std::mutex reload_mutex_;           // serialises reload(), so the last read wins
  mutable std::mutex current_mutex_;  // guards current_ only
  std::shared_ptr<const Policy> current_;
};

}  // namespace tendril::service
