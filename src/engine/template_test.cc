#include "engine/template.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <cmath>
#include <limits>
#include <set>
#include <string>

#include "engine/geometry.h"

namespace tendril::engine {
namespace {

// The MNIST test template of Hanami v0.4 (hanami-core §2.1), verbatim.
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

// The CSV "staircase" toy of hanami-core §8.1: 25 / 128 / 128 / 5 neurons in a row.
constexpr std::string_view kStaircaseText = R"(version: 1
settings:
    neuron_cooldown: 100000000000.5
bricks:
    1,1,1
        input: test_input
        number_of_neurons: 25
    2,1,1
        number_of_neurons: 128
    3,1,1
        number_of_neurons: 128
    4,1,1
        output: test_output
        number_of_neurons: 5
)";

// A 3-D layout: 1,1,1 reaches 2,2,2 over side 11 (row 1 is odd), then 3,2,2 over side 4.
constexpr std::string_view kThreeDText = R"(version: 1
bricks:
    1,1,1
        input: in
        number_of_neurons: 8
    2,2,2
        number_of_neurons: 16
    3,2,2
        output: out
        number_of_neurons: 2
)";

constexpr std::string_view kTwoByTwoText = R"(version: 1
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

Template parseOrDie(std::string_view text) {
  Result<Template> parsed = parseTemplateText(text);
  EXPECT_TRUE(parsed.ok()) << parsed.status().toString();
  return parsed.ok() ? std::move(parsed).value() : Template{};
}

Template withoutLines(Template tmpl) {
  for (BrickSpec& brick : tmpl.bricks) brick.line = 0;
  return tmpl;
}

TEST(TemplateText, ParsesHanamiMnistExample) {
  const Template tmpl = parseOrDie(kMnistText);
  EXPECT_EQ(tmpl.version, 1u);
  EXPECT_EQ(tmpl.settings.neuron_cooldown, 1e7);
  EXPECT_EQ(tmpl.settings.refractory_time, 1u);
  EXPECT_EQ(tmpl.settings.max_connection_distance, 1u);
  EXPECT_FALSE(tmpl.settings.enable_reduction);
  EXPECT_EQ(tmpl.settings.learning_rate, Settings{}.learning_rate);  // untouched defaults
  ASSERT_EQ(tmpl.bricks.size(), 3u);
  EXPECT_EQ(tmpl.bricks[0], (BrickSpec{{1, 1, 1}, BrickRole::kInput, "test_input", 784, 8}));
  EXPECT_EQ(tmpl.bricks[1], (BrickSpec{{2, 1, 1}, BrickRole::kHidden, "", 400, 11}));
  EXPECT_EQ(tmpl.bricks[2], (BrickSpec{{3, 1, 1}, BrickRole::kOutput, "test_output", 10, 13}));
}

TEST(TemplateText, ParsesCsvStaircase) {
  const Template tmpl = parseOrDie(kStaircaseText);
  EXPECT_EQ(tmpl.settings.neuron_cooldown, 100000000000.5);
  ASSERT_EQ(tmpl.bricks.size(), 4u);
  const uint32_t neurons[] = {25, 128, 128, 5};
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(tmpl.bricks[i].position, (Position{i + 1, 1, 1}));
    EXPECT_EQ(tmpl.bricks[i].neurons, neurons[i]);
  }
  EXPECT_EQ(tmpl.bricks[3].role, BrickRole::kOutput);
}

TEST(TemplateText, ParsesThreeDimensionalLayout) {
  const Template tmpl = parseOrDie(kThreeDText);
  ASSERT_EQ(tmpl.bricks.size(), 3u);
  EXPECT_EQ(tmpl.bricks[1].position, (Position{2, 2, 2}));
  Result<BrickGraph> graph = buildBrickGraph(tmpl);
  ASSERT_TRUE(graph.ok());
  EXPECT_EQ(graph->neighbours[0][11], 1u);
  EXPECT_EQ(graph->neighbours[1][4], 2u);
  EXPECT_EQ(graph->forward[0], std::vector<uint32_t>{1});
  EXPECT_EQ(graph->forward[1], std::vector<uint32_t>{2});
}

TEST(TemplateText, ParsesTwoInputsAndTwoOutputs) {
  const Template tmpl = parseOrDie(kTwoByTwoText);
  ASSERT_EQ(tmpl.bricks.size(), 6u);
  EXPECT_EQ(tmpl.bricks[1].name, "right");
  EXPECT_EQ(tmpl.bricks[5].name, "second");
  EXPECT_EQ(tmpl.bricks[5].role, BrickRole::kOutput);
}

