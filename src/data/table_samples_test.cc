#include "data/table_samples.h"
#include "common/status_testing.h"

#include <gtest/gtest.h>

#include <numeric>

namespace tendril::data {
namespace {

using engine::Port;

// Ports laid out as a cluster lays them out: back to back in declaration order.
std::vector<Port> ports(std::initializer_list<std::pair<const char*, uint32_t>> specs) {
  std::vector<Port> result;
  uint32_t offset = 0;
  uint32_t brick = 0;
  for (const auto& [name, width] : specs) {
    result.push_back(Port{name, width, offset, brick++});
    offset += width;
  }
  return result;
}

// Columns x = 0, 1, 2, …; y = 100, 101, …; z = 200, 201, … over `rows` rows.
Table counting(size_t rows) {
  Table table;
  table.columns = {"x", "y", "z"};
  table.rows = rows;
  for (size_t row = 0; row < rows; ++row) {
    for (float base : {0.0f, 100.0f, 200.0f}) {
      table.values.push_back(base + static_cast<float>(row));
    }
  }
  return table;
}

struct Sample {
  std::vector<float> inputs;
  std::vector<float> expected;
};

Sample take(const TableSampler& sampler, size_t index) {
  Sample sample{std::vector<float>(sampler.inputWidth()),
                std::vector<float>(sampler.outputWidth())};
  sampler.sample(index, sample.inputs, sample.expected);
  return sample;
}

TEST(TableSamplesTest, SlidingWindowEndsAllPortsOnTheSameRow) {
  std::vector<Port> in = ports({{"x", 3}});
  std::vector<Port> out = ports({{"y", 1}});
  Result<TableSampler> sampler =
      TableSampler::create(counting(10), in, out, SampleMode::kSlidingWindow);
  ASSERT_TRUE(sampler.ok()) << sampler.status().toString();
  // n = 3: samples end on rows 2 … 9, so 10 − 3 + 1 = 8 (Hanami: 10 − 3 = 7, never row 9).
  EXPECT_EQ(sampler->count(), 8u);
  Sample first = take(*sampler, 0);
  EXPECT_EQ(first.inputs, (std::vector<float>{0, 1, 2}));
  EXPECT_EQ(first.expected, (std::vector<float>{102}));
  Sample last = take(*sampler, 7);
  EXPECT_EQ(last.inputs, (std::vector<float>{7, 8, 9}));
  EXPECT_EQ(last.expected, (std::vector<float>{109}));
}

TEST(TableSamplesTest, WiderOutputNeverReadsPastTheEnd) {
  // Hanami's count (rows − n_in = 9) would read rows 10 and 11 of a 10-row column here.
  std::vector<Port> in = ports({{"x", 1}});
  std::vector<Port> out = ports({{"y", 4}});
  Result<TableSampler> sampler =
      TableSampler::create(counting(10), in, out, SampleMode::kSlidingWindow);
  ASSERT_TRUE(sampler.ok()) << sampler.status().toString();
  EXPECT_EQ(sampler->count(), 7u);
  Sample first = take(*sampler, 0);
  EXPECT_EQ(first.inputs, (std::vector<float>{3}));
  EXPECT_EQ(first.expected, (std::vector<float>{100, 101, 102, 103}));
  Sample last = take(*sampler, 6);
  EXPECT_EQ(last.inputs, (std::vector<float>{9}));
  EXPECT_EQ(last.expected, (std::vector<float>{106, 107, 108, 109}));
}

TEST(TableSamplesTest, SeveralPortsFillTheirOffsets) {
  std::vector<Port> in = ports({{"x", 2}, {"z", 1}});
  std::vector<Port> out = ports({{"y", 2}});
  Result<TableSampler> sampler =
      TableSampler::create(counting(5), in, out, SampleMode::kSlidingWindow);
  ASSERT_TRUE(sampler.ok()) << sampler.status().toString();
  EXPECT_EQ(sampler->inputWidth(), 3u);
  EXPECT_EQ(sampler->outputWidth(), 2u);
  EXPECT_EQ(sampler->count(), 4u);
  Sample s = take(*sampler, 1);
  EXPECT_EQ(s.inputs, (std::vector<float>{1, 2, 202}));
  EXPECT_EQ(s.expected, (std::vector<float>{101, 102}));
}

TEST(TableSamplesTest, MappingPicksAnotherColumn) {
  std::vector<Port> in = ports({{"signal", 2}});
  std::vector<Port> out = ports({{"target", 1}});
  ColumnMapping mapping = {{"signal", {"z"}}, {"target", {"x"}}};
  Result<TableSampler> sampler =
      TableSampler::create(counting(4), in, out, SampleMode::kSlidingWindow, mapping);
  ASSERT_TRUE(sampler.ok()) << sampler.status().toString();
  Sample s = take(*sampler, 2);
  EXPECT_EQ(s.inputs, (std::vector<float>{202, 203}));
  EXPECT_EQ(s.expected, (std::vector<float>{3}));
}

TEST(TableSamplesTest, SlidingWindowErrors) {
  Table table = counting(5);
  std::vector<Port> in = ports({{"x", 6}});
  std::vector<Port> out = ports({{"y", 1}});
  EXPECT_TRUE(failsWith(TableSampler::create(table, in, out, SampleMode::kSlidingWindow).status(),
                        Code::kInvalidArgument,
                        "table has 5 rows, fewer than the widest port's window of 6"));
  // Exactly as many rows as the window: one sample.
  in = ports({{"x", 5}});
  Result<TableSampler> one = TableSampler::create(table, in, out, SampleMode::kSlidingWindow);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->count(), 1u);

