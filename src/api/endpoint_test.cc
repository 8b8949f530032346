#include "api/endpoint.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace tendril::api {
namespace {

using service::PolicyRole;

// A users.create-shaped endpoint, plus fields covering every other type.
Endpoint createEndpoint() {
  Endpoint endpoint;
  endpoint.method = "POST";
  endpoint.path = "/api/v1/users";
  endpoint.operation_id = "users.create";
  endpoint.roles = {PolicyRole::kAdmin};
  endpoint.input = {
      Field::string("name").required().length(kMinNameLength, kMaxNameLength).pattern(kNamePattern),
      Field::string("password").required().length(8, 1024).secret(),
      Field::boolean("is_admin").defaultsTo(false),
  };
  return endpoint;
}

Request makeRequest(std::string method, std::string body = "", std::string query = "") {
  Request request;
  request.method = std::move(method);
  request.path = "/api/v1/test";
  request.query = std::move(query);
  request.body = std::move(body);
  if (!request.body.empty()) request.headers["content-type"] = "application/json";
  return request;
}

Request post(std::string body) { return makeRequest("POST", std::move(body)); }

Endpoint withInput(std::string method, std::vector<Field> input) {
  Endpoint endpoint;
  endpoint.method = std::move(method);
  endpoint.path = "/api/v1/test";
  endpoint.operation_id = "test.op";
  endpoint.input = std::move(input);
  return endpoint;
}

// The messages of `result`, by field, for compact assertions.
std::vector<std::pair<std::string, std::string>> errorsOf(const ValidatedInput& result) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const FieldError& error : result.errors) out.emplace_back(error.field, error.message);
  return out;
}

// The one error of `result` (fails the test when there is not exactly one).
FieldError onlyError(const ValidatedInput& result) {
  EXPECT_EQ(result.errors.size(), 1u);
  return result.errors.empty() ? FieldError{"<none>", "<none>"} : result.errors.front();
}

ValidatedInput validateBody(const Field& field, const std::string& body) {
  return validateInput(withInput("POST", {field}), post(body));
}

ValidatedInput validateQuery(std::vector<Field> fields, std::string query) {
  return validateInput(withInput("GET", std::move(fields)),
                       makeRequest("GET", "", std::move(query)));
}

// The message of the one error validating `body` or `query` gives.
std::string bodyMessage(const Field& field, const std::string& body) {
  return onlyError(validateBody(field, body)).message;
}
std::string queryMessage(std::vector<Field> fields, std::string query) {
  return onlyError(validateQuery(std::move(fields), std::move(query))).message;
}

TEST(FieldTypeNameTest, UsesJsonSchemaSpelling) {
  EXPECT_EQ(fieldTypeName(FieldType::kString), "string");
  EXPECT_EQ(fieldTypeName(FieldType::kInteger), "integer");
  EXPECT_EQ(fieldTypeName(FieldType::kNumber), "number");
  EXPECT_EQ(fieldTypeName(FieldType::kBoolean), "boolean");
  EXPECT_EQ(fieldTypeName(FieldType::kObject), "object");
  EXPECT_EQ(fieldTypeName(FieldType::kArray), "array");
}

// ---- Body -----------------------------------------------------------------------------------

TEST(ValidateBodyTest, ValidCreatePassesWithDefaultsApplied) {
  ValidatedInput result =
      validateInput(createEndpoint(), post(R"({"name": "ada", "password": "correct horse"})"));
  ASSERT_TRUE(result.ok()) << result.errors.front().message;
  EXPECT_EQ(result.input["name"], "ada");
  EXPECT_EQ(result.input["password"], "correct horse");
  EXPECT_EQ(result.input["is_admin"], false);  // the default
}

TEST(ValidateBodyTest, SentValueWinsOverDefault) {
  ValidatedInput result = validateInput(
      createEndpoint(), post(R"({"name": "ada", "password": "correct horse", "is_admin": true})"));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.input["is_admin"], true);
}

TEST(ValidateBodyTest, OptionalFieldWithoutDefaultStaysAbsent) {
  ValidatedInput result = validateInput(withInput("PATCH", {Field::string("name")}), post(""));
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.input, nlohmann::json::object());
}

TEST(ValidateBodyTest, EmptyBodyCountsAsEmptyObject) {
  ValidatedInput result = validateInput(createEndpoint(), post(""));
  EXPECT_EQ(errorsOf(result), (std::vector<std::pair<std::string, std::string>>{
                                  {"name", "is required"}, {"password", "is required"}}));
  EXPECT_TRUE(validateInput(withInput("POST", {Field::integer("n")}), post("")).ok());
}

