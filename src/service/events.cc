#include "service/events.h"

#include <algorithm>
#include <cassert>

#include "service/access.h"

namespace tendril::service {

uint64_t EventHub::subscribe(Principal principal, Deliver deliver) {
  assert(deliver && "EventHub::subscribe needs a deliver function");
  auto subscriber = std::make_shared<Subscriber>();
  subscriber->principal = std::move(principal);
  subscriber->deliver = std::move(deliver);
  std::lock_guard lock(mutex_);
  subscriber->id = next_id_++;
  subscribers_.push_back(subscriber);
  return subscriber->id;
}

void EventHub::unsubscribe(uint64_t id) {
  std::lock_guard lock(mutex_);
  auto found = std::find_if(subscribers_.begin(), subscribers_.end(),
                            [id](const auto& subscriber) { return subscriber->id == id; });
  if (found == subscribers_.end()) return;
  // A publish() that copied the list before this point sees the flag and skips the call.
  (*found)->active.store(false);
  subscribers_.erase(found);
}

void EventHub::publish(const Event& event) {
  std::vector<std::shared_ptr<Subscriber>> snapshot;
  {
    std::lock_guard lock(mutex_);
    snapshot = subscribers_;
  }
  for (const std::shared_ptr<Subscriber>& subscriber : snapshot) {
    if (!subscriber->active.load() || !visibleTo(subscriber->principal, event)) continue;
    subscriber->deliver(event);
  }
}

size_t EventHub::subscriberCount() const {
  std::lock_guard lock(mutex_);
  return subscribers_.size();
}

bool EventHub::visibleTo(const Principal& principal, const Event& event) {
  if (!event.owner_id.empty() && event.owner_id == principal.user_id) return true;
  return Access(principal).canSee(event.project_id, event.owner_id);
}

}  // namespace tendril::service
