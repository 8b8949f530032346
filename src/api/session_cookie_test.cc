// Cookie parsing, the same-origin rule and the Set-Cookie attributes of browser sessions.
#include "api/session_cookie.h"

#include <gtest/gtest.h>

namespace tendril::api {
namespace {

Request withHeaders(std::map<std::string, std::string> headers) {
  Request request;
  request.method = "POST";
  request.path = "/api/v1/projects";
  request.headers = std::move(headers);
  return request;
}

TEST(SessionCookie, FindsANamedCookieAmongOthers) {
  Request request = withHeaders({{"cookie", "a=1; tendril_access=eyJ.x.y ;tendril_refresh=r2"}});
  EXPECT_EQ(cookieValue(request, kAccessCookie), "eyJ.x.y");
  EXPECT_EQ(cookieValue(request, kRefreshCookie), "r2");
  EXPECT_EQ(cookieValue(request, "missing"), "");
  EXPECT_EQ(cookieValue(withHeaders({}), kAccessCookie), "");
  // A name that merely ends in the wanted one is another cookie.
  EXPECT_EQ(cookieValue(withHeaders({{"cookie", "xtendril_access=1"}}), kAccessCookie), "");
}

TEST(SessionCookie, SameOriginNeedsAnOriginEqualToTheHost) {
  EXPECT_TRUE(
      sameOrigin(withHeaders({{"host", "127.0.0.1:8080"}, {"origin", "http://127.0.0.1:8080"}})));
  EXPECT_TRUE(sameOrigin(
      withHeaders({{"host", "tendril.example"}, {"origin", "https://tendril.example"}})));
  EXPECT_FALSE(sameOrigin(withHeaders({{"host", "127.0.0.1:8080"}})));  // no Origin
  EXPECT_FALSE(
      sameOrigin(withHeaders({{"host", "127.0.0.1:8080"}, {"origin", "http://evil.example"}})));
  EXPECT_FALSE(sameOrigin(
      withHeaders({{"host", "127.0.0.1:8080"}, {"origin", "http://127.0.0.1:8080.evil.example"}})));
  EXPECT_FALSE(sameOrigin(withHeaders({{"host", "127.0.0.1:8080"}, {"origin", "null"}})));
}

TEST(SessionCookie, HeadersDecideBeforeTheCookie) {
  EXPECT_TRUE(authenticatesByCookie(withHeaders({{"cookie", "tendril_access=t"}})));
  EXPECT_FALSE(authenticatesByCookie(
      withHeaders({{"cookie", "tendril_access=t"}, {"authorization", "Bearer x"}})));
  EXPECT_FALSE(
      authenticatesByCookie(withHeaders({{"cookie", "tendril_access=t"}, {"x-api-key", "tdk_x"}})));
  EXPECT_FALSE(authenticatesByCookie(withHeaders({{"cookie", "tendril_refresh=t"}})));
}

TEST(SessionCookie, CookiesAreHttpOnlyStrictAndScoped) {
  HeaderList set = sessionCookies("acc", 900, "ref", 86400);
  ASSERT_EQ(set.size(), 2u);
  EXPECT_EQ(set[0].first, "Set-Cookie");
  EXPECT_EQ(set[0].second, "tendril_access=acc; Path=/; Max-Age=900; HttpOnly; SameSite=Strict");
  EXPECT_EQ(set[1].second,
            "tendril_refresh=ref; Path=/api/v1/auth; Max-Age=86400; HttpOnly; SameSite=Strict");
  HeaderList secure = sessionCookies("acc", 900, "ref", 86400, /*secure=*/true);
  EXPECT_EQ(secure[0].second,
            "tendril_access=acc; Path=/; Max-Age=900; HttpOnly; SameSite=Strict; Secure");
  EXPECT_TRUE(secure[1].second.ends_with("; Secure"));
  EXPECT_TRUE(secureOrigin(withHeaders({{"origin", "https://tendril.example"}})));
  EXPECT_FALSE(secureOrigin(withHeaders({{"origin", "http://tendril.example"}})));
  EXPECT_FALSE(secureOrigin(withHeaders({})));
  HeaderList cleared = clearedSessionCookies();
  ASSERT_EQ(cleared.size(), 2u);
  EXPECT_EQ(cleared[0].second, "tendril_access=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
  EXPECT_NE(cleared[1].second.find("Path=/api/v1/auth; Max-Age=0"), std::string::npos);
}

}  // namespace
}  // namespace tendril::api