TEST(ValidateBodyTest, NonJsonContentTypeIsUnsupportedMediaType) {
  Request request = post(R"({"name": "ada", "password": "correct horse"})");
  request.headers["content-type"] = "text/plain";
  ValidatedInput result = validateInput(createEndpoint(), request);
  EXPECT_TRUE(result.unsupported_media_type);
  EXPECT_FALSE(result.ok());
  EXPECT_TRUE(result.errors.empty());

  request.headers.erase("content-type");
  EXPECT_TRUE(validateInput(createEndpoint(), request).unsupported_media_type);

  Response response = inputProblem(validateInput(createEndpoint(), request), "/api/v1/users");
  EXPECT_EQ(response.status, 415u);
  EXPECT_EQ(response.content_type, kProblemContentType);
  EXPECT_EQ(nlohmann::json::parse(response.body)["type"],
            "https://tendril.dev/problems/unsupported-media-type");
}

TEST(ValidateBodyTest, JsonContentTypeWithParametersAndAnyCaseIsAccepted) {
  Request request = post(R"({"name": "ada", "password": "correct horse"})");
  for (std::string type : {"application/json; charset=utf-8", "Application/JSON",
                           " application/json ;charset=UTF-8"}) {
    request.headers["content-type"] = type;
    EXPECT_TRUE(validateInput(createEndpoint(), request).ok()) << type;
  }
  request.headers["content-type"] = "application/jsonx";
  EXPECT_TRUE(validateInput(createEndpoint(), request).unsupported_media_type);
}

TEST(ValidateBodyTest, EmptyBodyNeedsNoContentType) {
  Request request = post("");
  request.headers["content-type"] = "text/plain";
  ValidatedInput result = validateInput(withInput("POST", {}), request);
  EXPECT_TRUE(result.ok());
}

TEST(ValidateBodyTest, GetAndDeleteMustNotHaveABody) {
  for (std::string method : {"GET", "DELETE"}) {
    ValidatedInput result = validateInput(withInput(method, {}), makeRequest(method, "{}"));
    FieldError error = onlyError(result);
    EXPECT_EQ(error.field, "");
    EXPECT_EQ(error.message, "a " + method + " request must not have a body");
    EXPECT_TRUE(validateInput(withInput(method, {}), makeRequest(method)).ok());
  }
}

TEST(ValidateBodyTest, InvalidJsonIsRefusedWithoutQuotingIt) {
  ValidatedInput result = validateInput(createEndpoint(), post(R"({"password": "s3cr3t-value)"));
  FieldError error = onlyError(result);
  EXPECT_EQ(error.field, "");
  EXPECT_EQ(error.message, "the body is not valid JSON");
}

// Regression: nlohmann's lexer stops at a NUL byte, so `{...}\0junk` parsed as the object
// before it and a login with trailing garbage succeeded.
TEST(ValidateBodyTest, ABodyWithANulByteIsNotJson) {
  std::string body = R"({"name": "ada", "password": "long-enough"})";
  body += std::string(1, '\0') + "garbage";
  FieldError error = onlyError(validateInput(createEndpoint(), post(body)));
  EXPECT_EQ(error.field, "");
  EXPECT_EQ(error.message, "the body is not valid JSON: it contains a NUL byte");
}

TEST(ValidateBodyTest, NonObjectBodiesAreRefused) {
  for (std::string body : {"[]", "1", "\"x\"", "null", "true", "[{\"name\": \"ada\"}]"}) {
    ValidatedInput result = validateInput(createEndpoint(), post(body));
    FieldError error = onlyError(result);
    EXPECT_EQ(error.field, "") << body;
    EXPECT_EQ(error.message, "the body must be a JSON object") << body;
  }
}

TEST(ValidateBodyTest, DepthBombIsRefusedBeforeParsing) {
  Field meta = Field::object("meta");
  // {"meta": [[[...]]]}: the object is level 1, so 63 brackets inside reach the limit exactly.
  auto nested = [](size_t levels) {
    return R"({"meta": )" + std::string(levels, '[') + std::string(levels, ']') + "}";
  };
  EXPECT_EQ(bodyMessage(meta, nested(kMaxBodyDepth - 1)), "must be an object");
  FieldError error = onlyError(validateBody(meta, nested(kMaxBodyDepth)));
  EXPECT_EQ(error.field, "");
  EXPECT_NE(error.message.find("deeper than 64"), std::string::npos);
  // A million brackets: refused at once, and nothing recurses.
  EXPECT_EQ(onlyError(validateBody(meta, std::string(1'000'000, '['))).field, "");
  // Brackets inside strings do not count.
  std::string in_string = R"({"meta": {"note": ")" + std::string(500, '[') + R"("}})";
  EXPECT_TRUE(validateBody(meta, in_string).ok());
  std::string escaped_quote = R"({"meta": {"note": "\")" + std::string(500, '{') + R"("}})";
  EXPECT_TRUE(validateBody(meta, escaped_quote).ok());
}

