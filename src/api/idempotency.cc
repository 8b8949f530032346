#include "api/idempotency.h"

#include <utility>

namespace tendril::api {
namespace {

// What an entry costs besides its reply: the key twice (map and list), the fingerprint and the
// bookkeeping, roughly.
size_t baseBytes(const std::string& key, const std::string& fingerprint) {
  return 2 * key.size() + fingerprint.size() + 128;
}

size_t responseBytes(const Response& response) {
  size_t bytes = response.body.size() + response.content_type.size();
  for (const auto& [name, value] : response.headers) bytes += name.size() + value.size();
  return bytes;
}

}  // namespace

bool validIdempotencyKey(std::string_view key) {
  if (key.empty() || key.size() > 255) return false;
  for (char c : key) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

IdempotencyCache::IdempotencyCache(IdempotencyLimits limits, service::Clock clock)
    : limits_(limits), clock_(std::move(clock)) {}

IdempotencyCache::Begin IdempotencyCache::begin(const std::string& key,
                                                const std::string& fingerprint) {
  std::lock_guard lock(mutex_);
  auto found = entries_.find(key);
  if (found != entries_.end() && found->second.done &&
      clock_() - found->second.stored_ms >= limits_.ttl_ms) {
    erase(found);
    found = entries_.end();
  }
  Begin result;
  if (found != entries_.end()) {
    Entry& entry = found->second;
    lru_.splice(lru_.begin(), lru_, entry.position);
    if (entry.fingerprint != fingerprint) {
      result.state = State::kMismatch;
    } else if (!entry.done) {
      result.state = State::kInProgress;
    } else {
      result.state = State::kReplay;
      result.stored = entry.response;
    }
    return result;
  }
  lru_.push_front(key);
  Entry& entry = entries_[key];
  entry.fingerprint = fingerprint;
  entry.ticket = next_ticket_++;
  entry.position = lru_.begin();
  entry.bytes = baseBytes(key, fingerprint);
  bytes_ += entry.bytes;
  evict();
  result.state = State::kStarted;
  result.ticket = entry.ticket;  // still there: evict() spares the front of lru_
  return result;
}

void IdempotencyCache::complete(const std::string& key, uint64_t ticket, Response response) {
  std::lock_guard lock(mutex_);
  auto found = entries_.find(key);
  if (found == entries_.end() || found->second.ticket != ticket || found->second.done) return;
  Entry& entry = found->second;
  size_t bytes = baseBytes(key, entry.fingerprint) + responseBytes(response);
  if (bytes > limits_.max_bytes) {
    erase(found);
    return;
  }
  bytes_ += bytes - entry.bytes;
  entry.bytes = bytes;
  entry.done = true;
  entry.stored_ms = clock_();
  entry.response = std::move(response);
  evict();
}

void IdempotencyCache::abandon(const std::string& key, uint64_t ticket) {
  std::lock_guard lock(mutex_);
  auto found = entries_.find(key);
  if (found != entries_.end() && found->second.ticket == ticket && !found->second.done) {
    erase(found);
  }
}

size_t IdempotencyCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void IdempotencyCache::erase(std::unordered_map<std::string, Entry>::iterator entry) {
  bytes_ -= entry->second.bytes;
  lru_.erase(entry->second.position);
  entries_.erase(entry);
}

void IdempotencyCache::evict() {
  // The newest entry (at the front) is never evicted here: complete() refuses oversized replies
  // before they count, and one key alone is far below any sensible budget.
  while ((entries_.size() > limits_.max_entries || bytes_ > limits_.max_bytes) &&
         lru_.size() > 1) {
    erase(entries_.find(lru_.back()));
  }
}

}  // namespace tendril::api
