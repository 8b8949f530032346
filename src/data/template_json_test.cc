#include "data/template_json.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace tendril::data {
namespace {

using engine::Template;

constexpr std::string_view kMnistText = R"(version: 1
settings:
   neuron_cooldown: 10000000.0
   refractory_time: 1
   max_connection_distance: 1
   enable_reduction: false
bricks:
    1,1,1
        input: test_input
        number_of_neurons: 784
    2,1,1
        number_of_neurons: 400
    3,1,1
        output: test_output
        number_of_neurons: 10
)";

constexpr std::string_view kMnistJson = R"({
  "version": 1,
  "settings": {"neuron_cooldown": 1e7, "refractory_time": 1, "max_connection_distance": 1,
               "enable_reduction": false},
  "bricks": [
    {"position": [1, 1, 1], "input": "test_input", "neurons": 784},
    {"position": [2, 1, 1], "neurons": 400},
    {"position": [3, 1, 1], "output": "test_output", "neurons": 10}
  ]
})";

constexpr std::string_view kTwoByTwoText = R"(version: 1
settings:
    seed: 18446744073709551615
    learning_rate: 0.125
    output_loss: cross_entropy
    sign_split_inputs: False
bricks:
    1,1,1
        input: left
        number_of_neurons: 3
    1,2,1
        input: right
        number_of_neurons: 4
    2,1,1
        number_of_neurons: 32
    2,2,1
        number_of_neurons: 32
    3,1,1
        output: first
        number_of_neurons: 2
    3,2,1
        output: second
        number_of_neurons: 5
)";

constexpr std::string_view kTwoByTwoJson = R"({"version": 1,
  "settings": {"seed": 18446744073709551615, "learning_rate": 0.125,
               "output_loss": "cross_entropy", "sign_split_inputs": false},
  "bricks": [{"position": [1, 1, 1], "input": "left", "neurons": 3},
             {"position": [1, 2, 1], "input": "right", "neurons": 4},
             {"position": [2, 1, 1], "neurons": 32.0},
             {"position": [2, 2, 1], "neurons": 32},
             {"position": [3, 1, 1], "output": "first", "neurons": 2},
             {"position": [3, 2, 1], "output": "second", "neurons": 5}]})";

Template withoutLines(Template tmpl) {
  for (engine::BrickSpec& brick : tmpl.bricks) brick.line = 0;
  return tmpl;
}

Template parsed(Result<Template> result) {
  EXPECT_TRUE(result.ok()) << result.status().toString();
  return result.ok() ? std::move(result).value() : Template{};
}

TEST(TemplateJson, DescribesTheSameModelAsTheTextFormat) {
  EXPECT_EQ(parsed(parseTemplateJson(kMnistJson)),
            withoutLines(parsed(engine::parseTemplateText(kMnistText))));
  EXPECT_EQ(parsed(parseTemplateJson(kTwoByTwoJson)),
            withoutLines(parsed(engine::parseTemplateText(kTwoByTwoText))));
}

TEST(TemplateJson, RoundTrips) {
  for (std::string_view text : {kMnistText, kTwoByTwoText}) {
    const Template tmpl = withoutLines(parsed(engine::parseTemplateText(text)));
    for (int indent : {-1, 2}) {
      const std::string json = templateToJson(tmpl, indent);
      EXPECT_EQ(parsed(parseTemplateJson(json)), tmpl) << json;
    }
    // Text -> JSON -> text gives the same text as formatting directly.
    EXPECT_EQ(engine::formatTemplateText(parsed(parseTemplateJson(templateToJson(tmpl)))),
              engine::formatTemplateText(tmpl));
  }
  Template extreme = withoutLines(parsed(engine::parseTemplateText(kMnistText)));
  for (double rate : {1e-30, 1.0 / 3.0, 10.0, 0.1 + 0.2}) {
    extreme.settings.learning_rate = rate;
    extreme.settings.neuron_cooldown = 1e300;
    EXPECT_EQ(parsed(parseTemplateJson(templateToJson(extreme))), extreme);
  }
}