TEST(ValidateBodyTest, KeyGivenTwiceIsRefused) {
  ValidatedInput result = validateInput(
      createEndpoint(), post(R"({"name": "ada", "name": "bob", "password": "correct horse"})"));
  FieldError error = onlyError(result);
  EXPECT_EQ(error.field, "name");
  EXPECT_EQ(error.message, "is given more than once in the body");
}

TEST(ValidateBodyTest, UnknownKeysAreRefusedAfterDeclaredFields) {
  std::string long_key(200, 'k');
  ValidatedInput result = validateInput(
      createEndpoint(),
      post(R"({"name": "ada", "nmae": "x", "password": "short", ")" + long_key + R"(": 1})"));
  ASSERT_EQ(result.errors.size(), 3u);
  EXPECT_EQ(result.errors[0].field, "password");
  // Unknown keys in the body's (sorted) order, long names cut.
  EXPECT_EQ(result.errors[1].field, std::string(64, 'k') + "...");
  EXPECT_EQ(result.errors[1].message, "is not a known field");
  EXPECT_EQ(result.errors[2].field, "nmae");
}

// ---- Integers and numbers -------------------------------------------------------------------

TEST(ValidateIntegerTest, HugeIntegersAreRefused) {
  Field big = Field::integer("n");
  for (std::string literal :
       {"99999999999999999999", "9223372036854775808", "-9223372036854775809", "1e19"}) {
    EXPECT_EQ(bodyMessage(big, R"({"n": )" + literal + "}"), "is outside the 64-bit integer range")
        << literal;
  }
  // The parser refuses a literal that overflows a double outright.
  FieldError overflow = onlyError(validateBody(big, R"({"n": 1e400})"));
  EXPECT_EQ(overflow.field, "");
  EXPECT_EQ(overflow.message, "the body is not valid JSON");
}

TEST(ValidateIntegerTest, Int64EdgesPass) {
  Field big = Field::integer("n");
  ValidatedInput high = validateBody(big, R"({"n": 9223372036854775807})");
  ASSERT_TRUE(high.ok());
  EXPECT_EQ(high.input["n"].get<int64_t>(), INT64_MAX);
  EXPECT_TRUE(high.input["n"].is_number_integer());
  ValidatedInput low = validateBody(big, R"({"n": -9223372036854775808})");
  ASSERT_TRUE(low.ok());
  EXPECT_EQ(low.input["n"].get<int64_t>(), INT64_MIN);
}

TEST(ValidateIntegerTest, IntegralFloatIsRefusedAndSaysWhy) {
  Field count = Field::integer("n");
  for (std::string literal : {"5.0", "5e2", "-0.0"}) {
    EXPECT_EQ(bodyMessage(count, R"({"n": )" + literal + "}"),
              "must be an integer written without a decimal point or exponent")
        << literal;
  }
  for (std::string literal : {"5.5", "\"5\"", "true", "null", "[5]"}) {
    EXPECT_EQ(bodyMessage(count, R"({"n": )" + literal + "}"), "must be an integer") << literal;
  }
  EXPECT_TRUE(validateBody(count, R"({"n": 5})").ok());
}

TEST(ValidateIntegerTest, RangeIsInclusive) {
  Field limit = Field::integer("limit").range(1, 1000);
  EXPECT_TRUE(validateBody(limit, R"({"limit": 1})").ok());
  EXPECT_TRUE(validateBody(limit, R"({"limit": 1000})").ok());
  EXPECT_EQ(bodyMessage(limit, R"({"limit": 0})"), "must be 1 to 1000");
  EXPECT_EQ(bodyMessage(limit, R"({"limit": 1001})"), "must be 1 to 1000");
  Field at_least = Field::integer("n");
  at_least.min_value = -5;
  EXPECT_EQ(bodyMessage(at_least, R"({"n": -6})"), "must be at least -5");
}

