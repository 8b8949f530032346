#include "data/dataset_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "common/status_testing.h"
#include "data/atomic_file.h"

namespace tendril::data {
namespace {

class DatasetFileTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tendril-dataset-file-" + std::to_string(::getpid()) + "-" +
            testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path file(const std::string& name) const { return dir_ / name; }

  static ImageSet sampleImages() {
    ImageSet set;
    set.count = 5;
    set.rows = 3;
    set.cols = 2;
    set.classes = 10;
    for (uint32_t i = 0; i < set.count * 6; ++i) set.pixels.push_back(static_cast<uint8_t>(i * 7));
    set.labels = {0, 9, 3, 3, 7};
    return set;
  }

  static Table sampleTable() {
    Table table;
    table.columns = {"input", "output", "third column"};
    table.rows = 4;
    table.values = {1.5f,        -2.0f,        0.1f,     //
                    3.0f,        4.25f,        1e-30f,   //
                    -0.0f,       6.0f,         3.4e38f,  //
                    16777216.0f, 0.333333343f, 7.0f};
    return table;
  }

  std::filesystem::path writeImages(const ImageSet& set, const std::string& name = "images.tds") {
    std::filesystem::path path = file(name);
    EXPECT_OK(
        writeFileAtomically(path, [&](std::ostream& out) { return writeImageDataset(out, set); }));
    return path;
  }

  std::filesystem::path writeTable(const Table& table, const std::string& name = "table.tds") {
    std::filesystem::path path = file(name);
    EXPECT_OK(writeFileAtomically(
        path, [&](std::ostream& out) { return writeTableDataset(out, table); }));
    return path;
  }

