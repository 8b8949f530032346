#include "service/clock.h"

#include <charconv>
#include <chrono>
#include <cstdio>

namespace tendril::service {
namespace {

bool readDigits(std::string_view text, size_t at, size_t count, int* value) {
  if (at + count > text.size()) return false;
  for (size_t i = at; i < at + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  auto [end, error] = std::from_chars(text.data() + at, text.data() + at + count, *value);
  return error == std::errc() && end == text.data() + at + count;
}

}  // namespace

Clock systemClock() {
  return [] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
}

std::string formatIsoTime(store::TimeMs time_ms) {
  using namespace std::chrono;
  sys_time<milliseconds> time{milliseconds(time_ms)};
  sys_days day = floor<days>(time);
  year_month_day date{day};
  hh_mm_ss clock{time - day};
  char text[32];
  std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", int(date.year()),
                unsigned(date.month()), unsigned(date.day()), int(clock.hours().count()),
                int(clock.minutes().count()), int(clock.seconds().count()),
                int(clock.subseconds().count()));
  return text;
}

Result<store::TimeMs> parseIsoTime(std::string_view text) {
  auto invalid = [&] {
    return Status::Invalid("'" + std::string(text.substr(0, 64)) +
                           "' is not an ISO-8601 UTC time like 2026-11-21T08:46:17Z");
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (text.size() < 20 || !readDigits(text, 0, 4, &year) || text[4] != '-' ||
      !readDigits(text, 5, 2, &month) || text[7] != '-' || !readDigits(text, 8, 2, &day) ||
      text[10] != 'T' || !readDigits(text, 11, 2, &hour) || text[13] != ':' ||
      !readDigits(text, 14, 2, &minute) || text[16] != ':' || !readDigits(text, 17, 2, &second)) {
    return invalid();
  }
  size_t at = 19;
  int millis = 0;
  if (text[at] == '.') {
    size_t digits = 0;
    while (at + 1 + digits < text.size() && digits < 4 && text[at + 1 + digits] >= '0' &&
           text[at + 1 + digits] <= '9') {
      ++digits;
    }
    if (digits == 0 || digits > 3 || !readDigits(text, at + 1, digits, &millis)) return invalid();
    for (size_t i = digits; i < 3; ++i) millis *= 10;
    at += 1 + digits;
  }
  std::string_view zone = text.substr(at);
  if (zone != "Z" && zone != "+00:00") return invalid();
  std::chrono::year_month_day date{std::chrono::year(year),
                                   std::chrono::month(static_cast<unsigned>(month)),
                                   std::chrono::day(static_cast<unsigned>(day))};
  if (year < 1970 || !date.ok() || hour > 23 || minute > 59 || second > 59) return invalid();
  int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
  return ((days * 24 + hour) * 60 + minute) * 60'000 + second * 1000 + millis;
}

}  // namespace tendril::service