TEST(ValidateNumberTest, AcceptsIntegersAndFractionsWithinRange) {
  Field rate = Field::number("rate").range(0, 1);
  ValidatedInput half = validateBody(rate, R"({"rate": 0.5})");
  ASSERT_TRUE(half.ok());
  EXPECT_DOUBLE_EQ(half.input["rate"].get<double>(), 0.5);
  EXPECT_TRUE(validateBody(rate, R"({"rate": 1})").ok());
  EXPECT_EQ(bodyMessage(rate, R"({"rate": 1.0001})"), "must be 0 to 1");
  EXPECT_EQ(bodyMessage(rate, R"({"rate": -1})"), "must be 0 to 1");
  EXPECT_EQ(bodyMessage(rate, R"({"rate": 18446744073709551615})"), "must be 0 to 1");
  EXPECT_EQ(bodyMessage(rate, R"({"rate": "0.5"})"), "must be a number");
}

TEST(ValidateNumberTest, QueryRefusesNanAndInfinity) {
  Field rate = Field::number("rate").inQuery();
  for (std::string text : {"nan", "inf", "-inf", "infinity", "1e400", "0x10", "1.5x", ""}) {
    EXPECT_EQ(queryMessage({rate}, "rate=" + text), "must be a finite number") << text;
  }
  ValidatedInput ok = validateQuery({rate}, "rate=-1.5e3");
  ASSERT_TRUE(ok.ok());
  EXPECT_DOUBLE_EQ(ok.input["rate"].get<double>(), -1500.0);
}

// ---- Strings --------------------------------------------------------------------------------

TEST(ValidateStringTest, LengthCountsCodePoints) {
  Field word = Field::string("w").length(2, 3);
  EXPECT_TRUE(validateBody(word, R"({"w": "日本"})").ok());           // 2 code points, 6 bytes
  EXPECT_TRUE(validateBody(word, R"({"w": "\u00e9t\u00e9"})").ok());  // 3 code points
  EXPECT_EQ(bodyMessage(word, R"({"w": "日本語x"})"), "must be 2 to 3 characters long");
  EXPECT_EQ(bodyMessage(word, R"({"w": "a"})"), "must be 2 to 3 characters long");
  EXPECT_EQ(bodyMessage(word, R"({"w": 12})"), "must be a string");
}

TEST(ValidateStringTest, InvalidUtf8IsRefused) {
  Field text = Field::string("q").inQuery();
  // Stray continuation byte, truncated sequence, overlong '/', a surrogate, above U+10FFFF.
  for (std::string bad : {"%FF", "%80", "a%C3", "%C0%AF", "%ED%A0%80", "%F4%90%80%80"}) {
    EXPECT_EQ(queryMessage({text}, "q=" + bad), "must be valid UTF-8") << bad;
  }
  ValidatedInput good = validateQuery({text}, "q=%C3%A9%F0%9F%8C%B1");
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good.input["q"], "\xC3\xA9\xF0\x9F\x8C\xB1");
  // Raw invalid UTF-8 in a JSON body is refused by the JSON parser itself.
  EXPECT_EQ(onlyError(validateBody(Field::string("q"), "{\"q\": \"\xFF\"}")).field, "");
}

TEST(ValidateStringTest, NulIsRefused) {
  EXPECT_EQ(bodyMessage(Field::string("s"), R"({"s": "a\u0000b"})"),
            "must not contain NUL characters");
  EXPECT_EQ(queryMessage({Field::string("s").inQuery()}, "s=a%00"),
            "must not contain NUL characters");
}

TEST(ValidateStringTest, SqlMetacharactersPassUntouchedUnlessThePatternRefusesThem) {
  const std::string sneaky = "Robert'); DROP TABLE users;-- \"%_\\";
  nlohmann::json body = {{"note", sneaky}};
  ValidatedInput free_text = validateBody(Field::string("note").length(1, 100), body.dump());
  ASSERT_TRUE(free_text.ok());
  EXPECT_EQ(free_text.input["note"], sneaky);

  ValidatedInput name =
      validateInput(createEndpoint(),
                    post(nlohmann::json({{"name", sneaky}, {"password", "correct horse"}}).dump()));
  FieldError error = onlyError(name);
  EXPECT_EQ(error.field, "name");
  EXPECT_EQ(error.message, "must match " + std::string(kNamePattern));
}

