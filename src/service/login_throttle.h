// Login throttling: limits password guessing per user name and per client address.
//
// The login handler asks check() before it looks at a password, and reports the outcome with
// recordFailure() or recordSuccess(). Failures are counted per key (the user name, and
// separately the client address) within a sliding window; a key that reaches its threshold is
// locked for a while, and each further lock soon after the previous one lasts twice as long.
// The address threshold is four times the name threshold, so many users behind one NAT are not
// locked out by each other's typos, while one address spraying guesses over many names still
// is. A success clears the name's record only, never the address's.
//
// The throttle knows nothing of which users exist: unknown names are counted, locked and
// answered exactly like known ones, so it reveals nothing about accounts. Memory is bounded:
// at most max_tracked_keys names and addresses together are remembered, the least recently
// touched forgotten first. The clock is passed in, so tests need no sleeping.
//
// Thread safety: every member function may be called from any thread (one mutex inside).
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace tendril::service {

struct ThrottleSettings {
  int max_failures = 5;              // failures of one name within `window` that lock it
  std::chrono::seconds window{300};  // how long a failure, or a lock's end, is remembered
  std::chrono::seconds lockout{60};  // the first lock; doubled per further lock, to 1 hour
  size_t max_tracked_keys = 100000;  // names and addresses remembered at most
};

// An address is locked after this many times max_failures (shared NAT).
inline constexpr int kAddressFailureFactor = 4;
// No lock lasts longer.
inline constexpr std::chrono::seconds kMaxLockout{3600};
// Names and addresses longer than this are told apart by their first kMaxThrottleKeyBytes only.
inline constexpr size_t kMaxThrottleKeyBytes = 256;

// InvalidArgument unless max_failures is 1 to 1000, window 1 second to 1 day, lockout 1 second
// to kMaxLockout and max_tracked_keys at least 2.
Status validateThrottleSettings(const ThrottleSettings& settings);

class LoginThrottle {
 public:
  using Clock = std::chrono::steady_clock;

  // `settings` must pass validateThrottleSettings() (asserted).
  explicit LoginThrottle(ThrottleSettings settings);

  // Whether a login for `user_name` from `address` may check a password now. ResourceExhausted
  // when the name or the address is locked, the message saying which and when to retry; then
  // `*retry_after_s` (when not null) is set to the whole seconds until every lock concerned has
  // ended, at least 1. Does not change what is remembered.
  Status check(std::string_view user_name, std::string_view address, Clock::time_point now,
               int* retry_after_s = nullptr);

  // Counts a failed login (wrong password, or an unknown name) against both keys, locking
  // those that reach their threshold. Failures while a key is locked are not counted.
  void recordFailure(std::string_view user_name, std::string_view address, Clock::time_point now);

  // Forgets the name's failures and locks. The address's are kept: an attacker who owns one
  // account cannot use its logins to reset the count of guesses sprayed at other names.
  void recordSuccess(std::string_view user_name, std::string_view address, Clock::time_point now);

  // How many names and addresses are remembered now (at most max_tracked_keys).
  size_t trackedKeys() const;

 private:
  struct Record {
    std::vector<Clock::time_point> failures;  // within the window; fewer than the threshold
    Clock::time_point locked_until{};         // meaningful when locks > 0
    int locks = 0;                            // locks in a row, each soon after the last
    std::list<const std::string*>::iterator recency;
  };

  static std::string nameKey(std::string_view user_name);
  static std::string addressKey(std::string_view address);
  // Moves an existing record to the most recently touched end; does nothing for an unknown key.
  void promote(const std::string& key);
  // The record of `key`, created (forgetting the least recently touched one when full) if new,
  // and promoted.
  Record& touch(const std::string& key);
  void fail(Record& record, int threshold, Clock::time_point now);
  // Drops what the window no longer covers.
  void forgetOld(Record& record, Clock::time_point now) const;
  // How long `key` stays locked after `now` (zero when it is not locked).
  Clock::duration lockedFor(const std::string& key, Clock::time_point now) const;

  const ThrottleSettings settings_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Record> records_;
  std::list<const std::string*> recency_;  // keys of records_, most recently touched first
};

}  // namespace tendril::service
