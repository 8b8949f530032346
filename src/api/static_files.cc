#include "api/static_files.h"

#include <algorithm>
#include <array>
#include <system_error>
#include <utility>

namespace tendril::api {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kImmutable = "public, max-age=31536000, immutable";
constexpr std::string_view kNoCache = "no-cache";
constexpr std::string_view kIndexPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'";

constexpr std::array<std::pair<std::string_view, std::string_view>, 13> kTypes = {{
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".map", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
    {".webmanifest", "application/manifest+json"},
    {".jpg", "image/jpeg"},
}};

Response notFound(const Request& request) {
  return Response::problem(TransportProblem::kRouteNotFound, "no file at this path", request.path);
}

Response notBuilt() {
  Response response = Response::text(
      503,
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Tendril</title>"
      "</head>\n<body><h1>Tendril</h1><p>The web dashboard is not built. Build it with "
      "<code>scripts/build.sh</code> (or <code>npm ci &amp;&amp; npm run build</code> in "
      "<code>web/</code>) and reload, or point <code>dashboard_dir</code> at the built files. "
      "The API is at <a href=\"/api/docs\">/api/docs</a>.</p></body></html>\n",
      "text/html; charset=utf-8");
  response.headers.emplace_back("Cache-Control", std::string(kNoCache));
  return response;
}

Response fileResponse(const fs::path& file, bool immutable, bool is_index) {
  Response response;
  response.status = 200;
  response.content_type = std::string(staticContentType(file.filename().string()));
  response.file = file;
  response.headers.emplace_back("Cache-Control", std::string(immutable ? kImmutable : kNoCache));
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  if (is_index) {
    response.headers.emplace_back("Content-Security-Policy", std::string(kIndexPolicy));
    response.headers.emplace_back("Referrer-Policy", "no-referrer");
  }
  return response;
}

// The decoded, checked relative path of `target`, or false when it may name anything outside
// the root (or a hidden file).
bool safeRelativePath(std::string_view target, fs::path* relative) {
  std::string decoded;
  if (!percentDecode(target, &decoded)) return false;
  if (decoded.find('\0') != std::string::npos || decoded.find('\\') != std::string::npos) {
    return false;
  }
  fs::path result;
  for (std::string_view segment : splitPath(decoded)) {
    if (segment.empty()) continue;             // "//" and the trailing slash
    if (segment.front() == '.') return false;  // ".", "..", hidden files
    result /= fs::path(std::string(segment));
  }
  *relative = std::move(result);
  return true;
}

// Whether `file` (resolved through links) lies inside `root` (resolved).
bool inside(const fs::path& root, const fs::path& file) {
  std::error_code error;
  fs::path real_root = fs::canonical(root, error);
  if (error) return false;
  fs::path real_file = fs::canonical(file, error);
  if (error) return false;
  auto [root_end, file_it] =
      std::mismatch(real_root.begin(), real_root.end(), real_file.begin(), real_file.end());
  return root_end == real_root.end();
}

}  // namespace

std::string_view staticContentType(std::string_view file_name) {
  size_t dot = file_name.rfind('.');
  if (dot != std::string_view::npos) {
    std::string extension;
    for (char c : file_name.substr(dot)) {
      extension += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    for (const auto& [known, type] : kTypes) {
      if (known == extension) return type;
    }
  }
  return "application/octet-stream";
}

Response serveStaticFile(const fs::path& root, const Request& request) {
  std::error_code error;
  const fs::path index = root / "index.html";
  if (!fs::is_regular_file(index, error)) return notBuilt();

  fs::path relative;
  if (!safeRelativePath(request.path, &relative)) return notFound(request);
  if (!relative.empty()) {
    fs::path file = root / relative;
    if (fs::is_regular_file(file, error)) {
      if (!inside(root, file)) return notFound(request);
      bool immutable = relative.begin() != relative.end() && *relative.begin() == "assets";
      return fileResponse(file, immutable, relative == "index.html");
    }
    // A missing file that looks like one (an extension) is a 404; a page path is the SPA's.
    if (relative.has_extension()) return notFound(request);
  }
  return fileResponse(index, false, true);
}

}  // namespace tendril::api
