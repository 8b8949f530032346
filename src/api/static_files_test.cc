// The dashboard's static files: content types, caching, the SPA fallback, the page shown when
// the dashboard is not built, and no way out of the directory (traversal, encoded or linked).
#include "api/static_files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

namespace tendril::api {
namespace {

namespace fs = std::filesystem;

std::string headerOf(const Response& response, std::string_view name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return {};
}

class StaticFilesTest : public testing::Test {
 protected:
  void SetUp() override {
    base_ = fs::temp_directory_path() / ("tendril-static-test-" + std::to_string(::getpid()));
    fs::remove_all(base_);
    root_ = base_ / "dist";
    write(root_ / "index.html", "<!doctype html><title>t</title>");
    write(root_ / "assets" / "index-AbC123.js", "console.log(1)");
    write(root_ / "assets" / "index-AbC123.css", "body{}");
    write(root_ / "favicon.svg", "<svg/>");
    write(root_ / ".hidden", "no");
    write(base_ / "secret.txt", "outside");
    fs::create_symlink(base_ / "secret.txt", root_ / "link.txt");
  }
  void TearDown() override { fs::remove_all(base_); }

  static void write(const fs::path& file, const std::string& text) {
    fs::create_directories(file.parent_path());
    std::ofstream(file) << text;
  }

  Response get(const std::string& path) const {
    Request request;
    request.method = "GET";
    request.path = path;
    return serveStaticFile(root_, request);
  }

  fs::path base_;
  fs::path root_;
};

TEST_F(StaticFilesTest, IndexIsHtmlNotCachedAndUnderAContentSecurityPolicy) {
  for (const std::string path : {"/", "/index.html"}) {
    Response response = get(path);
    EXPECT_EQ(response.status, 200u) << path;
    EXPECT_EQ(response.file, root_ / "index.html") << path;
    EXPECT_EQ(response.content_type, "text/html; charset=utf-8");
    EXPECT_EQ(headerOf(response, "Cache-Control"), "no-cache");
    EXPECT_NE(headerOf(response, "Content-Security-Policy").find("script-src 'self'"),
              std::string::npos);
  }
}

TEST_F(StaticFilesTest, HashedAssetsAreImmutableWithTheirType) {
  Response js = get("/assets/index-AbC123.js");
  EXPECT_EQ(js.status, 200u);
  EXPECT_EQ(js.file, root_ / "assets" / "index-AbC123.js");
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(headerOf(js, "Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(headerOf(js, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(get("/assets/index-AbC123.css").content_type, "text/css; charset=utf-8");
  Response svg = get("/favicon.svg");
  EXPECT_EQ(svg.content_type, "image/svg+xml");
  EXPECT_EQ(headerOf(svg, "Cache-Control"), "no-cache");  // not hashed: revalidate
}

TEST_F(StaticFilesTest, PagePathsFallBackToIndexButMissingFilesAre404) {
  Response page = get("/clusters/5f0c");
  EXPECT_EQ(page.status, 200u);
  EXPECT_EQ(page.file, root_ / "index.html");
  EXPECT_EQ(get("/assets/gone-123.js").status, 404u);
  EXPECT_EQ(get("/nothing.png").status, 404u);
}

TEST_F(StaticFilesTest, NothingOutsideTheDirectoryOrHiddenIsServed) {
  for (const std::string path :
       {"/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt",
        "/..%5csecret.txt", "/assets%2f..%2f..%2fsecret.txt", "/.hidden", "/link.txt",
        "/bad%zzescape", "/a%00.txt"}) {
    Response response = get(path);
    EXPECT_EQ(response.status, 404u) << path;
    EXPECT_TRUE(response.file.empty()) << path;
  }
}

TEST_F(StaticFilesTest, MissingDashboardGivesAShortPage) {
  Request request;
  request.method = "GET";
  request.path = "/";
  Response response = serveStaticFile(base_ / "not-built", request);
  EXPECT_EQ(response.status, 503u);
  EXPECT_EQ(response.content_type, "text/html; charset=utf-8");
  EXPECT_NE(response.body.find("not built"), std::string::npos);
}

TEST(StaticContentType, ByExtensionCaseInsensitive) {
  EXPECT_EQ(staticContentType("a.JS"), "text/javascript; charset=utf-8");
  EXPECT_EQ(staticContentType("font.woff2"), "font/woff2");
  EXPECT_EQ(staticContentType("noext"), "application/octet-stream");
}

}  // namespace
}  // namespace tendril::api
