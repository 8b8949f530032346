// Browser sessions in cookies, for the web dashboard (docs/dashboard.md explains the design).
//
// A login with `"cookie": true` puts the session in two cookies instead of the reply body:
//   tendril_access   the access token (JWT), Path=/, for every API call and WebSocket upgrade
//   tendril_refresh  the refresh token, Path=/api/v1/auth, sent only to refresh and logout
// Both are HttpOnly (no script can read them, so an injected script cannot steal a session) and
// SameSite=Strict (a cross-site page cannot make the browser send them). On top of SameSite,
// the pipeline accepts a cookie for a state-changing method (anything but GET and HEAD) or a
// WebSocket upgrade only with an Origin header naming this server's own Host (sameOrigin), so
// a forged cross-site request is refused even by an older browser that ignores SameSite.
// A request that carries Authorization or X-API-Key is judged by that header alone; the cookies
// are ignored then.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/router.h"

namespace tendril::api {

inline constexpr std::string_view kAccessCookie = "tendril_access";
inline constexpr std::string_view kRefreshCookie = "tendril_refresh";
inline constexpr std::string_view kRefreshCookiePath = "/api/v1/auth";

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// The value of cookie `name` in the request's Cookie header; empty when absent.
std::string cookieValue(const Request& request, std::string_view name);

// Whether the request carries an Origin header whose host[:port] equals its Host header
// (http or https). A missing Origin is not the same origin.
bool sameOrigin(const Request& request);

// Whether the request would be authenticated by the access cookie: it has one, and neither
// Authorization nor X-API-Key.
bool authenticatesByCookie(const Request& request);

// Set-Cookie headers that store a session (token values are URL-safe: JWTs and base64url).
// `secure` adds the Secure attribute: the server itself speaks plain HTTP, so it is set when the
// page was loaded over HTTPS (a TLS proxy in front), which its Origin says (secureOrigin).
HeaderList sessionCookies(std::string_view access_token, int64_t access_ttl_s,
                          std::string_view refresh_token, int64_t refresh_ttl_s,
                          bool secure = false);

// Whether the request's Origin is https://…: the page that sent it came over TLS.
bool secureOrigin(const Request& request);

// Set-Cookie headers that delete both cookies.
HeaderList clearedSessionCookies();

}  // namespace tendril::api