TEST(TemplateJson, WritesTypedSettingsInDocumentedOrder) {
  const std::string json = templateToJson(parsed(engine::parseTemplateText(kMnistText)));
  EXPECT_EQ(json.rfind(R"({"version":1,"settings":{"neuron_cooldown":10000000.0,)", 0), 0u) << json;
  EXPECT_NE(json.find(R"("enable_reduction":false,"learning_rate":0.05,"learning_rate_decay":0,"hidden_dropout":0.0,"seed":0,)"),
            std::string::npos);
  EXPECT_NE(json.find(R"("output_loss":"squared_error")"), std::string::npos);
  EXPECT_NE(json.find(R"({"position":[1,1,1],"input":"test_input","neurons":784})"),
            std::string::npos);
  EXPECT_NE(json.find(R"({"position":[2,1,1],"neurons":400})"), std::string::npos);
}

struct BadJson {
  std::string json;
  const char* message;  // expected substring
};

// A valid body with one brick replaced: bricks[2] is the output brick.
std::string withOutput(const std::string& output_brick) {
  return R"({"version":1,"bricks":[{"position":[1,1,1],"input":"in","neurons":4},)"
         R"({"position":[2,1,1],"neurons":8},)" +
         output_brick + "]}";
}

TEST(TemplateJson, NamesThePathOfEveryError) {
  const BadJson cases[] = {
      {"not json", "invalid JSON: parse error at line 1, column 2"},
      {R"({"version":1,})", "invalid JSON: parse error"},
      {R"({"version":1} trailing)", "invalid JSON: parse error"},
      {"[]", "the template must be a JSON object, got array"},
      {R"({"bricks":[]})", "version: missing"},
      {R"({"version":2,"bricks":[]})", "version: unsupported template version 2"},
      {R"({"version":"1","bricks":[]})", "version: expected an integer, got string"},
      {R"({"version":1,"colour":"red","bricks":[]})", "colour: unknown key"},
      {R"({"version":1,"version":1,"bricks":[]})", "version: duplicate key"},
      {R"({"version":1,"settings":[],"bricks":[]})", "settings: expected an object, got array"},
      {R"({"version":1,"settings":{"foo":1},"bricks":[]})",
       "settings.foo: unknown setting \"foo\" (known settings: neuron_cooldown"},
      {R"({"version":1,"settings":{"refractory_time":1.5},"bricks":[]})",
       "settings.refractory_time: expected an integer, got 1.5"},
      {R"({"version":1,"settings":{"refractory_time":0},"bricks":[]})",
       "settings.refractory_time: must be between 1 and 255, got \"0\""},
      {R"({"version":1,"settings":{"seed":-1},"bricks":[]})",
       "settings.seed: must be between 0 and 18446744073709551615, got \"-1\""},
      {R"({"version":1,"settings":{"enable_reduction":"true"},"bricks":[]})",
       "settings.enable_reduction: expected true or false, got string"},
      {R"({"version":1,"settings":{"neuron_cooldown":true},"bricks":[]})",
       "settings.neuron_cooldown: expected a number, got boolean"},
      {R"({"version":1,"settings":{"neuron_cooldown":1e999},"bricks":[]})",
       "invalid JSON: number overflow parsing '1e999'"},
      {R"({"version":1,"settings":{"learning_rate":0},"bricks":[]})",
       "settings.learning_rate: must be above 0"},
      {R"({"version":1,"settings":{"output_loss":1},"bricks":[]})",
       "settings.output_loss: expected a string, got 1"},
      {R"({"version":1})", "bricks: missing"},
      {R"({"version":1,"bricks":{}})", "bricks: expected an array, got object"},
      {R"({"version":1,"bricks":[]})", "the template lists no brick"},
      {withOutput("7"), "bricks[2]: expected an object, got number"},
      {withOutput(R"({"position":[3,1,1],"output":"o","neurons":1.5})"),
       "bricks[2].neurons: expected an integer, got 1.5"},
      {withOutput(R"({"position":[3,1,1],"output":"o","neurons":-3})"),
       "bricks[2].neurons: must not be negative, got -3"},
      {withOutput(R"({"position":[3,1,1],"output":"o","neurons":1e30})"),
       "bricks[2].neurons: must be at most 4294967295, got 1e+30"},
      {withOutput(R"({"position":[3,1,1],"output":"o","neurons":99999999999999999999999})"),
       "bricks[2].neurons: must be at most 4294967295"},
      {withOutput(R"({"position":[3,1,1],"output":"o","neurons":5000000000})"),
       "bricks[2].neurons: must be at most 4294967295, got 5000000000"},
      {withOutput(R"({"position":[3,1,1],"output":"o","neurons":"10"})"),
       "bricks[2].neurons: expected an integer, got string"},
      {withOutput(R"({"position":[3,1,1],"output":"o"})"), "bricks[2].neurons: missing"},
      {withOutput(R"({"output":"o","neurons":1})"), "bricks[2].position: missing"},
      {withOutput(R"({"position":[3,1],"output":"o","neurons":1})"),
       "bricks[2].position: expected an array of 3 integers [x, y, z]"},
      {withOutput(R"({"position":[3,"1",1],"output":"o","neurons":1})"),
       "bricks[2].position[1]: expected an integer, got string"},
      {withOutput(R"({"position":[3,1,1],"input":"i","output":"o","neurons":1})"),
       "bricks[2]: a brick is either an input or an output, not both"},
      {withOutput(R"({"position":[3,1,1],"output":5,"neurons":1})"),
       "bricks[2].output: expected a string, got number"},
      {withOutput(R"({"position":[3,1,1],"output":"o","neurons":1,"colour":"red"})"),
       "bricks[2].colour: unknown key"},
      {withOutput(R"({"position":[3,1,1],"output":"o","neurons":1,"neurons":2})"),
       "bricks[2].neurons: duplicate key"},
      {withOutput(R"({"position":[3,1,1],"output":"o","neurons":1,"x":[[[[[[[1]]]]]]]})"),
       "bricks[2].x[0][0][0][0][0]: nested deeper than 8 levels"},
      // Rules across bricks come from engine::validateTemplate and name the brick.
      {withOutput(R"({"position":[1,1,1],"output":"o","neurons":1})"),
       "brick 1,1,1: position already used by brick 1,1,1"},
      {withOutput(R"({"position":[3,1,1],"output":"in","neurons":1})"),
       "brick 3,1,1: name \"in\" is already used by brick 1,1,1"},
      {withOutput(R"({"position":[3,1,1],"output":"o p","neurons":1})"),
       "brick 3,1,1: output name \"o p\" has characters other than letters"},
      {withOutput(R"({"position":[3,1,1],"output":"o","neurons":0})"),
       "brick 3,1,1: needs at least 1 neuron"},
  };
  for (const BadJson& bad : cases) {
    Result<Template> result = parseTemplateJson(bad.json);
    ASSERT_FALSE(result.ok()) << bad.json;
    EXPECT_EQ(result.status().code(), Code::kInvalidArgument) << bad.json;
    EXPECT_NE(result.status().message().find(bad.message), std::string::npos)
        << bad.json << "\n  got: " << result.status().message();
  }
}

