// Idempotency-Key for creating POSTs (docs/api.md, "Idempotency and raw bodies"): the first
// successful reply to a (caller, method, path, key) is remembered with a fingerprint of the
// request, so a client that retries after losing the response gets that reply again instead of a
// second resource. The pipeline (api/api.h) decides which calls take part; this is the memory.
//
// Promises: bounded by entry count and bytes (least recently used entries go first) and by age
// (an entry is forgotten `ttl_ms` after the reply was stored). In memory and per process: a
// restart, or another server process behind the same address, does not know earlier keys.
// Thread-safe; every member may be called from any thread.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "api/router.h"
#include "service/clock.h"

namespace tendril::api {

struct IdempotencyLimits {
  size_t max_entries = 10'000;
  size_t max_bytes = 64 << 20;               // stored keys and replies together
  int64_t ttl_ms = 24LL * 60 * 60 * 1000;  // how long a stored reply is replayed
};

// Whether `key` is a usable Idempotency-Key header value: 1 to 255 printable ASCII characters
// (0x20 to 0x7E).
bool validIdempotencyKey(std::string_view key);

class IdempotencyCache {
 public:
  IdempotencyCache(IdempotencyLimits limits, service::Clock clock);

  enum class State {
    kStarted,     // first use: run the call, then complete() or abandon() with `ticket`
    kReplay,      // done before with the same fingerprint: answer `stored`, do not run the call
    kInProgress,  // the first call with this key is still running
    kMismatch,    // used before with a different fingerprint
  };
  struct Begin {
    State state = State::kStarted;
    uint64_t ticket = 0;  // kStarted only
    Response stored;      // kReplay only
  };

  // `key` names the caller, method, path and Idempotency-Key (the caller builds it so that
  // different callers never share one); `fingerprint` stands for the request's content.
  Begin begin(const std::string& key, const std::string& fingerprint);
  // Stores the reply of the call begin() returned `ticket` for. A reply larger than max_bytes,
  // or a ticket whose entry was evicted meanwhile, is not stored.
  void complete(const std::string& key, uint64_t ticket, Response response);
  // The call failed: forgets the key, so a retry runs again.
  void abandon(const std::string& key, uint64_t ticket);

  size_t size() const;

 private:
  struct Entry {
    std::string fingerprint;
    uint64_t ticket = 0;
    bool done = false;
    int64_t stored_ms = 0;
    Response response;
    size_t bytes = 0;
    std::list<std::string>::iterator position;  // in lru_
  };

  void erase(std::unordered_map<std::string, Entry>::iterator entry);  // mutex_ held
  void evict();                                                        // mutex_ held

  const IdempotencyLimits limits_;
  const service::Clock clock_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> lru_;  // most recently used first
  size_t bytes_ = 0;
  uint64_t next_ticket_ = 1;
};

}  // namespace tendril::api