TEST(ValidateStringTest, PatternMustMatchTheWholeValue) {
  Field digits = Field::string("d").pattern("[0-9]+");
  EXPECT_TRUE(validateBody(digits, R"({"d": "123"})").ok());
  EXPECT_EQ(bodyMessage(digits, R"({"d": "12a3"})"), "must match [0-9]+");
  Field id = Field::string("id").pattern(kUuidPattern);
  EXPECT_TRUE(validateBody(id, R"({"id": "0f8fad5b-d9cb-469f-a165-70867728950e"})").ok());
  EXPECT_FALSE(validateBody(id, R"({"id": "0F8FAD5B-D9CB-469F-A165-70867728950E"})").ok());
}

TEST(ValidateStringTest, LongValuesAreNotRunThroughTheRegex) {
  // No max_length: anything over kMaxPatternInputBytes is refused before std::regex sees it
  // (its recursion would overflow the stack on long input).
  Field unbounded = Field::string("s").pattern("[a-z]*");
  nlohmann::json ok = {{"s", std::string(kMaxPatternInputBytes, 'a')}};
  EXPECT_TRUE(validateBody(unbounded, ok.dump()).ok());
  nlohmann::json huge = {{"s", std::string(200'000, 'a')}};
  EXPECT_EQ(bodyMessage(unbounded, huge.dump()),
            "must be at most 4096 bytes long to be checked against its pattern");
  // With a max_length the length rule answers first.
  Field name = Field::string("s").length(1, 64).pattern(kNamePattern);
  EXPECT_EQ(bodyMessage(name, huge.dump()), "must be 1 to 64 characters long");
}

TEST(ValidateStringTest, InvalidPatternIsReportedNotThrown) {
  Field broken = Field::string("s").pattern("([a-z");
  EXPECT_EQ(bodyMessage(broken, R"({"s": "abc"})"),
            "cannot be checked: the server declares an invalid pattern");
}

TEST(ValidateStringTest, EnumerationIsEnforced) {
  Field role = Field::string("role").oneOf({"member", "project-admin"});
  EXPECT_TRUE(validateBody(role, R"({"role": "project-admin"})").ok());
  EXPECT_EQ(bodyMessage(role, R"({"role": "admin"})"), "must be one of: member, project-admin");
  EXPECT_FALSE(validateBody(role, R"({"role": "Member"})").ok());
  // An enumeration does not switch the pattern off.
  Field both = Field::string("role").oneOf({"member", "Admin!"}).pattern("[a-z]+");
  EXPECT_TRUE(validateBody(both, R"({"role": "member"})").ok());
  EXPECT_EQ(bodyMessage(both, R"({"role": "Admin!"})"), "must match [a-z]+");
}

// ---- Objects, arrays, booleans --------------------------------------------------------------

TEST(ValidateStructuredTest, ObjectsAndArraysAreTypeCheckedWithItemCounts) {
  Field meta = Field::object("meta");
  EXPECT_TRUE(validateBody(meta, R"({"meta": {"a": [1, {"b": null}]}})").ok());
  EXPECT_EQ(bodyMessage(meta, R"({"meta": []})"), "must be an object");
  Field tags = Field::array("tags").length(1, 2);
  EXPECT_TRUE(validateBody(tags, R"({"tags": ["a", 2]})").ok());
  EXPECT_EQ(bodyMessage(tags, R"({"tags": []})"), "must be 1 to 2 items");
  EXPECT_EQ(bodyMessage(tags, R"({"tags": [1, 2, 3]})"), "must be 1 to 2 items");
  EXPECT_EQ(bodyMessage(tags, R"({"tags": "a"})"), "must be an array");
  EXPECT_EQ(bodyMessage(Field::boolean("b"), R"({"b": "true"})"), "must be true or false");
  EXPECT_EQ(bodyMessage(Field::boolean("b"), R"({"b": null})"), "must be true or false");
}

// ---- Query ----------------------------------------------------------------------------------

TEST(ValidateQueryTest, PercentDecodesKeysAndValuesAndKeepsPlus) {
  Field text = Field::string("q").inQuery();
  ValidatedInput result = validateQuery({text}, "%71=a%20b%2Fc+d");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.input["q"], "a b/c+d");
}

TEST(ValidateQueryTest, BadEscapeIsAFieldError) {
  Field text = Field::string("q").inQuery();
  FieldError error = onlyError(validateQuery({text}, "q=%zz"));
  EXPECT_EQ(error.field, "q");
  EXPECT_EQ(error.message, "is not correctly percent-encoded");
  EXPECT_EQ(queryMessage({text}, "q=%2"), "is not correctly percent-encoded");
  FieldError key = onlyError(validateQuery({text}, "%zz=1"));
  EXPECT_EQ(key.field, "");
}

TEST(ValidateQueryTest, RepeatedKeyIsRefused) {
  Field limit = Field::integer("limit").inQuery();
  FieldError error = onlyError(validateQuery({limit}, "limit=5&limit=6"));
  EXPECT_EQ(error.field, "limit");
  EXPECT_EQ(error.message, "is given more than once in the query");
  // Also when one spelling is escaped.
  EXPECT_EQ(onlyError(validateQuery({limit}, "limit=5&%6cimit=5")).field, "limit");
}

TEST(ValidateQueryTest, UnknownKeyIsRefused) {
  FieldError error = onlyError(validateQuery({Field::integer("limit").inQuery()}, "limt=5"));
  EXPECT_EQ(error.field, "limt");
  EXPECT_EQ(error.message, "is not a known query parameter");
}

TEST(ValidateQueryTest, EmptyPairsSkippedAndBareKeyIsEmptyValue) {
  std::vector<Field> fields = {Field::string("cursor").inQuery(),
                               Field::integer("limit").inQuery()};
  ValidatedInput result = validateQuery(fields, "&&cursor&limit=3&");
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.input["cursor"], "");
  EXPECT_EQ(result.input["limit"], 3);
  EXPECT_EQ(queryMessage(fields, "limit"), "must be an integer");
}

TEST(ValidateQueryTest, BooleansAreTrueOrFalseOnly) {
  Field cascade = Field::boolean("cascade").inQuery().defaultsTo(false);
  EXPECT_EQ(validateQuery({cascade}, "cascade=true").input["cascade"], true);
  EXPECT_EQ(validateQuery({cascade}, "cascade=false").input["cascade"], false);
  EXPECT_EQ(validateQuery({cascade}, "").input["cascade"], false);
  for (std::string text : {"1", "TRUE", "yes", "", "true "}) {
    EXPECT_EQ(queryMessage({cascade}, "cascade=" + text), "must be true or false") << text;
  }
}

TEST(ValidateQueryTest, IntegersMustBeWholeAndInRange) {
  Field limit = Field::integer("limit").inQuery().range(1, 1000).defaultsTo(50);
  EXPECT_EQ(validateQuery({limit}, "limit=5").input["limit"], 5);
  EXPECT_EQ(validateQuery({limit}, "").input["limit"], 50);
  for (std::string text : {"5x", "+5", " 5", "5.0", "", "0x10"}) {
    EXPECT_EQ(queryMessage({limit}, "limit=" + text), "must be an integer") << text;
  }
  EXPECT_EQ(queryMessage({limit}, "limit=99999999999999999999"),
            "is outside the 64-bit integer range");
  EXPECT_EQ(queryMessage({limit}, "limit=0"), "must be 1 to 1000");
  EXPECT_EQ(queryMessage({limit}, "limit=-1"), "must be 1 to 1000");
}

TEST(ValidateQueryTest, TooManyPairsAreRefused) {
  std::string query;
  for (size_t i = 0; i <= kMaxQueryParameters; ++i) query += "k" + std::to_string(i) + "=1&";
  FieldError error = onlyError(validateQuery({}, query));
  EXPECT_EQ(error.field, "");
  EXPECT_EQ(error.message, "the query has more than 256 parameters");
}

// ---- Path -----------------------------------------------------------------------------------

TEST(ValidatePathTest, PathParametersAreConvertedAndChecked) {
  Endpoint endpoint = withInput("GET", {Field::string("id").inPath().pattern(kUuidPattern),
                                        Field::integer("n").inPath().range(0, 9)});
  Request request = makeRequest("GET");
  request.path_params = {{"id", "0f8fad5b-d9cb-469f-a165-70867728950e"}, {"n", "7"}};
  ValidatedInput result = validateInput(endpoint, request);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result.input["n"], 7);

  request.path_params = {{"id", "../etc/passwd"}, {"n", "x"}};
  EXPECT_EQ(errorsOf(validateInput(endpoint, request)),
            (std::vector<std::pair<std::string, std::string>>{
                {"id", "must match " + std::string(kUuidPattern)}, {"n", "must be an integer"}}));
  request.path_params = {};
  EXPECT_EQ(errorsOf(validateInput(endpoint, request)),
            (std::vector<std::pair<std::string, std::string>>{{"id", "is required"},
                                                              {"n", "is required"}}));
}

