#include "service/policy.h"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <system_error>

namespace tendril::service {
namespace {

// Canonical method order: the order of Policy's per-path Grants and of render().
constexpr std::array<std::string_view, 6> kMethods = {"GET", "HEAD",  "POST",
                                                      "PUT", "PATCH", "DELETE"};
constexpr std::array<std::string_view, kPolicyRoleCount> kRoleNames = {
    "anonymous", "user", "member", "project-admin", "admin"};
constexpr std::string_view kNone = "none";
constexpr size_t kMaxQuotedBytes = 80;

std::optional<size_t> methodIndex(std::string_view method) {
  for (size_t i = 0; i < kMethods.size(); ++i) {
    if (kMethods[i] == method) return i;
  }
  return std::nullopt;
}

uint8_t roleBit(PolicyRole role) { return static_cast<uint8_t>(1u << static_cast<unsigned>(role)); }

bool isBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view trimBlanks(std::string_view text) {
  while (!text.empty() && isBlank(text.front())) text.remove_prefix(1);
  while (!text.empty() && isBlank(text.back())) text.remove_suffix(1);
  return text;
}

// `text` in single quotes for an error message: bytes outside printable ASCII as \xNN, long
// text cut short, so a hostile or binary file cannot put control characters into the logs.
std::string quoted(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (size_t i = 0; i < text.size() && i < kMaxQuotedBytes; ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte >= 0x20 && byte < 0x7f) {
      out += static_cast<char>(byte);
    } else {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  if (text.size() > kMaxQuotedBytes) out += "...";
  out += "'";
  return out;
}

// Splits a comma-separated list, trimming blanks around each element (elements may be empty).
std::vector<std::string_view> splitList(std::string_view text) {
  std::vector<std::string_view> items;
  for (;;) {
    const size_t comma = text.find(',');
    items.push_back(trimBlanks(text.substr(0, comma)));
    if (comma == std::string_view::npos) return items;
    text.remove_prefix(comma + 1);
  }
}

// A hint for a list element holding blanks: the likely mistake is a missing comma.
std::string blankHint(std::string_view item) {
  return std::any_of(item.begin(), item.end(), isBlank) ? " (list items are separated by commas)"
                                                        : "";
}

bool isLiteralByte(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("-._~:@").find(c) != std::string_view::npos;
}

bool isParameterName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    if (!letter && (i == 0 || c < '0' || c > '9')) return false;
  }
  return true;
}

// Why `path` is not a path template, or "" when it is one. See docs/policy.md §2.
std::string pathTemplateProblem(std::string_view path) {
  if (path.empty() || path.front() != '/') return "a path template starts with '/'";
  if (path == "/") return "";
  std::set<std::string_view> parameters;
  std::string_view rest = path.substr(1);
  for (;;) {
    const size_t slash = rest.find('/');
    const std::string_view segment = rest.substr(0, slash);
    if (segment.empty()) return "empty segment (a doubled or trailing '/')";
    if (segment.front() == '{' || segment.back() == '}') {
      if (segment.size() < 3 || segment.front() != '{' || segment.back() != '}' ||
          !isParameterName(segment.substr(1, segment.size() - 2))) {
        return "segment " + quoted(segment) +
               " is not a parameter {name} (a letter or '_', then letters, digits, '_')";
      }
      if (!parameters.insert(segment).second) return "parameter " + quoted(segment) + " twice";
    } else if (segment == "." || segment == "..") {
      return "segment " + quoted(segment) + " is not allowed";
    } else if (!std::all_of(segment.begin(), segment.end(), isLiteralByte)) {
      return "segment " + quoted(segment) + " holds a character other than A-Z a-z 0-9 - . _ ~ : @";
    }
    if (slash == std::string_view::npos) return "";
    rest.remove_prefix(slash + 1);
  }
}

std::string methodList() {
  std::string list;
  for (std::string_view method : kMethods) list += (list.empty() ? "" : ", ") + std::string(method);
  return list;
}

std::string roleList() {
  std::string list;
  for (std::string_view role : kRoleNames) list += (list.empty() ? "" : ", ") + std::string(role);
  return list;
}

std::string renderRoles(uint8_t roles) {
  if (roles == 0) return std::string(kNone);
  std::string text;
  for (size_t i = 0; i < kRoleNames.size(); ++i) {
    if ((roles & roleBit(static_cast<PolicyRole>(i))) == 0) continue;
    if (!text.empty()) text += ", ";
    text += kRoleNames[i];
  }
  return text;
}

// One rule line, split into its three parts but not yet checked. `error` set when the line has
// no recognisable shape.
struct RuleLine {
  std::string_view methods;
  std::string_view path;
  std::string_view roles;
  std::string error;
};

RuleLine splitRuleLine(std::string_view line) {
  RuleLine rule;
  // The path is the first blank-separated word starting with '/'; methods and roles never hold
  // a '/', so the split is unambiguous.
  size_t start = 0;
  while (start < line.size()) {
    while (start < line.size() && isBlank(line[start])) ++start;
    size_t end = start;
    while (end < line.size() && !isBlank(line[end])) ++end;
    if (start < end && line[start] == '/') {
      rule.methods = trimBlanks(line.substr(0, start));
      rule.path = line.substr(start, end - start);
      rule.roles = trimBlanks(line.substr(end));
      if (rule.methods.empty()) rule.error = "missing methods before the path";
      if (rule.roles.empty()) rule.error = "missing roles after the path";
      return rule;
    }
    start = end;
  }
  rule.error =
      "missing path: expected '<METHODS> <path template> <roles>', the path starting with '/'";
  return rule;
}

Result<uint8_t> parseRoleList(std::string_view text) {
  const std::vector<std::string_view> items = splitList(text);
  if (items.size() == 1 && items[0] == kNone) return uint8_t{0};
  uint8_t roles = 0;
  for (std::string_view item : items) {
    if (item == kNone) return Status::Invalid("'none' must be the only role of a rule");
    if (item.empty()) return Status::Invalid("empty role in " + quoted(text));
    Result<PolicyRole> role = parsePolicyRole(item);
    if (!role.ok()) {
      return Status::Invalid("unknown role " + quoted(item) + blankHint(item) + " (roles are " +
                             roleList() + ", or none alone)");
    }
    if ((roles & roleBit(*role)) != 0) return Status::Invalid("role " + quoted(item) + " twice");
    roles = static_cast<uint8_t>(roles | roleBit(*role));
  }
  return roles;
}

Result<std::vector<size_t>> parseMethodList(std::string_view text) {
  std::vector<size_t> methods;
  for (std::string_view item : splitList(text)) {
    if (item.empty()) return Status::Invalid("empty method in " + quoted(text));
    std::optional<size_t> index = methodIndex(item);
    if (!index) {
      return Status::Invalid("unknown method " + quoted(item) + blankHint(item) + " (methods are " +
                             methodList() + ", upper case)");
    }
    methods.push_back(*index);
  }
  return methods;
}

}  // namespace