TEST(TemplateText, AcceptsLexicalVariants) {
  // version:1 without a blank, tabs, CRLF, comments, blank lines, blanks inside the position,
  // True, integer and exponent numbers, no settings block at all.
  const std::string text =
      "# a comment before the version\r\n"
      "version:1\r\n"
      "\r\n"
      "settings:\t# the settings\r\n"
      "\tneuron_cooldown:10\r\n"
      "\tlearning_rate :  2.5e-3\r\n"
      "\tenable_reduction: True\r\n"
      "bricks:\r\n"
      " 1 , 1 , 1\r\n"
      "input:a\r\n"
      "number_of_neurons:1\r\n"
      "2,1,1\r\n"
      "    output: b   # trailing comment\r\n"
      "    number_of_neurons: 2";  // the last line may end at the end of the text
  const Template tmpl = parseOrDie(text);
  EXPECT_EQ(tmpl.settings.neuron_cooldown, 10.0);
  EXPECT_EQ(tmpl.settings.learning_rate, 2.5e-3);
  EXPECT_TRUE(tmpl.settings.enable_reduction);
  ASSERT_EQ(tmpl.bricks.size(), 2u);
  EXPECT_EQ(tmpl.bricks[0].line, 9);
  EXPECT_EQ(tmpl.bricks[1].name, "b");

  const Template plain = parseOrDie(
      "version: 1\nbricks:\n1,1,1\ninput: a\nnumber_of_neurons: 1\n"
      "2,1,1\noutput: b\nnumber_of_neurons: 1\n");
  EXPECT_EQ(plain.settings, Settings{});
}

struct BadTemplate {
  const char* what;
  std::string text;
  const char* message;  // expected substring of the error
};

// A valid prefix: version and the lines up to "bricks:" (3 lines).
const std::string kHead = "version: 1\nsettings:\nbricks:\n";
const std::string kInput = "1,1,1\ninput: in\nnumber_of_neurons: 4\n";     // lines 4-6
const std::string kOutput = "2,1,1\noutput: out\nnumber_of_neurons: 2\n";  // lines 7-9