// ---- Secrets, ordering, the problem ---------------------------------------------------------

TEST(ValidateSecretTest, SecretValueNeverAppearsInMessages) {
  const std::string secret = "hunter2";  // too short for the 8..1024 rule
  Request request = post(nlohmann::json({{"name", "ada"}, {"password", secret}}).dump());
  ValidatedInput result = validateInput(createEndpoint(), request);
  FieldError error = onlyError(result);
  EXPECT_EQ(error.field, "password");
  EXPECT_EQ(error.message.find(secret), std::string::npos);
  Response response = validationProblem(result.errors, "/api/v1/users");
  EXPECT_EQ(response.body.find(secret), std::string::npos);

  Field pin = Field::string("pin").pattern("[0-9]{4}").secret();
  std::string wrong_pin = "12ab";
  ValidatedInput pin_result = validateBody(pin, R"({"pin": ")" + wrong_pin + R"("})");
  EXPECT_EQ(validationProblem(pin_result.errors, "").body.find(wrong_pin), std::string::npos);
}

TEST(ValidateOrderTest, AllErrorsAreCollectedInDeclarationOrder) {
  // Declared zeta, alpha, mid; the parser keeps body keys sorted, errors follow declarations.
  Endpoint endpoint = withInput(
      "POST", {Field::integer("zeta").required(), Field::string("alpha").length(5, 9),
               Field::integer("limit").inQuery().range(1, 10), Field::boolean("mid").required()});
  Request request = post(R"({"alpha": "abc", "extra": 1, "zeta": "z"})");
  request.query = "limit=50&bogus=1";
  EXPECT_EQ(
      errorsOf(validateInput(endpoint, request)),
      (std::vector<std::pair<std::string, std::string>>{{"zeta", "must be an integer"},
                                                        {"alpha", "must be 5 to 9 characters long"},
                                                        {"limit", "must be 1 to 10"},
                                                        {"mid", "is required"},
                                                        {"bogus", "is not a known query parameter"},
                                                        {"extra", "is not a known field"}}));
}

