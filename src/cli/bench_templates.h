// The bench's default templates, embedded at build time from templates/*.tmpl.
#pragma once

#include <string_view>

namespace tendril::cli {

extern const std::string_view kFashionMnistTemplate;
extern const std::string_view kMnist10kTemplate;
extern const std::string_view kCsvStaircaseTemplate;

}  // namespace tendril::cli