std::string_view policyRoleName(PolicyRole role) {
  const auto index = static_cast<size_t>(role);
  assert(index < kRoleNames.size());
  return index < kRoleNames.size() ? kRoleNames[index] : std::string_view("unknown");
}

Result<PolicyRole> parsePolicyRole(std::string_view text) {
  for (size_t i = 0; i < kRoleNames.size(); ++i) {
    if (kRoleNames[i] == text) return static_cast<PolicyRole>(i);
  }
  return Status::Invalid("unknown role " + quoted(text) + " (roles are " + roleList() + ")");
}

Result<Policy> Policy::parse(std::string_view text, std::string_view source_name) {
  if (text.size() > kMaxPolicyBytes) {
    return Status::Invalid(std::string(source_name) + ": larger than the limit of " +
                           std::to_string(kMaxPolicyBytes) + " bytes");
  }
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a UTF-8 byte-order mark
  Policy policy;
  policy.source_name_ = source_name;
  int line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    line = trimBlanks(line);
    if (line.empty() || line.front() == '#') continue;

    auto fail = [&](const std::string& what) {
      return Status::Invalid(std::string(source_name) + " line " + std::to_string(line_number) +
                             ": " + what);
    };
    RuleLine rule = splitRuleLine(line);
    if (!rule.error.empty()) return fail(rule.error);
    Result<std::vector<size_t>> methods = parseMethodList(rule.methods);
    if (!methods.ok()) return fail(methods.status().message());
    if (std::string problem = pathTemplateProblem(rule.path); !problem.empty()) {
      return fail("malformed path " + quoted(rule.path) + ": " + problem);
    }
    Result<uint8_t> roles = parseRoleList(rule.roles);
    if (!roles.ok()) return fail(roles.status().message());

    Grants& grants = policy.rules_[std::string(rule.path)];
    for (size_t method : *methods) {
      Grant& grant = grants[method];
      if (grant.present) {
        return fail("duplicate rule for " + std::string(kMethods[method]) + " " +
                    std::string(rule.path) + " (first at line " + std::to_string(grant.line) + ")");
      }
      grant = Grant{*roles, line_number, true};
    }
  }
  return policy;
}

bool Policy::allows(std::string_view method, std::string_view path_template,
                    PolicyRole role) const {
  const std::optional<size_t> index = methodIndex(method);
  if (!index) return false;
  const auto found = rules_.find(path_template);
  if (found == rules_.end()) return false;
  const Grant& grant = found->second[*index];
  return grant.present && (grant.roles & roleBit(role)) != 0;
}

