// The event hub: live notifications (audit entries now; task progress later) fanned out to the
// subscribers allowed to see them, e.g. the WebSocket sessions of GET /api/v1/events.
//
// Visibility: an event names the project it belongs to and the user who owns it. A subscriber
// receives it when service::Access built from the subscriber's Principal may see a row of that
// project owned by that user (admins: everything; a project-admin: the current project's
// events; a member: the current project's events they own), or when the event's owner is the
// subscriber's own user (so a user sees their own events whatever project they act in). An
// event with neither a project nor an owner reaches admins only.
//
// The Principal is copied when subscribing: a subscriber keeps the rights it had then (the
// WebSocket layer closes and re-authenticates connections to pick up changes).
//
// Thread safety: every method may be called from any thread. publish() calls each deliver
// function on the publishing thread, outside the hub's lock, so a deliver function may call
// subscribe(), unsubscribe() (its own id included) or publish(). Deliver functions must be
// quick and must not block (the WebSocket layer only queues a frame): publish() runs them one
// after another, and a slow one delays the publisher (an audited request).
//
// After unsubscribe() returns no new delivery to that subscriber starts, but a publish() on
// another thread may still be inside its deliver function; state the function uses must stay
// alive until then (capture it by shared_ptr or weak_ptr, not by reference).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "service/principal.h"

namespace tendril::service {

struct Event {
  std::string type;          // "audit", ...
  std::string payload_json;  // a JSON object, as text
  std::string project_id;    // the project the event belongs to; empty for none
  std::string owner_id;      // the user the event is about or was caused by; empty for none
};

class EventHub {
 public:
  using Deliver = std::function<void(const Event&)>;

  // Registers `deliver` for the events `principal` may see; returns the subscription's id
  // (never 0). A null `deliver` is a caller bug (asserts).
  uint64_t subscribe(Principal principal, Deliver deliver);
  // Ends a subscription; unknown or already ended ids are ignored.
  void unsubscribe(uint64_t id);
  // Delivers `event` to every current subscriber allowed to see it, in subscription order.
  void publish(const Event& event);

  // How many subscriptions are active (for metrics and tests).
  size_t subscriberCount() const;

  // Whether a subscriber acting as `principal` may see `event`: the rule above.
  static bool visibleTo(const Principal& principal, const Event& event);

 private:
  struct Subscriber {
    uint64_t id = 0;
    Principal principal;
    Deliver deliver;
    std::atomic<bool> active{true};
  };

  mutable std::mutex mutex_;
  uint64_t next_id_ = 1;
  std::vector<std::shared_ptr<Subscriber>> subscribers_;  // in subscription order
};

}  // namespace tendril::service