TEST(TemplateText, RejectsBadTemplatesWithPreciseMessages) {
  const BadTemplate cases[] = {
      {"short position", kHead + kInput + "1,1\noutput: out\nnumber_of_neurons: 2\n",
       "line 7: expected \"X,Y,Z\" brick position, got \"1,1\""},
      {"four coordinates", kHead + "1,1,1,1\n", "line 4: expected \"X,Y,Z\" brick position"},
      {"letters in position", kHead + "1,a,1\n", "line 4: expected \"X,Y,Z\" brick position"},
      {"zero coordinate", kHead + "0,1,1\n", "line 4: brick position coordinate must be between 1"},
      {"missing version", "bricks:\n" + kInput + kOutput, "line 1: expected \"version: 1\""},
      {"version 2", "version: 2\nbricks:\n", "line 1: unsupported template version \"2\""},
      {"empty text", "", "line 1: expected \"version: 1\", got end of text"},
      {"no bricks section", "version: 1\nsettings:\n", "line 2: expected \"bricks:\""},
      {"no brick", "version: 1\nbricks:\n", "line 2: expected a brick position"},
      {"stray line", "version: 1\nhello\n", "line 2: expected \"settings:\" or \"bricks:\""},
      {"unknown setting", "version: 1\nsettings:\n  foo: 1\nbricks:\n" + kInput + kOutput,
       "line 3: unknown setting \"foo\""},
      {"setting twice", "version: 1\nsettings:\n  seed: 1\n  seed: 2\nbricks:\n",
       "line 4: setting seed given twice (first on line 3)"},
      {"float for int", "version: 1\nsettings:\n  refractory_time: 1.5\nbricks:\n",
       "line 3: refractory_time: expected an integer, got \"1.5\""},
      {"bad bool", "version: 1\nsettings:\n  enable_reduction: yes\nbricks:\n",
       "line 3: enable_reduction: expected true or false, got \"yes\""},
      {"cooldown below 1", "version: 1\nsettings:\n  neuron_cooldown: 0.5\nbricks:\n",
       "line 3: neuron_cooldown: must be at least 1"},
      {"non-finite", "version: 1\nsettings:\n  neuron_cooldown: inf\nbricks:\n",
       "line 3: neuron_cooldown: expected a number, got \"inf\""},
      {"overflowing float", "version: 1\nsettings:\n  neuron_cooldown: 1e999\nbricks:\n",
       "line 3: neuron_cooldown: number out of range"},
      {"trailing garbage", "version: 1\nsettings:\n  learning_rate: 0.1x\nbricks:\n",
       "line 3: learning_rate: expected a number, got \"0.1x\""},
      {"distance too far", "version: 1\nsettings:\n  max_connection_distance: 17\nbricks:\n",
       "line 3: max_connection_distance: must be between 1 and 16, got \"17\""},
      {"settings after bricks", kHead + kInput + "settings:\n",
       "line 7: \"settings:\" must come before \"bricks:\""},
      {"field before position", kHead + "input: in\n",
       "line 4: \"input\" must follow a brick position line"},
      {"unknown brick field", kHead + "1,1,1\ncolour: red\n",
       "line 5: brick 1,1,1: unknown brick field \"colour\""},
      {"input and output", kHead + "1,1,1\ninput: a\noutput: b\n",
       "line 6: brick 1,1,1: a brick has at most one \"input\" or \"output\" line"},
      {"bad name", kHead + "1,1,1\ninput: a-b\n",
       "line 5: brick 1,1,1: input name \"a-b\" has characters other than letters, digits and _"},
      {"missing neurons", kHead + "1,1,1\ninput: a\n" + kOutput,
       "line 4: brick 1,1,1 has no number_of_neurons line"},
      {"neurons twice", kHead + "1,1,1\nnumber_of_neurons: 1\nnumber_of_neurons: 1\n",
       "line 6: brick 1,1,1: number_of_neurons given twice"},
      {"neuron overflow", kHead + "1,1,1\nnumber_of_neurons: 99999999999\n",
       "line 5: brick 1,1,1: number_of_neurons must be between 0 and 4294967295"},
      {"duplicate position", kHead + kInput + kOutput + "1,1,1\nnumber_of_neurons: 3\n",
       "brick 1,1,1 (line 10): position already used by brick 1,1,1 (line 4)"},
      {"isolated brick", kHead + kInput + kOutput + "5,5,1\nnumber_of_neurons: 3\n",
       "brick 5,5,1 (line 10): touches no other brick"},
      {"zero neurons", kHead + kInput + "2,1,1\noutput: out\nnumber_of_neurons: 0\n",
       "brick 2,1,1 (line 7): needs at least 1 neuron"},
      {"too many neurons", kHead + kInput + "2,1,1\noutput: out\nnumber_of_neurons: 2000000\n",
       "brick 2,1,1 (line 7): 2000000 neurons exceed the limit of 1048576 per brick"},
      {"no input", kHead + "1,1,1\nnumber_of_neurons: 4\n" + kOutput, "no input brick"},
      {"no output", kHead + kInput + "2,1,1\nnumber_of_neurons: 4\n", "no output brick"},
      {"duplicate names", kHead + kInput + "2,1,1\noutput: in\nnumber_of_neurons: 2\n",
       "brick 2,1,1 (line 7): name \"in\" is already used by brick 1,1,1 (line 4)"},
      {"output left of input",
       kHead + "2,1,1\ninput: in\nnumber_of_neurons: 4\n1,1,1\noutput: out\nnumber_of_neurons: 2\n",
       "brick 2,1,1 (line 4): no output brick can be reached from it by forward hops"},
      {"vertical 2-cycle",
       kHead + kInput + "2,1,1\nnumber_of_neurons: 8\n2,1,2\nnumber_of_neurons: 8\n" +
           "3,1,1\noutput: out\nnumber_of_neurons: 2\n",
       "cycle over forward sides: brick 2,1,1 (line 7) -> brick 2,1,2 (line 9) -> "
       "brick 2,1,1 (line 7). Bricks stacked straight above each other"},
  };
  for (const BadTemplate& bad : cases) {
    Result<Template> parsed = parseTemplateText(bad.text);
    ASSERT_FALSE(parsed.ok()) << bad.what;
    EXPECT_EQ(parsed.status().code(), Code::kInvalidArgument) << bad.what;
    EXPECT_NE(parsed.status().message().find(bad.message), std::string::npos)
        << bad.what << ": got \"" << parsed.status().message() << "\"";
  }
}

TEST(TemplateText, RejectsOversizedText) {
  TemplateLimits limits;
  limits.max_text_bytes = kMnistText.size() - 1;
  Result<Template> parsed = parseTemplateText(kMnistText, limits);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("the limit is"), std::string::npos);
}

TEST(TemplateText, StopsAtTheBrickLimit) {
  TemplateLimits limits;
  limits.max_bricks = 2;
  Result<Template> parsed = parseTemplateText(kMnistText, limits);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(), "line 13: more than 2 bricks");
}

