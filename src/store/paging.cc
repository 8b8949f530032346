#include "store/paging.h"

#include <array>
#include <charconv>
#include <cstdint>

namespace tendril::store {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
// Generous bound: an id of a few hundred bytes, far above a UUID's 36.
constexpr std::size_t kMaxCursorLength = 1024;

std::string base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : bytes) {
    buffer = (buffer << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(buffer >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(buffer << (6 - bits)) & 0x3f]);
  return out;
}

Result<std::string> base64UrlDecode(std::string_view text) {
  std::array<int, 256> value{};
  value.fill(-1);
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    value[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int>(i);
  }
  if (text.size() % 4 == 1) return Status::Invalid("cursor: malformed; pass a next_cursor from an earlier page");
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const int v = value[static_cast<unsigned char>(c)];
    if (v < 0) return Status::Invalid("cursor: malformed; pass a next_cursor from an earlier page");
    buffer = (buffer << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xff));
    }
  }
  // Leftover bits must be zero, so each byte string has exactly one encoding.
  if ((buffer & ((1u << bits) - 1)) != 0) return Status::Invalid("cursor: malformed; pass a next_cursor from an earlier page");
  return out;
}

}  // namespace

std::string encodeCursor(const CursorKey& key) {
  return base64UrlEncode(std::to_string(key.time_ms) + ":" + key.id);
}

Result<CursorKey> decodeCursor(std::string_view cursor) {
  if (cursor.empty() || cursor.size() > kMaxCursorLength) {
    return Status::Invalid("cursor: malformed; pass a next_cursor from an earlier page");
  }
  Result<std::string> decoded = base64UrlDecode(cursor);
  if (!decoded.ok()) return decoded.status();
  const std::string& text = *decoded;
  const std::size_t colon = text.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return Status::Invalid("cursor: malformed; pass a next_cursor from an earlier page");
  }
  CursorKey key;
  const char* first = text.data();
  const char* last = text.data() + colon;
  auto [end, error] = std::from_chars(first, last, key.time_ms);
  if (error != std::errc() || end != last) return Status::Invalid("cursor: malformed; pass a next_cursor from an earlier page");
  key.id = text.substr(colon + 1);
  return key;
}

Status checkPageLimit(std::size_t limit) {
  if (limit == 0 || limit > kMaxPageLimit) {
    return Status::Invalid("limit: must be between 1 and " + std::to_string(kMaxPageLimit));
  }
  return Status::Ok();
}

}  // namespace tendril::store
