// Time for the service: an injectable wall clock (tests move time instead of sleeping) and the
// ISO-8601 UTC text form every API reply uses ("2026-11-21T08:46:17.123Z").
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "store/store.h"

namespace tendril::service {

// Milliseconds since the Unix epoch, UTC.
using Clock = std::function<store::TimeMs()>;

// The system's real-time clock.
Clock systemClock();

// "YYYY-MM-DDTHH:MM:SS.mmmZ" for times from year 1970 to 9999.
std::string formatIsoTime(store::TimeMs time_ms);

// Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z" (fraction of 1-3 digits optional; also "+00:00" for Z).
// InvalidArgument for anything else, including impossible dates.
Result<store::TimeMs> parseIsoTime(std::string_view text);

}  // namespace tendril::service