// parse(format(t)) equals t up to BrickSpec::line; formatting is a fixpoint from then on.
TEST(TemplateFormat, RoundTripsEveryExample) {
  for (std::string_view text : {kMnistText, kStaircaseText, kThreeDText, kTwoByTwoText}) {
    const Template tmpl = parseOrDie(text);
    const std::string formatted = formatTemplateText(tmpl);
    const Template again = parseOrDie(formatted);
    EXPECT_EQ(withoutLines(again), withoutLines(tmpl)) << formatted;
    EXPECT_EQ(formatTemplateText(again), formatted);
    EXPECT_EQ(parseOrDie(formatTemplateText(again)), again);  // lines included
  }
}

TEST(TemplateFormat, RoundTripsExtremeSettings) {
  Template tmpl = parseOrDie(kThreeDText);
  const double cooldowns[] = {1.0, 1.5, 1e9, 100000000000.5, 1e300, 0.1 + 1.0};
  const double rates[] = {1e-30, 0.1, 1.0 / 3.0, 10.0, 5e-324};
  for (double cooldown : cooldowns) {
    for (double rate : rates) {
      Settings& settings = tmpl.settings;
      settings.neuron_cooldown = cooldown;
      settings.learning_rate = rate;
      settings.seed = std::numeric_limits<uint64_t>::max();
      settings.refractory_time = 255;
      settings.max_connection_distance = 16;
      settings.enable_reduction = true;
      settings.sign_split_inputs = false;
      settings.output_loss = OutputLoss::kCrossEntropy;
      settings.synapses_per_section = 255;
      settings.sections_per_neuron = 64;
      const std::string formatted = formatTemplateText(tmpl);
      EXPECT_EQ(withoutLines(parseOrDie(formatted)), withoutLines(tmpl)) << formatted;
    }
  }
}

TEST(TemplateFormat, WritesEverySettingAndTheHanamiLayout) {
  const std::string formatted = formatTemplateText(parseOrDie(kMnistText));
  EXPECT_EQ(formatted.rfind("version: 1\nsettings:\n    neuron_cooldown: 10000000.0\n", 0), 0u);
  for (const SettingInfo& info : settingInfos()) {
    EXPECT_NE(formatted.find("    " + std::string(info.key) + ": "), std::string::npos);
  }
  EXPECT_NE(formatted.find("bricks:\n    1,1,1\n        input: test_input\n"
                           "        number_of_neurons: 784\n    2,1,1\n"),
            std::string::npos);
}

TEST(TemplateSettings, TableDeclaresEveryKeyOnceWithItsDefault) {
  const auto& infos = settingInfos();
  EXPECT_EQ(infos.size(), 12u);
  std::set<std::string_view> keys;
  for (const SettingInfo& info : infos) {
    EXPECT_TRUE(keys.insert(info.key).second) << info.key;
    EXPECT_FALSE(info.doc.empty()) << info.key;
    EXPECT_TRUE(info.type == "float" || info.type == "int" || info.type == "bool" ||
                info.type == "enum")
        << info.key;
    EXPECT_EQ(settingValueText(Settings{}, info.key), info.default_text) << info.key;
    Settings settings;
    EXPECT_TRUE(applySetting(settings, info.key, info.default_text).ok()) << info.key;
    EXPECT_EQ(settings, Settings{}) << info.key;
  }
  EXPECT_EQ(settingValueText(Settings{}, "nope"), "");
}

TEST(TemplateSettings, AppliesValuesAndChecksRanges) {
  struct Case {
    const char* key;
    const char* value;
    bool ok;
  };
  const Case cases[] = {
      {"neuron_cooldown", "1", true},          {"neuron_cooldown", "0.999", false},
      {"neuron_cooldown", "-5.0", false},      {"neuron_cooldown", "nan", false},
      {"neuron_cooldown", ".5", false},        {"neuron_cooldown", "5.", false},
      {"refractory_time", "255", true},        {"refractory_time", "256", false},
      {"refractory_time", "0", false},         {"refractory_time", "-1", false},
      {"learning_rate", "10", true},           {"learning_rate", "10.000001", false},
      {"learning_rate", "0.0", false},         {"seed", "18446744073709551615", true},
      {"seed", "18446744073709551616", false}, {"seed", "+3", false},
      {"output_loss", "cross_entropy", true},  {"output_loss", "hinge", false},
      {"synapses_per_section", "3", false},    {"synapses_per_section", "4", true},
      {"sections_per_neuron", "65", false},    {"sign_split_inputs", "False", true},
  };
  for (const Case& c : cases) {
    Settings settings;
    Status status = applySetting(settings, c.key, c.value);
    EXPECT_EQ(status.ok(), c.ok) << c.key << "=" << c.value << ": " << status.message();
    if (!status.ok()) {
      EXPECT_EQ(status.message().rfind(c.key, 0), 0u) << status.message();
    }
  }
  Settings settings;
  ASSERT_TRUE(applySetting(settings, "seed", " 42 ").ok());
  EXPECT_EQ(settings.seed, 42u);
  TemplateLimits limits;
  limits.max_refractory_time = 3;
  EXPECT_FALSE(applySetting(settings, "refractory_time", "4", limits).ok());
}