  static std::string readAll(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::filesystem::path writeBytes(const std::string& bytes, const std::string& name = "bad.tds") {
    std::filesystem::path path = file(name);
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    return path;
  }

  std::filesystem::path dir_;
};

void put32(std::string& bytes, size_t at, uint32_t value) {
  for (int i = 0; i < 4; ++i)
    bytes[at + static_cast<size_t>(i)] = static_cast<char>(value >> (8 * i));
}
void put64(std::string& bytes, size_t at, uint64_t value) {
  put32(bytes, at, static_cast<uint32_t>(value));
  put32(bytes, at + 4, static_cast<uint32_t>(value >> 32));
}

TEST_F(DatasetFileTest, ImagesRoundTrip) {
  ImageSet set = sampleImages();
  std::filesystem::path path = writeImages(set);
  ASSERT_OK_AND_ASSIGN(DatasetReader reader, DatasetReader::open(path));
  EXPECT_EQ(reader.kind(), DatasetKind::kImages);
  EXPECT_EQ(reader.count(), 5u);
  EXPECT_EQ(reader.imageRows(), 3u);
  EXPECT_EQ(reader.imageCols(), 2u);
  EXPECT_EQ(reader.classes(), 10u);
  EXPECT_TRUE(reader.columns().empty());
  EXPECT_EQ(reader.fileBytes(), compactImageBytes(5, 3, 2));
  EXPECT_EQ(reader.fileBytes(), std::filesystem::file_size(path));
  for (uint32_t i = 0; i < set.count; ++i) {
    std::span<const uint8_t> expected = set.image(i);
    std::span<const uint8_t> got = reader.image(i);
    ASSERT_EQ(got.size(), expected.size());
    EXPECT_TRUE(std::equal(got.begin(), got.end(), expected.begin())) << "image " << i;
    EXPECT_EQ(reader.label(i), set.labels[i]);
  }
}

TEST_F(DatasetFileTest, TableRoundTripIsColumnMajor) {
  Table table = sampleTable();
  std::filesystem::path path = writeTable(table);
  ASSERT_OK_AND_ASSIGN(DatasetReader reader, DatasetReader::open(path));
  EXPECT_EQ(reader.kind(), DatasetKind::kTable);
  EXPECT_EQ(reader.count(), 4u);
  EXPECT_EQ(reader.columns(), table.columns);
  EXPECT_EQ(reader.fileBytes(), compactTableBytes(table.columns, 4));
  for (size_t c = 0; c < 3; ++c) {
    std::span<const float> column = reader.column(c);
    ASSERT_EQ(column.size(), 4u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(column.data()) % alignof(float), 0u);
    for (size_t r = 0; r < 4; ++r) {
      EXPECT_EQ(std::memcmp(&column[r], &table.values[r * 3 + c], sizeof(float)), 0)
          << "row " << r << " column " << c;
    }
  }
  // Column-major: the four values of column 0 lie one after another on disk.
  std::string bytes = readAll(path);
  float first[4];
  std::memcpy(first, bytes.data() + bytes.size() - 3 * 4 * sizeof(float), sizeof first);
  EXPECT_EQ(first[1], 3.0f);
  EXPECT_EQ(first[3], 16777216.0f);
}

// docs/formats/dataset.md §2–§3, byte by byte.
TEST_F(DatasetFileTest, ImageLayoutMatchesTheDocument) {
  ImageSet set;
  set.count = 2;
  set.rows = 1;
  set.cols = 3;
  set.classes = 4;
  set.pixels = {1, 2, 3, 4, 5, 6};
  set.labels = {3, 0};
  std::string expected = "TNDRLDST";
  expected += std::string("\x01\0\0\0", 4);            // version
  expected += std::string("\x01\0\0\0", 4);            // kind, reserved
  expected += std::string("\x02\0\0\0\0\0\0\0", 8);    // count
  expected += std::string("\x01\0\0\0\x03\0\0\0", 8);  // rows, cols
  expected += std::string("\x04\0\0\0\0\0\0\0", 8);    // classes, reserved
  expected += std::string("\x30\0\0\0\0\0\0\0", 8);    // payload offset 48
  expected += std::string("\x01\x02\x03\x04\x05\x06", 6);
  expected += std::string("\x03\0", 2);
  EXPECT_EQ(readAll(writeImages(set)), expected);
}

// docs/formats/dataset.md §2 and §4, byte by byte.
TEST_F(DatasetFileTest, TableLayoutMatchesTheDocument) {
  Table table;
  table.columns = {"a", "bc"};
  table.rows = 2;
  table.values = {1.0f, 2.0f,  // row 0: a, bc
                  3.0f, -0.5f};
  std::string expected = "TNDRLDST";
  expected += std::string("\x01\0\0\0", 4);
  expected += std::string("\x02\0\0\0", 4);
  expected += std::string("\x02\0\0\0\0\0\0\0", 8);    // rows
  expected += std::string("\x02\0\0\0\x07\0\0\0", 8);  // columns, name bytes 2+1+2+2
  expected += std::string(8, '\0');
  expected += std::string("\x38\0\0\0\0\0\0\0", 8);  // payload at 48 + 7 -> 56
  expected += std::string("\x01\0a\x02\0bc", 7);
  expected += std::string(1, '\0');  // padding
  // Column a: 1, 3; column bc: 2, -0.5.
  expected += std::string("\0\0\x80\x3f\0\0\x40\x40\0\0\0\x40\0\0\0\xbf", 16);
  EXPECT_EQ(readAll(writeTable(table)), expected);
}

TEST_F(DatasetFileTest, ReaderIsMovable) {
  ASSERT_OK_AND_ASSIGN(DatasetReader reader, DatasetReader::open(writeImages(sampleImages())));
  DatasetReader moved = std::move(reader);
  EXPECT_EQ(moved.label(1), 9);
  DatasetReader assigned = std::move(moved);
  EXPECT_EQ(assigned.image(4)[5], static_cast<uint8_t>(29 * 7));
}

TEST_F(DatasetFileTest, ExportIdxParsesBackToTheSameSet) {
  ImageSet set = sampleImages();
  ASSERT_OK_AND_ASSIGN(DatasetReader reader, DatasetReader::open(writeImages(set)));
  std::ostringstream images;
  std::ostringstream labels;
  ASSERT_OK(exportIdxImages(reader, images));
  ASSERT_OK(exportIdxLabels(reader, labels));
  std::string image_bytes = images.str();
  std::string label_bytes = labels.str();
  EXPECT_EQ(image_bytes.size(), 16u + 30u);
  EXPECT_EQ(label_bytes.size(), 8u + 5u);
  ASSERT_OK_AND_ASSIGN(
      ImageSet back,
      parseIdxPair(
          std::span(reinterpret_cast<const uint8_t*>(image_bytes.data()), image_bytes.size()),
          std::span(reinterpret_cast<const uint8_t*>(label_bytes.data()), label_bytes.size())));
  EXPECT_EQ(back.count, set.count);
  EXPECT_EQ(back.rows, set.rows);
  EXPECT_EQ(back.cols, set.cols);
  EXPECT_EQ(back.pixels, set.pixels);
  EXPECT_EQ(back.labels, set.labels);
  std::ostringstream csv;
  EXPECT_TRUE(failsWith(exportCsv(reader, csv), Code::kFailedPrecondition, "table"));
}

TEST_F(DatasetFileTest, ExportCsvRoundTripsEveryFloatExactly) {
  Table table = sampleTable();
  ASSERT_OK_AND_ASSIGN(DatasetReader reader, DatasetReader::open(writeTable(table)));
  std::ostringstream csv;
  ASSERT_OK(exportCsv(reader, csv));
  EXPECT_EQ(csv.str().substr(0, csv.str().find('\n')), "input,output,third column");
  ASSERT_OK_AND_ASSIGN(Table back, parseCsv(csv.str()));
  EXPECT_EQ(back.columns, table.columns);
  ASSERT_EQ(back.rows, table.rows);
  ASSERT_EQ(back.values.size(), table.values.size());
  for (size_t i = 0; i < table.values.size(); ++i) {
    EXPECT_EQ(std::memcmp(&back.values[i], &table.values[i], sizeof(float)), 0)
        << "value " << i << ": " << back.values[i] << " vs " << table.values[i];
  }
  std::ostringstream idx;
  EXPECT_TRUE(failsWith(exportIdxImages(reader, idx), Code::kFailedPrecondition, "images"));
}

TEST_F(DatasetFileTest, WritersRefuseInconsistentContent) {
  std::ostringstream out;
  ImageSet set = sampleImages();
  set.labels[2] = 10;
  EXPECT_TRUE(failsWith(writeImageDataset(out, set), Code::kInvalidArgument, "label 10"));
  set = sampleImages();
  set.pixels.pop_back();
  EXPECT_TRUE(failsWith(writeImageDataset(out, set), Code::kInvalidArgument, "disagree"));
  EXPECT_TRUE(failsWith(writeImageDataset(out, ImageSet{}), Code::kInvalidArgument, "at least"));

  Table table = sampleTable();
  table.values[4] = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(failsWith(writeTableDataset(out, table), Code::kInvalidArgument,
                        "row 2, column output: not a finite number"));
  table = sampleTable();
  table.values.pop_back();
  EXPECT_TRUE(failsWith(writeTableDataset(out, table), Code::kInvalidArgument, "disagree"));
  EXPECT_TRUE(failsWith(writeTableDataset(out, Table{}), Code::kInvalidArgument, "at least"));
}

TEST_F(DatasetFileTest, MissingFileIsNotFound) {
  EXPECT_EQ(DatasetReader::open(file("nothing.tds")).status().code(), Code::kNotFound);
}

// Every proper prefix of a valid file, and the file with one byte more, is refused as Corrupt.
TEST_F(DatasetFileTest, TruncatedOrPaddedFilesAreCorrupt) {
  for (const std::filesystem::path& path :
       {writeImages(sampleImages()), writeTable(sampleTable())}) {
    std::string bytes = readAll(path);
    for (size_t length = 0; length < bytes.size(); ++length) {
      Result<DatasetReader> reader = DatasetReader::open(writeBytes(bytes.substr(0, length)));
      ASSERT_EQ(reader.status().code(), Code::kCorrupt) << path.filename() << " cut at " << length;
    }
    Result<DatasetReader> padded = DatasetReader::open(writeBytes(bytes + '\0'));
    EXPECT_TRUE(failsWith(padded.status(), Code::kCorrupt, "header implies")) << path.filename();
  }
}

TEST_F(DatasetFileTest, LyingHeadersAreCorrupt) {
  const std::string images = readAll(writeImages(sampleImages()));
  const std::string table = readAll(writeTable(sampleTable()));
  struct Case {
    const char* what;
    std::string bytes;
    const char* message;
  };
  std::vector<Case> cases;
  auto with = [](std::string bytes, auto change) {
    change(bytes);
    return bytes;
  };
  cases.push_back({"magic", with(images, [](std::string& b) { b[0] = 'X'; }), "bad magic"});
  cases.push_back({"version", with(images, [](std::string& b) { put32(b, 8, 2); }), "version 2"});
  cases.push_back({"kind", with(images, [](std::string& b) { b[12] = 3; }), "unknown kind 3"});
  cases.push_back({"reserved", with(images, [](std::string& b) { b[13] = 1; }), "reserved"});
  cases.push_back(
      {"count larger", with(images, [](std::string& b) { put64(b, 16, 6); }), "header implies"});
  cases.push_back({"count zero", with(images, [](std::string& b) { put64(b, 16, 0); }), "zero"});
  cases.push_back({"huge count",
                   with(images, [](std::string& b) { put64(b, 16, uint64_t{1} << 62); }),
                   "overflow"});
  cases.push_back({"huge dims",
                   with(images,
                        [](std::string& b) {
                          put32(b, 24, 0xFFFFFFFF);
                          put32(b, 28, 0xFFFFFFFF);
                        }),
                   "overflow"});
  cases.push_back(
      {"zero rows", with(images, [](std::string& b) { put32(b, 24, 0); }), "zero image"});
  cases.push_back(
      {"classes", with(images, [](std::string& b) { put32(b, 32, 300); }), "classes 300"});
  cases.push_back({"label range", with(images, [](std::string& b) { put32(b, 32, 9); }),
                   "label 9 of item 1 is not below classes 9"});
  cases.push_back(
      {"payload offset", with(images, [](std::string& b) { put64(b, 40, 56); }), "payload offset"});
  cases.push_back(
      {"no columns", with(table, [](std::string& b) { put32(b, 24, 0); }), "column count"});
  cases.push_back({"more columns", with(table, [](std::string& b) { put32(b, 24, 4); }), "column"});
  cases.push_back({"name block past end",
                   with(table, [](std::string& b) { put32(b, 28, 1u << 30); }), "past the end"});
  cases.push_back({"name length", with(table, [](std::string& b) { b[48] = 120; }), "name length"});
  cases.push_back({"padding",
                   with(table,
                        [](std::string& b) {
                          // names: 2+5 + 2+6 + 2+12 = 29 bytes, padded to 32 after the 48-byte
                          // header
                          b[48 + 29] = 1;
                        }),
                   "padding"});
  for (const Case& c : cases) {
    Result<DatasetReader> reader = DatasetReader::open(writeBytes(c.bytes));
    EXPECT_TRUE(failsWith(reader.status(), Code::kCorrupt, c.message)) << c.what;
  }
}

}  // namespace
}  // namespace tendril::data
