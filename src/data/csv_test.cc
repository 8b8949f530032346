#include "data/csv.h"
#include "common/status_testing.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

namespace tendril::data {
namespace {

Table parseOk(std::string_view text) {
  Result<Table> table = parseCsv(text);
  EXPECT_TRUE(table.ok()) << table.status().toString();
  return table.ok() ? std::move(table).value() : Table{};
}

Status parseError(std::string_view text, const CsvLimits& limits = {}) {
  return parseCsv(text, limits).status();
}

TEST(CsvTest, ReadsNumbersBooleansAndColumnNames) {
  Table table = parseOk("a,b,c\n1,2.5,-3\n4e2,.5,+1E-1\ntrue,false,0\n");
  ASSERT_EQ(table.columns, (std::vector<std::string>{"a", "b", "c"}));
  ASSERT_EQ(table.rows, 3u);
  EXPECT_EQ(table.values,
            (std::vector<float>{1.0f, 2.5f, -3.0f, 400.0f, 0.5f, 0.1f, 1.0f, 0.0f, 0.0f}));
  EXPECT_EQ(table.at(1, 1), 0.5f);
  EXPECT_EQ(table.columnIndex("c"), 2u);
  EXPECT_FALSE(table.columnIndex("d").has_value());
}

TEST(CsvTest, NullAndEmptyRepeatThePreviousRow) {
  Table table = parseOk("x,y\n1,2\nnull,\nNull,7\n,NULL\n");
  EXPECT_EQ(table.values, (std::vector<float>{1, 2, 1, 2, 1, 7, 1, 7}));
}

TEST(CsvTest, ToleratesCrlfBlankLinesSpacesAndByteOrderMark) {
  Table table = parseOk("\xEF\xBB\xBF\r\n  in , out\r\n\r\n 1 ,\t2\r\n   \n3,4");
  EXPECT_EQ(table.columns, (std::vector<std::string>{"in", "out"}));
  EXPECT_EQ(table.rows, 2u);
  EXPECT_EQ(table.values, (std::vector<float>{1, 2, 3, 4}));
}

TEST(CsvTest, SingleColumnHasNoCommas) {
  Table table = parseOk("value\n1\n2\n3\n");
  EXPECT_EQ(table.rows, 3u);
  EXPECT_EQ(table.values, (std::vector<float>{1, 2, 3}));
}

TEST(CsvTest, BadCellNamesLineAndColumn) {
  // Hanami read "abc" as 0; Tendril refuses it.
  EXPECT_TRUE(failsWith(parseError("a,b\n1,2\n\n3,abc\n"), Code::kInvalidArgument,
                        "line 4, column 2 ('b'): cannot read 'abc' as a number"));
  for (const char* cell : {"1.2.3", "--1", "1e", "e5", ".", "0x10", "True", "1 2", "-"}) {
    SCOPED_TRACE(cell);
    EXPECT_TRUE(failsWith(parseError(std::string("a\n") + cell + "\n"), Code::kInvalidArgument,
                          "line 2, column 1 ('a')"));
  }
}

TEST(CsvTest, NonFiniteValuesAreRefused) {
  for (const char* cell : {"inf", "nan", "-Infinity", "1e39", "-1e39", "1e999"}) {
    SCOPED_TRACE(cell);
    EXPECT_TRUE(failsWith(parseError(std::string("a\n") + cell + "\n"), Code::kInvalidArgument,
                          "line 2, column 1"));
  }
  EXPECT_EQ(parseOk("a\n3.4e38\n").rows, 1u);
}

TEST(CsvTest, WrongRowWidthGivesExpectedAndActual) {
  EXPECT_TRUE(failsWith(parseError("a,b\n1,2\n1,2,3\n"), Code::kInvalidArgument,
                        "line 3: expected 2 cells, got 3"));
  EXPECT_TRUE(
      failsWith(parseError("a,b\n1\n"), Code::kInvalidArgument, "line 2: expected 2 cells, got 1"));
  EXPECT_TRUE(failsWith(parseError("a,b\n1,2,\n"), Code::kInvalidArgument,
                        "line 2: expected 2 cells, got 3"));
}

TEST(CsvTest, NullInFirstRowIsRefused) {
  EXPECT_TRUE(failsWith(parseError("a,b\n1,null\n"), Code::kInvalidArgument,
                        "line 2, column 2 ('b'): empty or null cell in the first data row"));
  EXPECT_TRUE(
      failsWith(parseError("\n\na,b\n\n,1\n"), Code::kInvalidArgument, "line 5, column 1 ('a')"));
}

TEST(CsvTest, HeaderErrors) {
  EXPECT_TRUE(failsWith(parseError("a,b,a\n1,2,3\n"), Code::kInvalidArgument,
                        "line 1, column 3: duplicate column name 'a'"));
  EXPECT_TRUE(failsWith(parseError("a,,b\n1,2,3\n"), Code::kInvalidArgument,
                        "line 1, column 2: empty column name"));
  EXPECT_TRUE(failsWith(parseError("\"a\",b\n1,2\n"), Code::kInvalidArgument,
                        "quoted fields are not supported"));
  EXPECT_TRUE(failsWith(parseError(std::string(200, 'x') + "\n1\n"), Code::kInvalidArgument,
                        "longer than 128 bytes"));
  // Names are case-sensitive, so these are distinct.
  EXPECT_EQ(parseOk("a,A\n1,2\n").columns.size(), 2u);
}

TEST(CsvTest, EmptyInputsAreRefused) {
  EXPECT_TRUE(failsWith(parseError(""), Code::kInvalidArgument, "empty CSV"));
  EXPECT_TRUE(failsWith(parseError("\n \r\n\t\n"), Code::kInvalidArgument, "empty CSV"));
  EXPECT_TRUE(failsWith(parseError("a,b\n"), Code::kInvalidArgument, "no data rows"));
}

TEST(CsvTest, QuotedCellsAreRefused) {
  EXPECT_TRUE(failsWith(parseError("a\n\"1\"\n"), Code::kInvalidArgument,
                        "line 2, column 1 ('a'): quoted fields are not supported"));
}

TEST(CsvTest, LimitsAreEnforced) {
  CsvLimits limits;
  limits.max_rows = 2;
  EXPECT_TRUE(
      failsWith(parseError("a\n1\n2\n3\n", limits), Code::kResourceExhausted, "more than 2 rows"));
  limits = {};
  limits.max_columns = 2;
  EXPECT_TRUE(failsWith(parseError("a,b,c\n1,2,3\n", limits), Code::kResourceExhausted,
                        "more than 2 columns"));
  limits = {};
  limits.max_bytes = 5;
  EXPECT_TRUE(failsWith(parseError("a\n1\n2\n", limits), Code::kResourceExhausted,
                        "exceeds the limit of 5"));
}

TEST(CsvTest, ReadsFiles) {
  auto path = std::filesystem::path(testing::TempDir()) / "tendril_csv_table.csv";
  {
    std::ofstream out(path, std::ios::trunc);
    out << "input,output\n0,0\n80,1\n";
  }
  Result<Table> table = readCsvFile(path);
  ASSERT_TRUE(table.ok()) << table.status().toString();
  EXPECT_EQ(table->rows, 2u);
  {
    std::ofstream out(path, std::ios::trunc);
    out << "input,output\n0,zero\n";
  }
  EXPECT_TRUE(failsWith(readCsvFile(path).status(), Code::kInvalidArgument,
                        path.string() + ": line 2, column 2 ('output')"));
  auto missing = std::filesystem::path(testing::TempDir()) / "tendril_csv_missing.csv";
  EXPECT_TRUE(failsWith(readCsvFile(missing).status(), Code::kNotFound, missing.string()));
}

TEST(CsvTest, LargeTablesParseInLinearTime) {
  std::string text = "a,b,c,d\n";
  constexpr size_t kRows = 200'000;
  for (size_t i = 0; i < kRows; ++i) {
    text += std::to_string(i) + (i == 0 ? ",0.25,5,-1e-3\n" : ",0.25,null,-1e-3\n");
  }
  auto start = std::chrono::steady_clock::now();
  Table table = parseOk(text);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // Not a benchmark: generous enough for the sanitizer build, far below quadratic behaviour.
  EXPECT_LT(seconds, 5.0);
  ASSERT_EQ(table.rows, kRows);
  EXPECT_EQ(table.at(kRows - 1, 0), static_cast<float>(kRows - 1));
  EXPECT_EQ(table.at(kRows - 1, 2), 5.0f);
}

}  // namespace
}  // namespace tendril::data