Template smallTemplate() { return parseOrDie(kMnistText); }

TEST(TemplateValidate, ChecksWhatOnlyCodeCanBuild) {
  struct Case {
    const char* what;
    void (*mutate)(Template&);
    const char* message;
  };
  const Case cases[] = {
      {"version", [](Template& t) { t.version = 2; }, "unsupported template version 2"},
      {"settings", [](Template& t) { t.settings.learning_rate = -1; },
       "setting learning_rate: must be above 0"},
      {"nan setting", [](Template& t) { t.settings.neuron_cooldown = std::nan(""); },
       "setting neuron_cooldown: expected a number"},
      {"no bricks", [](Template& t) { t.bricks.clear(); }, "the template lists no brick"},
      {"named hidden", [](Template& t) { t.bricks[1].name = "x"; },
       "brick 2,1,1 (line 11): a hidden brick has no name"},
      {"empty name", [](Template& t) { t.bricks[0].name.clear(); },
       "brick 1,1,1 (line 8): input name is empty"},
      {"long name", [](Template& t) { t.bricks[0].name.assign(129, 'a'); }, "longer than 128"},
      {"huge coordinate", [](Template& t) { t.bricks[2].position.x = 1'000'001; },
       "coordinates must be between 1 and 1000000"},
  };
  for (const Case& c : cases) {
    Template tmpl = smallTemplate();
    c.mutate(tmpl);
    Status status = validateTemplate(tmpl);
    ASSERT_FALSE(status.ok()) << c.what;
    EXPECT_NE(status.message().find(c.message), std::string::npos)
        << c.what << ": got \"" << status.message() << "\"";
  }
  EXPECT_TRUE(validateTemplate(smallTemplate()).ok());
}

TEST(TemplateValidate, AppliesTheLimits) {
  const Template tmpl = smallTemplate();  // 3 bricks, 1194 neurons
  TemplateLimits limits;
  limits.max_total_neurons = 1193;
  EXPECT_NE(validateTemplate(tmpl, limits).message().find("1194 neurons in all; the limit is 1193"),
            std::string::npos);
  limits = {};
  limits.max_bricks = 2;
  EXPECT_NE(validateTemplate(tmpl, limits).message().find("3 bricks; the limit is 2"),
            std::string::npos);
  limits = {};
  limits.max_neurons_per_brick = 783;
  EXPECT_NE(validateTemplate(tmpl, limits).message().find("brick 1,1,1 (line 8): 784 neurons"),
            std::string::npos);
  limits = {};
  limits.max_name_length = 5;
  EXPECT_NE(validateTemplate(tmpl, limits).message().find("longer than 5"), std::string::npos);
}

TEST(TemplateValidate, NamesBricksWithoutALine) {
  Template tmpl = withoutLines(smallTemplate());
  tmpl.bricks[2].neurons = 0;
  EXPECT_EQ(validateTemplate(tmpl).message(), "brick 3,1,1: needs at least 1 neuron");
  EXPECT_EQ(toString(Position{1, 22, 333}), "1,22,333");
}

}  // namespace
}  // namespace tendril::engine

namespace tendril::engine {
namespace {

// Every template shipped in templates/ (the bench's defaults) parses and validates.
TEST(TemplateFiles, ShippedTemplatesValidate) {
  const std::filesystem::path dir = std::filesystem::path(TENDRIL_SOURCE_DIR) / "templates";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".tmpl") continue;
    std::ifstream in(entry.path());
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Result<Template> tmpl = parseTemplateText(text);
    EXPECT_TRUE(tmpl.ok()) << entry.path() << ": " << tmpl.status().toString();
    ++files;
  }
  EXPECT_GE(files, 3);
}

}  // namespace
}  // namespace tendril::engine