  std::vector<Port> missing = ports({{"w", 1}});
  EXPECT_TRUE(failsWith(
      TableSampler::create(table, missing, out, SampleMode::kSlidingWindow).status(),
      Code::kInvalidArgument, "input port 'w' reads column 'w', which the table does not have"));
  ColumnMapping two = {{"x", {"x", "z"}}};
  EXPECT_TRUE(failsWith(
      TableSampler::create(table, in, out, SampleMode::kSlidingWindow, two).status(),
      Code::kInvalidArgument, "input port 'x' reads one column in sliding-window mode, but 2"));
  ColumnMapping stray = {{"nothing", {"x"}}};
  EXPECT_TRUE(
      failsWith(TableSampler::create(table, in, out, SampleMode::kSlidingWindow, stray).status(),
                Code::kInvalidArgument, "column mapping names 'nothing', which is no port"));
}

TEST(TableSamplesTest, RowModeReadsOneRowPerSample) {
  std::vector<Port> in = ports({{"features", 3}});
  std::vector<Port> out = ports({{"y", 1}});
  ColumnMapping mapping = {{"features", {"z", "x", "z"}}};
  Result<TableSampler> sampler =
      TableSampler::create(counting(6), in, out, SampleMode::kRow, mapping);
  ASSERT_TRUE(sampler.ok()) << sampler.status().toString();
  EXPECT_EQ(sampler->count(), 6u);
  Sample s = take(*sampler, 4);
  EXPECT_EQ(s.inputs, (std::vector<float>{204, 4, 204}));
  EXPECT_EQ(s.expected, (std::vector<float>{104}));
  s = take(*sampler, 5);
  EXPECT_EQ(s.inputs, (std::vector<float>{205, 5, 205}));
}

TEST(TableSamplesTest, InputsOnlySamplerServesRequests) {
  // A table without the output columns still gives inputs; nothing is expected of it.
  Table table;
  table.columns = {"x"};
  table.rows = 4;
  table.values = {1, 2, 3, 4};
  std::vector<Port> in = ports({{"x", 2}});
  ASSERT_OK_AND_ASSIGN(TableSampler window,
                       TableSampler::create(table, in, {}, SampleMode::kSlidingWindow));
  EXPECT_EQ(window.count(), 3u);
  EXPECT_EQ(window.outputWidth(), 0u);
  Sample s = take(window, 2);
  EXPECT_EQ(s.inputs, (std::vector<float>{3, 4}));
  EXPECT_TRUE(s.expected.empty());
  ASSERT_OK_AND_ASSIGN(TableSampler row, TableSampler::create(table, ports({{"x", 1}}), {},
                                                              SampleMode::kRow));
  EXPECT_EQ(row.count(), 4u);
  EXPECT_EQ(take(row, 3).inputs, (std::vector<float>{4}));
}

TEST(TableSamplesTest, RowModeErrors) {
  Table table = counting(3);
  std::vector<Port> in = ports({{"features", 3}});
  std::vector<Port> out = ports({{"y", 1}});
  EXPECT_TRUE(failsWith(TableSampler::create(table, in, out, SampleMode::kRow).status(),
                        Code::kInvalidArgument,
                        "input port 'features' has width 3 and so reads that many columns in row "
                        "mode, but 1 are mapped to it"));
  ColumnMapping short_list = {{"features", {"x", "y"}}};
  EXPECT_TRUE(failsWith(TableSampler::create(table, in, out, SampleMode::kRow, short_list).status(),
                        Code::kInvalidArgument, "but 2 are mapped"));
}

TEST(TableSamplesTest, PortLayoutIsChecked) {
  Table table = counting(3);
  std::vector<Port> gap = ports({{"x", 1}, {"z", 1}});
  gap[1].offset = 2;
  std::vector<Port> out = ports({{"y", 1}});
  EXPECT_TRUE(failsWith(TableSampler::create(table, gap, out, SampleMode::kRow).status(),
                        Code::kInvalidArgument, "input port 'z' starts at offset 2, expected 1"));
  std::vector<Port> empty_port = ports({{"x", 0}});
  EXPECT_TRUE(failsWith(TableSampler::create(table, empty_port, out, SampleMode::kRow).status(),
                        Code::kInvalidArgument, "input port 'x' has width 0"));
  EXPECT_TRUE(failsWith(TableSampler::create(table, {}, out, SampleMode::kRow).status(),
                        Code::kInvalidArgument, "at least one input port"));
  Table broken = counting(3);
  broken.values.pop_back();
  std::vector<Port> in = ports({{"x", 1}});
  EXPECT_TRUE(failsWith(TableSampler::create(broken, in, out, SampleMode::kRow).status(),
                        Code::kInvalidArgument, "not rows × columns"));
}

TEST(TableSamplesTest, SamplerOutlivesItsTable) {
  std::vector<Port> in = ports({{"x", 2}});
  std::vector<Port> out = ports({{"y", 1}});
  Result<TableSampler> sampler =
      TableSampler::create(counting(4), in, out, SampleMode::kSlidingWindow);
  ASSERT_TRUE(sampler.ok());
  TableSampler copy = *sampler;
  EXPECT_EQ(take(copy, 2).inputs, (std::vector<float>{2, 3}));
}

TEST(TableSamplesTest, CsvFeedsASamplerEndToEnd) {
  Result<Table> table = parseCsv("input,output\n0,0\n80,1\nnull,null\n30,0.5\n");
  ASSERT_TRUE(table.ok());
  std::vector<Port> in = ports({{"input", 2}});
  std::vector<Port> out = ports({{"output", 1}});
  Result<TableSampler> sampler = TableSampler::create(*table, in, out, SampleMode::kSlidingWindow);
  ASSERT_TRUE(sampler.ok()) << sampler.status().toString();
  EXPECT_EQ(sampler->count(), 3u);
  Sample s = take(*sampler, 1);
  EXPECT_EQ(s.inputs, (std::vector<float>{80, 80}));
  EXPECT_EQ(s.expected, (std::vector<float>{1}));
}

TEST(TableSamplesTest, StaircaseTables) {
  Table train = makeStaircaseTable();
  ASSERT_EQ(train.columns, (std::vector<std::string>{"input", "output"}));
  ASSERT_EQ(train.rows, 500u);
  ASSERT_EQ(train.values.size(), 1000u);
  const std::vector<std::pair<float, float>> levels = {
      {0, 0}, {80, 1}, {30, 0.5f}, {10, 0.75f}, {0, 0}};
  for (size_t row = 0; row < train.rows; ++row) {
    EXPECT_EQ(train.at(row, 0), levels[row / 100].first) << row;
    EXPECT_EQ(train.at(row, 1), levels[row / 100].second) << row;
  }
  Table test = makeStaircaseTestTable();
  EXPECT_EQ(test.rows, 600u);
  // Every test input level maps to the output it has in training.
  for (size_t row = 0; row < test.rows; ++row) {
    auto level = std::find_if(levels.begin(), levels.end(),
                              [&](const auto& l) { return l.first == test.at(row, 0); });
    ASSERT_NE(level, levels.end());
    EXPECT_EQ(test.at(row, 1), level->second);
  }
  // Hanami's setup: 25 input neurons, 5 output neurons, sliding window.
  std::vector<Port> in = ports({{"input", 25}});
  std::vector<Port> out = ports({{"output", 5}});
  Result<TableSampler> sampler = TableSampler::create(train, in, out, SampleMode::kSlidingWindow);
  ASSERT_TRUE(sampler.ok()) << sampler.status().toString();
  EXPECT_EQ(sampler->count(), 476u);
  Sample s = take(*sampler, 90);  // rows 90 … 114: 10 zeros, then 15 rows of 80
  EXPECT_EQ(std::accumulate(s.inputs.begin(), s.inputs.end(), 0.0f), 15 * 80.0f);
  EXPECT_EQ(s.expected, (std::vector<float>(5, 1.0f)));

  StaircaseStep custom[] = {{5, 0.1f}};
  EXPECT_EQ(makeStepTable(custom, 7).rows, 7u);
}

}  // namespace
}  // namespace tendril::data
