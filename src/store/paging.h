// Private to the store: the opaque cursors of paged lists.
//
// A cursor names the last row of the page before: its time and id, the two columns every paged
// list is ordered by. On the wire it is base64url (no padding) of "<time_ms>:<id>", so clients
// treat it as a token; decodeCursor() checks its shape and refuses anything else.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/status.h"
#include "store/store.h"

namespace tendril::store {

struct CursorKey {
  TimeMs time_ms = 0;
  std::string id;
};

std::string encodeCursor(const CursorKey& key);
// InvalidArgument unless `cursor` is what encodeCursor() makes (non-empty id).
Result<CursorKey> decodeCursor(std::string_view cursor);
// InvalidArgument unless 1 <= limit <= kMaxPageLimit.
Status checkPageLimit(std::size_t limit);

}  // namespace tendril::store