std::vector<std::string> Policy::unknownRules(
    const std::vector<std::pair<std::string, std::string>>& declared) const {
  const std::set<std::pair<std::string, std::string>> known(declared.begin(), declared.end());
  std::vector<std::string> stale;
  for (const auto& [path, grants] : rules_) {
    for (size_t i = 0; i < kMethodCount; ++i) {
      if (!grants[i].present || known.count({std::string(kMethods[i]), path}) != 0) continue;
      stale.push_back(source_name_ + " line " + std::to_string(grants[i].line) + ": " +
                      std::string(kMethods[i]) + " " + path);
    }
  }
  return stale;
}

std::vector<std::string> Policy::uncovered(
    const std::vector<std::pair<std::string, std::string>>& declared) const {
  std::set<std::pair<std::string, std::string>> reported;
  std::vector<std::string> missing;
  for (const auto& [method, path] : declared) {
    const std::optional<size_t> index = methodIndex(method);
    const auto found = rules_.find(path);
    if (index && found != rules_.end() && found->second[*index].present) continue;
    if (reported.insert({method, path}).second) missing.push_back(method + " " + path);
  }
  return missing;
}

std::string Policy::render() const {
  struct Line {
    std::string methods;
    std::string_view path;
    std::string roles;
  };
  std::vector<Line> lines;
  size_t methods_width = 0;
  size_t path_width = 0;
  for (const auto& [path, grants] : rules_) {
    std::array<bool, kMethodCount> done{};
    for (size_t first = 0; first < kMethodCount; ++first) {
      if (!grants[first].present || done[first]) continue;
      Line line{std::string(kMethods[first]), path, renderRoles(grants[first].roles)};
      for (size_t other = first + 1; other < kMethodCount; ++other) {
        if (grants[other].present && grants[other].roles == grants[first].roles) {
          line.methods += "," + std::string(kMethods[other]);
          done[other] = true;
        }
      }
      methods_width = std::max(methods_width, line.methods.size());
      path_width = std::max(path_width, line.path.size());
      lines.push_back(std::move(line));
    }
  }
  std::string text;
  for (const Line& line : lines) {
    text += line.methods;
    text.append(methods_width - line.methods.size() + 1, ' ');
    text += line.path;
    text.append(path_width - line.path.size() + 1, ' ');
    text += line.roles;
    text += '\n';
  }
  return text;
}

size_t Policy::ruleCount() const {
  size_t count = 0;
  for (const auto& entry : rules_) {
    count += static_cast<size_t>(std::count_if(entry.second.begin(), entry.second.end(),
                                               [](const Grant& grant) { return grant.present; }));
  }
  return count;
}

bool operator==(const Policy& a, const Policy& b) {
  auto sameGrant = [](const Policy::Grant& x, const Policy::Grant& y) {
    return x.present == y.present && (!x.present || x.roles == y.roles);
  };
  auto sameEntry = [&](const auto& x, const auto& y) {
    return x.first == y.first &&
           std::equal(x.second.begin(), x.second.end(), y.second.begin(), sameGrant);
  };
  return std::equal(a.rules_.begin(), a.rules_.end(), b.rules_.begin(), b.rules_.end(), sameEntry);
}

Result<Policy> readPolicyFile(const std::filesystem::path& path) {
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(path, error);
  if (status.type() == std::filesystem::file_type::not_found) {
    return Status::NotFound(path.string() + ": no such file");
  }
  if (status.type() == std::filesystem::file_type::directory) {
    return Status::Io(path.string() + ": is a directory, not a policy file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::Io(path.string() + ": cannot open: " + std::strerror(errno));
  // One byte more than the limit, so that parse() sees an over-long file as one.
  std::string text(kMaxPolicyBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return Status::Io(path.string() + ": read failed");
  text.resize(static_cast<size_t>(in.gcount()));
  return Policy::parse(text, path.string());
}

PolicyHolder::PolicyHolder(Policy initial, std::optional<std::filesystem::path> file)
    : file_(std::move(file)), current_(std::make_shared<const Policy>(std::move(initial))) {}

std::shared_ptr<const Policy> PolicyHolder::current() const {
  std::lock_guard lock(current_mutex_);
  return current_;
}

Status PolicyHolder::reload() {
  if (!file_) {
    return Status::Precondition(
        "no policy file to reload: the built-in default policy is in force");
  }
  std::lock_guard lock(reload_mutex_);
  Result<Policy> next = readPolicyFile(*file_);
  if (!next.ok()) return next.status();
  replace(std::move(next).value());
  return Status::Ok();
}

void PolicyHolder::replace(Policy next) {
  auto fresh = std::make_shared<const Policy>(std::move(next));
  std::lock_guard lock(current_mutex_);
  current_.swap(fresh);
  // `fresh` now holds the old policy; it is released after the lock, outside the readers' way.
}

}  // namespace tendril::service