TEST(ValidationProblemTest, ListsEveryErrorAsInvalidArgument) {
  std::vector<FieldError> errors = {{"name", "must match x"}, {"password", "is required"}};
  Response response = validationProblem(errors, "/api/v1/users");
  EXPECT_EQ(response.status, 400u);
  EXPECT_EQ(response.content_type, kProblemContentType);
  nlohmann::json body = nlohmann::json::parse(response.body);
  EXPECT_EQ(body["type"], "https://tendril.dev/problems/invalid-argument");
  EXPECT_EQ(body["detail"], "name: must match x; password: is required");
  EXPECT_EQ(body["instance"], "/api/v1/users");
  EXPECT_EQ(body["errors"], nlohmann::json::parse(R"([{"field": "name", "message": "must match x"},
      {"field": "password", "message": "is required"}])"));
}

TEST(ValidationProblemTest, WholeRequestErrorsAreMalformedRequests) {
  ValidatedInput result = validateInput(createEndpoint(), post("[]"));
  Response response = inputProblem(result, "/api/v1/users");
  EXPECT_EQ(response.status, 400u);
  nlohmann::json body = nlohmann::json::parse(response.body);
  EXPECT_EQ(body["type"], "https://tendril.dev/problems/malformed-request");
  EXPECT_EQ(body["detail"], "the body must be a JSON object");
  EXPECT_EQ(body["errors"][0]["field"], "");
}

TEST(ValidationProblemTest, LongDetailIsCutButErrorsStayComplete) {
  std::vector<FieldError> errors;
  for (int i = 0; i < 100; ++i) errors.push_back({"field" + std::to_string(i), "is required"});
  nlohmann::json body = nlohmann::json::parse(validationProblem(errors, "").body);
  EXPECT_EQ(body["errors"].size(), 100u);
  std::string detail = body["detail"];
  EXPECT_LE(detail.size(), 600u);
  EXPECT_NE(detail.find("more (see errors)"), std::string::npos);
}

