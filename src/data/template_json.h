// Templates as JSON: the encoding API clients send most easily. It carries the same model as the
// Hanami text format (src/engine/template.h) and both run engine::validateTemplate():
//
//   {"version": 1,
//    "settings": {"seed": 7, "enable_reduction": false},
//    "bricks": [{"position": [1,1,1], "input": "pixels", "neurons": 784},
//               {"position": [2,1,1], "neurons": 400},
//               {"position": [3,1,1], "output": "digits", "neurons": 10}]}
//
// The format is specified in docs/templates.md. Unknown keys, duplicate keys, wrong types and
// non-integral, negative or oversized counts are errors; an error names its JSON path
// ("bricks[2].neurons: ...") or, for rules across bricks, the brick ("brick 2,1,1: ...").
//
// Thread safety: all functions are pure. No exception escapes them.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "engine/template.h"

namespace tendril::data {

// Parses and validates a JSON template. Text longer than limits.max_text_bytes is refused.
Result<engine::Template> parseTemplateJson(std::string_view json,
                                           const engine::TemplateLimits& limits = {});

// Writes `tmpl` as JSON with every setting, keys in the documented order. `indent` < 0 writes
// one line; otherwise nested values are indented by that many spaces. parseTemplateJson() of the
// result equals `tmpl` for a valid template whose BrickSpec::line fields are 0.
std::string templateToJson(const engine::Template& tmpl, int indent = -1);

// Either encoding: JSON when the first character after blanks, newlines and a UTF-8 byte-order
// mark is '{', the text format otherwise.
Result<engine::Template> parseTemplateAny(std::string_view text,
                                          const engine::TemplateLimits& limits = {});

}  // namespace tendril::data
