#include "api/session_cookie.h"

namespace tendril::api {
namespace {

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::string cookie(std::string_view name, std::string_view value, std::string_view path,
                   int64_t max_age_s, bool secure = false) {
  return std::string(name) + "=" + std::string(value) + "; Path=" + std::string(path) +
         "; Max-Age=" + std::to_string(max_age_s) + "; HttpOnly; SameSite=Strict" +
         (secure ? "; Secure" : "");
}

}  // namespace

std::string cookieValue(const Request& request, std::string_view name) {
  const std::string header = request.header("cookie");
  std::string_view rest = header;
  while (!rest.empty()) {
    size_t end = rest.find(';');
    std::string_view pair = trimmed(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    size_t equals = pair.find('=');
    if (equals == std::string_view::npos) continue;
    if (trimmed(pair.substr(0, equals)) == name) {
      return std::string(trimmed(pair.substr(equals + 1)));
    }
  }
  return {};
}

bool sameOrigin(const Request& request) {
  const std::string origin = request.header("origin");
  const std::string host = request.header("host");
  if (origin.empty() || host.empty()) return false;
  return origin == "http://" + host || origin == "https://" + host;
}

bool authenticatesByCookie(const Request& request) {
  return request.header("authorization").empty() && request.header("x-api-key").empty() &&
         !cookieValue(request, kAccessCookie).empty();
}

HeaderList sessionCookies(std::string_view access_token, int64_t access_ttl_s,
                          std::string_view refresh_token, int64_t refresh_ttl_s, bool secure) {
  return {{"Set-Cookie", cookie(kAccessCookie, access_token, "/", access_ttl_s, secure)},
          {"Set-Cookie",
           cookie(kRefreshCookie, refresh_token, kRefreshCookiePath, refresh_ttl_s, secure)}};
}

bool secureOrigin(const Request& request) {
  return request.header("origin").starts_with("https://");
}

HeaderList clearedSessionCookies() {
  return {{"Set-Cookie", cookie(kAccessCookie, "", "/", 0)},
          {"Set-Cookie", cookie(kRefreshCookie, "", kRefreshCookiePath, 0)}};
}

}  // namespace tendril::api