// Whatever the bytes, validation returns (it never throws) and the result renders.
TEST(ValidateNullableTest, NullIsAcceptedOnlyWhereDeclared) {
  Field limit = Field::integer("limit").range(0, 10).nullable();
  ValidatedInput result = validateBody(limit, R"({"limit": null})");
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result.input.contains("limit"));
  EXPECT_TRUE(result.input["limit"].is_null());
  EXPECT_EQ(validateBody(limit, R"({"limit": 4})").input["limit"], 4);
  EXPECT_EQ(bodyMessage(limit, R"({"limit": 11})"), "must be 0 to 10");
  EXPECT_EQ(bodyMessage(Field::integer("limit"), R"({"limit": null})"), "must be an integer");
  // A required nullable field is satisfied by null; "null" in a query is just text.
  EXPECT_TRUE(validateBody(Field::integer("limit").required().nullable(), R"({"limit": null})")
                  .ok());
  EXPECT_EQ(queryMessage({Field::integer("limit").inQuery().nullable()}, "limit=null"),
            "must be an integer");
}

Endpoint rawUpload() {
  Endpoint endpoint = withInput("PUT", {Field::string("part").inPath(),
                                        Field::integer("offset").inQuery().range(0, 100)});
  endpoint.raw_body = true;
  return endpoint;
}

TEST(ValidateRawBodyTest, AnyBytesAndContentTypePassUntouched) {
  Request request = makeRequest("PUT", std::string("\x89PNG\0{\"x\":", 10), "offset=5");
  request.path_params["part"] = "images";
  for (std::string content_type : {"application/octet-stream", "", "text/plain", "application/json"}) {
    request.headers["content-type"] = content_type;
    ValidatedInput result = validateInput(rawUpload(), request);
    ASSERT_TRUE(result.ok()) << content_type;
    EXPECT_EQ(result.input, (nlohmann::json{{"part", "images"}, {"offset", 5}})) << content_type;
  }
  request.body.clear();  // an empty upload is the handler's business too
  EXPECT_TRUE(validateInput(rawUpload(), request).ok());
}

TEST(ValidateRawBodyTest, PathAndQueryAreStillChecked) {
  Request request = makeRequest("PUT", "bytes", "offset=101&extra=1");
  request.headers["content-type"] = "application/octet-stream";
  ValidatedInput result = validateInput(rawUpload(), request);
  EXPECT_EQ(errorsOf(result),
            (std::vector<std::pair<std::string, std::string>>{{"part", "is required"},
                                                              {"offset", "must be 0 to 100"},
                                                              {"extra", "is not a known query parameter"}}));
}

TEST(ValidateRawBodyTest, ABodyFieldOnARawEndpointIsReportedNotIgnored) {
  Endpoint endpoint = rawUpload();
  endpoint.input.push_back(Field::string("name"));
  Request request = makeRequest("PUT", "bytes", "");
  request.path_params["part"] = "p";
  FieldError error = onlyError(validateInput(endpoint, request));
  EXPECT_EQ(error.field, "name");
  EXPECT_NE(error.message.find("raw bytes"), std::string::npos);
}

TEST(ValidateRawBodyTest, RawBodyDoesNotOpenGetToBodies) {
  Endpoint endpoint = withInput("GET", {});
  endpoint.raw_body = true;
  EXPECT_EQ(onlyError(validateInput(endpoint, makeRequest("GET", "bytes"))).field, "");
}

TEST(ValidateRobustnessTest, RandomBodiesAndQueriesNeverThrow) {
  std::mt19937 random(12345);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<size_t> length(0, 64);
  const std::string alphabet = "{}[]\",:0123456789.eE-+ \\u%&=tfnaslr";
  Endpoint endpoint = createEndpoint();
  endpoint.input.push_back(Field::integer("limit").inQuery().range(1, 10));
  for (int round = 0; round < 3000; ++round) {
    std::string body;
    std::string query;
    size_t n = length(random);
    for (size_t i = 0; i < n; ++i) {
      body += round % 2 ? static_cast<char>(byte(random))
                        : alphabet[static_cast<size_t>(byte(random)) % alphabet.size()];
      query += alphabet[static_cast<size_t>(byte(random)) % alphabet.size()];
    }
    Request request = post(body);
    request.query = query;
    ValidatedInput result;
    ASSERT_NO_THROW(result = validateInput(endpoint, request)) << body;
    if (!result.ok()) {
      EXPECT_TRUE(nlohmann::json::accept(inputProblem(result, "/x").body));
    }
  }
}

}  // namespace
}  // namespace tendril::api
