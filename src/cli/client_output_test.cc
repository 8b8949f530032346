// The CLI client's exit codes, table printer and query strings.
#include "cli/client_output.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

#include "cli/client_context.h"
#include "client/client.h"

namespace tendril::cli {
namespace {

TEST(ExitCodes, EveryProblemStatusHasItsDocumentedCode) {
  struct Case {
    unsigned http;
    std::string type;
    int exit;
  };
  const Case cases[] = {
      {200, "", 0},
      {400, "invalid-argument", 8},
      {401, "unauthenticated", 3},
      {403, "permission-denied", 4},
      {404, "not-found", 5},
      {409, "already-exists", 6},
      {409, "failed-precondition", 6},
      {413, "body-too-large", 8},
      {429, "resource-exhausted", 7},
      {500, "internal", 9},
      {503, "service-unavailable", 9},
  };
  for (const Case& c : cases) {
    std::string body = c.type.empty() ? ""
                                      : R"({"type": "https://tendril.dev/problems/)" + c.type +
                                            R"(", "title": "T", "detail": "D"})";
    EXPECT_EQ(exitCodeFor(client::statusFromReply(c.http, body)), c.exit) << c.http << c.type;
  }
}

TEST(ExitCodes, LocalFailuresHaveTheirCodes) {
  EXPECT_EQ(exitCodeFor(Status::Io("connection refused")), kExitServer);
  EXPECT_EQ(exitCodeFor(Status::Invalid("bad file")), kExitInvalid);
  EXPECT_EQ(exitCodeFor(Status(Code::kCancelled, "task failed")), kExitTaskNotFinished);
  EXPECT_EQ(exitCodeFor(Status::Ok()), kExitOk);
}

TEST(StatusFromReply, CarriesTitleAndDetailAndSplitsConflicts) {
  Status status = client::statusFromReply(
      409, R"({"type": "https://tendril.dev/problems/already-exists", "title": "Already exists",)"
           R"( "status": 409, "detail": "name is taken"})");
  EXPECT_EQ(status.code(), Code::kAlreadyExists);
  EXPECT_EQ(status.message(), "Already exists: name is taken");
  EXPECT_EQ(client::statusFromReply(409, R"({"type": "https://tendril.dev/problems/x"})").code(),
            Code::kFailedPrecondition);
  EXPECT_EQ(client::statusFromReply(502, "<html>").message(), "HTTP 502");
}

TEST(Table, ColumnsAreAsWideAsTheirWidestCell) {
  nlohmann::json items = nlohmann::json::parse(R"([
    {"id": "a", "name": "first", "stats": {"synapses": 12}, "gone": null},
    {"id": "bbbbbb", "name": "x", "stats": {"synapses": 3}, "gone": true}])");
  std::ostringstream out;
  printTable(out, items,
             {{"ID", "/id"}, {"NAME", "/name"}, {"SYN", "/stats/synapses"}, {"GONE", "/gone"}},
             false);
  EXPECT_EQ(out.str(),
            "ID      NAME   SYN  GONE\n"
            "a       first  12   -\n"
            "bbbbbb  x      3    true\n");
}

TEST(Table, StyledOnlyOnATerminalAndEmptyListsKeepTheHeader) {
  std::ostringstream plain, styled;
  printTable(plain, nlohmann::json::array(), {{"ID", "/id"}}, false);
  printTable(styled, nlohmann::json::array(), {{"ID", "/id"}}, true);
  EXPECT_EQ(plain.str(), "ID\n");
  EXPECT_NE(styled.str().find("\033[1m"), std::string::npos);
}

TEST(Table, PortsAndMissingFields) {
  nlohmann::json ports = nlohmann::json::parse(R"([{"name": "pixels", "width": 784}])");
  EXPECT_EQ(cellText(ports), "pixels:784");
  EXPECT_EQ(cellText(nlohmann::json()), "-");
  EXPECT_EQ(cellText(nlohmann::json::parse("[1,2]")), "[1,2]");
  std::ostringstream out;
  printFields(out, nlohmann::json{{"id", "x"}}, {{"id", "/id"}, {"missing", "/nope"}});
  EXPECT_EQ(out.str(), "id       x\nmissing  -\n");
}

TEST(Query, ValuesArePercentEncodedAndEmptyOnesLeftOut) {
  EXPECT_EQ(withQuery("/a", {{"limit", "5"}, {"cursor", ""}, {"x", "a b+c/é"}}),
            "/a?limit=5&x=a%20b%2Bc%2F%C3%A9");
  EXPECT_EQ(withQuery("/a", {{"cursor", ""}}), "/a");
}

TEST(Progress, PlainLinesEveryTenPercentOffATerminal) {
  std::ostringstream out;
  ProgressBar bar("images", false, out);
  for (uint64_t done = 0; done <= 1000; done += 25) bar.update(done, 1000);
  bar.finish("1000 B sent");
  std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 12) << text;  // 0 % .. 100 %, finish
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_EQ(text.find('\033'), std::string::npos);
  EXPECT_NE(text.find("images: 50%\n"), std::string::npos) << text;
  EXPECT_NE(text.find("images: 1000 B sent\n"), std::string::npos) << text;
}

TEST(Progress, ARedrawnBarOnATerminal) {
  std::ostringstream out;
  ProgressBar bar("task", true, out);
  bar.update(1, 4, "running");
  bar.update(2, 4, "running");
  EXPECT_EQ(out.str(),
            "\r\033[2Ktask [#######                       ] 25% running"
            "\r\033[2Ktask [###############               ] 50% running");
}

TEST(Bytes, HumanUnits) {
  EXPECT_EQ(humanBytes(512), "512 B");
  EXPECT_EQ(humanBytes(1536), "1.5 KiB");
  EXPECT_EQ(humanBytes(26421856), "25.2 MiB");
}

}  // namespace
}  // namespace tendril::cli
