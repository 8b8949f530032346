// The web dashboard's files (web/dist, built by Vite) served at `/` by `tendril serve`.
//
// Promises:
//   - Only files inside `root` are ever read: the path is percent-decoded, and a path with a
//     `..` or `.` segment, a backslash, a NUL byte, a malformed escape, or one that resolves
//     (through symbolic links too) outside `root` gets 404. Hidden files (a segment starting with
//     '.') are not served.
//   - Content-Type from the file name's extension (HTML, JS, CSS, JSON, SVG, PNG, ICO, WOFF2,
//     TXT, MAP; anything else application/octet-stream), with `X-Content-Type-Options: nosniff`.
//   - Caching: files under `assets/` carry a content hash in their name (Vite's output) and are
//     `Cache-Control: public, max-age=31536000, immutable`; everything else (index.html first of
//     all) is `no-cache`, so a new build is picked up on the next load.
//   - SPA fallback: a path without a file extension that names no file (`/clusters/abc`) gets
//     index.html, so the dashboard's own router can show the page; a missing file with an
//     extension (`/assets/gone.js`) gets 404.
//   - index.html is sent with a Content-Security-Policy that allows only the server's own
//     scripts, styles, images and connections (no inline scripts) and no framing.
//   - When `root` holds no index.html (the dashboard was not built) every path answers 503
//     with a short HTML page saying so and how to build it; never a crash.
// The server never calls these for `/api/...` paths: the router hands only unmatched GETs
// outside /api here (Router::setFallback).
// Thread safety: serveStaticFile() only reads the file system; safe from any thread.
#pragma once

#include <filesystem>
#include <string_view>

#include "api/router.h"

namespace tendril::api {

// The Content-Type for a file name, by its extension (lower case).
std::string_view staticContentType(std::string_view file_name);

// The response for GET `request.path` from the dashboard directory `root`.
Response serveStaticFile(const std::filesystem::path& root, const Request& request);

}  // namespace tendril::api