TEST(TemplateJson, RefusesOversizedText) {
  engine::TemplateLimits limits;
  limits.max_text_bytes = kMnistJson.size() - 1;
  Result<Template> result = parseTemplateJson(kMnistJson, limits);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("the limit is"), std::string::npos);
}

TEST(TemplateJson, SurvivesInvalidUtf8AndGarbage) {
  const std::string bytes[] = {
      std::string("{\"version\":1,\"bricks\":[{\"position\":[1,1,1],\"input\":\"\xff\"}]}"),
      std::string("{\"version\":1,\0}", 15),
      std::string(100000, '['),
      "",
  };
  for (const std::string& text : bytes) EXPECT_FALSE(parseTemplateJson(text).ok());
  Template tmpl = parsed(parseTemplateJson(kMnistJson));
  tmpl.bricks[0].name = "\xff";
  EXPECT_NE(templateToJson(tmpl).find("\"input\":"), std::string::npos);  // no exception
}

TEST(TemplateJson, ParseAnyDetectsTheEncoding) {
  const Template expected = parsed(parseTemplateJson(kMnistJson));
  EXPECT_EQ(parsed(parseTemplateAny(kMnistJson)), expected);
  EXPECT_EQ(parsed(parseTemplateAny(" \r\n\t" + std::string(kMnistJson))), expected);
  EXPECT_EQ(parsed(parseTemplateAny("\xEF\xBB\xBF" + std::string(kMnistJson))), expected);
  EXPECT_EQ(withoutLines(parsed(parseTemplateAny(kMnistText))), expected);
  EXPECT_EQ(withoutLines(parsed(parseTemplateAny("\xEF\xBB\xBF" + std::string(kMnistText)))),
            expected);
  // Text errors keep their line numbers when dispatched.
  EXPECT_EQ(parseTemplateAny("version: 1\nbricks:\n1,1\n").status().message(),
            "line 3: expected \"X,Y,Z\" brick position, got \"1,1\"");
}

}  // namespace
}  // namespace tendril::data
