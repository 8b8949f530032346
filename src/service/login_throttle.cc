#include "service/login_throttle.h"

#include <algorithm>
#include <cassert>

namespace tendril::service {
namespace {

constexpr int kMaxFailuresLimit = 1000;
constexpr std::chrono::seconds kMaxWindow{86400};

// The lock that follows `locks_before` locks in a row: `lockout` doubled that often, capped.
std::chrono::seconds lockDuration(std::chrono::seconds lockout, int locks_before) {
  std::chrono::seconds duration = lockout;
  for (int i = 0; i < locks_before && duration < kMaxLockout; ++i) duration *= 2;
  return std::min(duration, kMaxLockout);
}

}  // namespace

Status validateThrottleSettings(const ThrottleSettings& settings) {
  if (settings.max_failures < 1 || settings.max_failures > kMaxFailuresLimit) {
    return Status::Invalid("login throttle: max_failures must be 1 to 1000");
  }
  if (settings.window < std::chrono::seconds(1) || settings.window > kMaxWindow) {
    return Status::Invalid("login throttle: window must be 1 second to 1 day");
  }
  if (settings.lockout < std::chrono::seconds(1) || settings.lockout > kMaxLockout) {
    return Status::Invalid("login throttle: lockout must be 1 second to 1 hour");
  }
  if (settings.max_tracked_keys < 2) {
    return Status::Invalid("login throttle: max_tracked_keys must be at least 2");
  }
  return Status::Ok();
}

LoginThrottle::LoginThrottle(ThrottleSettings settings) : settings_(settings) {
  assert(validateThrottleSettings(settings_).ok());
}

std::string LoginThrottle::nameKey(std::string_view user_name) {
  return "n:" + std::string(user_name.substr(0, kMaxThrottleKeyBytes));
}

std::string LoginThrottle::addressKey(std::string_view address) {
  return "a:" + std::string(address.substr(0, kMaxThrottleKeyBytes));
}

Status LoginThrottle::check(std::string_view user_name, std::string_view address,
                            Clock::time_point now, int* retry_after_s) {
  Clock::duration name_wait{};
  Clock::duration address_wait{};
  {
    std::lock_guard lock(mutex_);
    name_wait = lockedFor(nameKey(user_name), now);
    address_wait = lockedFor(addressKey(address), now);
  }
  if (name_wait == Clock::duration::zero() && address_wait == Clock::duration::zero()) {
    return Status::Ok();
  }
  const auto seconds = std::chrono::ceil<std::chrono::seconds>(std::max(name_wait, address_wait));
  const int retry = static_cast<int>(std::max<std::chrono::seconds::rep>(seconds.count(), 1));
  if (retry_after_s != nullptr) *retry_after_s = retry;
  const char* which = name_wait == Clock::duration::zero()      ? "from this address"
                      : address_wait == Clock::duration::zero() ? "for this user name"
                                                                : "for this user name and address";
  return Status::Exhausted(std::string("too many failed logins ") + which + "; retry in " +
                           std::to_string(retry) + " s");
}

void LoginThrottle::recordFailure(std::string_view user_name, std::string_view address,
                                  Clock::time_point now) {
  const std::string name = nameKey(user_name);
  const std::string where = addressKey(address);
  std::lock_guard lock(mutex_);
  // Promote both first, so creating one of them never forgets the other.
  promote(name);
  promote(where);
  fail(touch(where), settings_.max_failures * kAddressFailureFactor, now);
  fail(touch(name), settings_.max_failures, now);
}

void LoginThrottle::recordSuccess(std::string_view user_name, std::string_view /*address*/,
                                  Clock::time_point /*now*/) {
  const std::string name = nameKey(user_name);
  std::lock_guard lock(mutex_);
  const auto found = records_.find(name);
  if (found == records_.end()) return;
  recency_.erase(found->second.recency);
  records_.erase(found);
}

size_t LoginThrottle::trackedKeys() const {
  std::lock_guard lock(mutex_);
  return records_.size();
}

void LoginThrottle::promote(const std::string& key) {
  const auto found = records_.find(key);
  if (found == records_.end()) return;
  recency_.splice(recency_.begin(), recency_, found->second.recency);
}

LoginThrottle::Record& LoginThrottle::touch(const std::string& key) {
  auto found = records_.find(key);
  if (found != records_.end()) {
    recency_.splice(recency_.begin(), recency_, found->second.recency);
    return found->second;
  }
  if (records_.size() >= settings_.max_tracked_keys) {
    // Erase through an iterator: the key the list points at lives in the node being erased.
    records_.erase(records_.find(*recency_.back()));
    recency_.pop_back();
  }
  found = records_.emplace(key, Record{}).first;
  recency_.push_front(&found->first);
  found->second.recency = recency_.begin();
  return found->second;
}

void LoginThrottle::fail(Record& record, int threshold, Clock::time_point now) {
  forgetOld(record, now);
  if (record.locks > 0 && now < record.locked_until) return;
  record.failures.push_back(now);
  if (record.failures.size() < static_cast<size_t>(threshold)) return;
  record.failures.clear();
  record.locked_until = now + lockDuration(settings_.lockout, record.locks);
  ++record.locks;
}

void LoginThrottle::forgetOld(Record& record, Clock::time_point now) const {
  const Clock::time_point horizon = now - settings_.window;
  std::erase_if(record.failures, [&](Clock::time_point when) { return when <= horizon; });
  // A lock that ended more than a window ago no longer makes the next one longer.
  if (record.locks > 0 && record.locked_until <= horizon) record.locks = 0;
}

LoginThrottle::Clock::duration LoginThrottle::lockedFor(const std::string& key,
                                                        Clock::time_point now) const {
  const auto found = records_.find(key);
  if (found == records_.end() || found->second.locks == 0) return Clock::duration::zero();
  return std::max(found->second.locked_until - now, Clock::duration::zero());
}

}  // namespace tendril::service
