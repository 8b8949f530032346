#include "api/problem.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

namespace tendril::api {
namespace {

constexpr Code kAllErrorCodes[] = {Code::kInvalidArgument,
                                   Code::kNotFound,
                                   Code::kAlreadyExists,
                                   Code::kFailedPrecondition,
                                   Code::kResourceExhausted,
                                   Code::kCorrupt,
                                   Code::kIo,
                                   Code::kCancelled,
                                   Code::kUnauthenticated,
                                   Code::kPermissionDenied,
                                   Code::kInternal};

TEST(ProblemTest, CodesMapToExpectedStatuses) {
  EXPECT_EQ(problemKindFor(Code::kInvalidArgument).status, 400u);
  EXPECT_EQ(problemKindFor(Code::kNotFound).status, 404u);
  EXPECT_EQ(problemKindFor(Code::kAlreadyExists).status, 409u);
  EXPECT_EQ(problemKindFor(Code::kFailedPrecondition).status, 409u);
  EXPECT_EQ(problemKindFor(Code::kResourceExhausted).status, 429u);
  EXPECT_EQ(problemKindFor(Code::kCorrupt).status, 422u);
  EXPECT_EQ(problemKindFor(Code::kIo).status, 500u);
  EXPECT_EQ(problemKindFor(Code::kCancelled).status, 409u);
  EXPECT_EQ(problemKindFor(Code::kUnauthenticated).status, 401u);
  EXPECT_EQ(problemKindFor(Code::kPermissionDenied).status, 403u);
  EXPECT_EQ(problemKindFor(Code::kInternal).status, 500u);
}

// Clients branch on `type`, so each error code needs its own stable URI.
TEST(ProblemTest, EveryCodeHasItsOwnTypeUri) {
  std::set<std::string_view> types;
  for (Code code : kAllErrorCodes) {
    ProblemKind kind = problemKindFor(code);
    EXPECT_TRUE(kind.type.starts_with("https://tendril.dev/problems/")) << kind.type;
    EXPECT_FALSE(kind.title.empty());
    types.insert(kind.type);
  }
  EXPECT_EQ(types.size(), std::size(kAllErrorCodes));
}

TEST(ProblemTest, OkIsNotAProblemAndRendersAsInternal) {
  EXPECT_EQ(problemKindFor(Code::kOk).status, 500u);
  EXPECT_EQ(problemKindFor(Code::kOk).type, problemKindFor(Code::kInternal).type);
}

TEST(ProblemTest, TransportProblemsHaveTheirStatuses) {
  EXPECT_EQ(problemKindFor(TransportProblem::kMalformedRequest).status, 400u);
  EXPECT_EQ(problemKindFor(TransportProblem::kRouteNotFound).status, 404u);
  EXPECT_EQ(problemKindFor(TransportProblem::kMethodNotAllowed).status, 405u);
  EXPECT_EQ(problemKindFor(TransportProblem::kBodyTooLarge).status, 413u);
  EXPECT_EQ(problemKindFor(TransportProblem::kUnsupportedMediaType).status, 415u);
  EXPECT_EQ(problemKindFor(TransportProblem::kHeadersTooLarge).status, 431u);
  EXPECT_EQ(problemKindFor(TransportProblem::kServiceUnavailable).status, 503u);
  EXPECT_EQ(problemKindFor(TransportProblem::kInternal).status, 500u);
  // A missing route and a missing object are the same kind to a client.
  EXPECT_EQ(problemKindFor(TransportProblem::kRouteNotFound).type,
            problemKindFor(Code::kNotFound).type);
}

// Every kind a client can meet has its own type URI, except where two kinds are the same thing
// to a client on purpose: a missing route and a missing object (not-found), a handler that
// broke its contract and a failed Status kInternal (internal).
TEST(ProblemTest, EveryProblemKindHasItsOwnTypeUri) {
  constexpr TransportProblem kAllTransportProblems[] = {
      TransportProblem::kMalformedRequest,     TransportProblem::kRouteNotFound,
      TransportProblem::kMethodNotAllowed,     TransportProblem::kBodyTooLarge,
      TransportProblem::kUnsupportedMediaType, TransportProblem::kHeadersTooLarge,
      TransportProblem::kServiceUnavailable,   TransportProblem::kInternal};
  std::set<std::string_view> types;
  for (Code code : kAllErrorCodes) types.insert(problemKindFor(code).type);
  for (TransportProblem problem : kAllTransportProblems) {
    ProblemKind kind = problemKindFor(problem);
    EXPECT_TRUE(kind.type.starts_with("https://tendril.dev/problems/")) << kind.type;
    EXPECT_FALSE(kind.title.empty());
    types.insert(kind.type);
  }
  constexpr size_t kSharedOnPurpose = 2;
  EXPECT_EQ(types.size(),
            std::size(kAllErrorCodes) + std::size(kAllTransportProblems) - kSharedOnPurpose);
  EXPECT_EQ(problemKindFor(TransportProblem::kInternal).type, problemKindFor(Code::kInternal).type);
  EXPECT_EQ(problemKindFor(TransportProblem::kUnsupportedMediaType).type,
            "https://tendril.dev/problems/unsupported-media-type");
}

TEST(ProblemTest, RendersExtensionMembersWithoutOverridingStandardOnes) {
  nlohmann::json extensions = {
      {"errors", {{{"field", "name"}, {"message", "is required"}}}},
      {"type", "https://evil.example/"},
      {"title", "x"},
      {"status", 200},
      {"detail", "y"},
      {"instance", "z"},
  };
  nlohmann::json body = nlohmann::json::parse(renderProblem(
      problemKindFor(Code::kInvalidArgument), "name: is required", "/api/v1/users", extensions));
  EXPECT_EQ(body["type"], "https://tendril.dev/problems/invalid-argument");
  EXPECT_EQ(body["title"], "Invalid argument");
  EXPECT_EQ(body["status"], 400);
  EXPECT_EQ(body["detail"], "name: is required");
  EXPECT_EQ(body["instance"], "/api/v1/users");
  EXPECT_EQ(body["errors"],
            nlohmann::json::parse(R"([{"field": "name", "message": "is required"}])"));
  EXPECT_EQ(body.size(), 6u);
  // Extensions that are not an object are ignored; an empty detail is still omitted.
  nlohmann::json plain = nlohmann::json::parse(
      renderProblem(problemKindFor(Code::kNotFound), "", "", nlohmann::json::array({1, 2})));
  EXPECT_EQ(plain.size(), 3u);
}

TEST(ProblemTest, RendersRfc9457Members) {
  nlohmann::json body = nlohmann::json::parse(
      renderProblem(problemKindFor(Code::kNotFound), "no cluster 42", "/api/v1/clusters/42"));
  EXPECT_EQ(body["type"], "https://tendril.dev/problems/not-found");
  EXPECT_EQ(body["title"], "Not found");
  EXPECT_EQ(body["status"], 404);
  EXPECT_EQ(body["detail"], "no cluster 42");
  EXPECT_EQ(body["instance"], "/api/v1/clusters/42");
}

TEST(ProblemTest, OmitsEmptyDetailAndInstance) {
  nlohmann::json body =
      nlohmann::json::parse(renderProblem(problemKindFor(Code::kInternal), "", ""));
  EXPECT_FALSE(body.contains("detail"));
  EXPECT_FALSE(body.contains("instance"));
  EXPECT_EQ(body["status"], 500);
}

// Details may quote client input; invalid UTF-8 must not make rendering throw.
TEST(ProblemTest, InvalidUtf8InDetailDoesNotThrow) {
  std::string detail = "bad byte \xff here";
  std::string rendered;
  EXPECT_NO_THROW(rendered = renderProblem(problemKindFor(Code::kInvalidArgument), detail));
  EXPECT_TRUE(nlohmann::json::accept(rendered));
}

}  // namespace
}  // namespace tendril::api
