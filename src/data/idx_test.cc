#include "data/idx.h"
#include "common/status_testing.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <set>

namespace tendril::data {
namespace {

// A small set whose every image is unique: its first two pixels encode its index.
ImageSet makeSet(uint32_t count, uint32_t rows = 3, uint32_t cols = 2) {
  ImageSet set;
  set.count = count;
  set.rows = rows;
  set.cols = cols;
  for (uint32_t i = 0; i < count; ++i) {
    set.labels.push_back(static_cast<uint8_t>(i % 10));
    for (uint32_t p = 0; p < rows * cols; ++p) {
      uint32_t value = p == 0 ? i & 0xff : p == 1 ? (i >> 8) & 0xff : (i * 7 + p * 13) & 0xff;
      set.pixels.push_back(static_cast<uint8_t>(value));
    }
  }
  return set;
}

void expectSameSet(const ImageSet& a, const ImageSet& b) {
  EXPECT_EQ(a.count, b.count);
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.cols, b.cols);
  EXPECT_EQ(a.classes, b.classes);
  EXPECT_EQ(a.pixels, b.pixels);
  EXPECT_EQ(a.labels, b.labels);
}

// gzip of `plain` as one member, independent of the code under test.
std::vector<uint8_t> gzip(std::span<const uint8_t> plain) {
  z_stream stream{};
  EXPECT_EQ(deflateInit2(&stream, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::vector<uint8_t> out(deflateBound(&stream, static_cast<uLong>(plain.size())));
  stream.next_in = const_cast<Bytef*>(plain.data());
  stream.avail_in = static_cast<uInt>(plain.size());
  stream.next_out = out.data();
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

IdxBytes encode(const ImageSet& set) {
  Result<IdxBytes> bytes = encodeIdxPair(set);
  EXPECT_TRUE(bytes.ok()) << bytes.status().toString();
  return std::move(bytes).value();
}

std::filesystem::path tempPath(const std::string& name) {
  return std::filesystem::path(testing::TempDir()) / ("tendril_idx_" + name);
}

void writeBytes(const std::filesystem::path& path, std::span<const uint8_t> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

TEST(IdxTest, PlainRoundTrip) {
  ImageSet set = makeSet(25);
  IdxBytes bytes = encode(set);
  EXPECT_EQ(bytes.images.size(), 16u + 25 * 6);
  EXPECT_EQ(bytes.labels.size(), 8u + 25);
  EXPECT_EQ(bytes.images[3], 0x03);
  EXPECT_EQ(bytes.labels[3], 0x01);
  Result<ImageSet> parsed = parseIdxPair(bytes.images, bytes.labels);
  ASSERT_TRUE(parsed.ok()) << parsed.status().toString();
  expectSameSet(*parsed, set);
  EXPECT_EQ(parsed->image(3)[0], 3);
}

TEST(IdxTest, GzipRoundTrip) {
  ImageSet set = makeSet(300, 28, 28);
  Result<IdxBytes> bytes = encodeIdxPair(set, /*gzip=*/true);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->images[0], 0x1f);
  EXPECT_EQ(bytes->images[1], 0x8b);
  Result<ImageSet> parsed = parseIdxPair(bytes->images, bytes->labels);
  ASSERT_TRUE(parsed.ok()) << parsed.status().toString();
  expectSameSet(*parsed, set);
}

TEST(IdxTest, MixedPlainImagesAndGzipLabels) {
  ImageSet set = makeSet(40);
  IdxBytes bytes = encode(set);
  Result<ImageSet> parsed = parseIdxPair(bytes.images, gzip(bytes.labels));
  ASSERT_TRUE(parsed.ok()) << parsed.status().toString();
  expectSameSet(*parsed, set);
}

TEST(IdxTest, ConcatenatedGzipMembersAreOneStream) {
  ImageSet set = makeSet(50);
  IdxBytes bytes = encode(set);
  std::span<const uint8_t> images(bytes.images);
  std::vector<uint8_t> joined = gzip(images.first(100));
  std::vector<uint8_t> rest = gzip(images.subspan(100));
  joined.insert(joined.end(), rest.begin(), rest.end());
  Result<ImageSet> parsed = parseIdxPair(joined, bytes.labels);
  ASSERT_TRUE(parsed.ok()) << parsed.status().toString();
  expectSameSet(*parsed, set);
}

TEST(IdxTest, FilesRoundTripPlainAndGzip) {
  ImageSet set = makeSet(120, 5, 4);
  for (bool compressed : {false, true}) {
    SCOPED_TRACE(compressed ? "gzip" : "plain");
    auto images = tempPath(compressed ? "rt-images.gz" : "rt-images");
    auto labels = tempPath(compressed ? "rt-labels.gz" : "rt-labels");
    ASSERT_TRUE(writeIdxPair(set, images, labels, compressed).ok());
    Result<ImageSet> read = readIdxPair(images, labels);
    ASSERT_TRUE(read.ok()) << read.status().toString();
    expectSameSet(*read, set);
  }
}

TEST(IdxTest, BadMagicIsRefused) {
  IdxBytes bytes = encode(makeSet(4));
  bytes.images[2] = 0x09;
  EXPECT_TRUE(failsWith(parseIdxPair(bytes.images, bytes.labels).status(), Code::kCorrupt,
                        "images: bad magic 0x00000903, expected 0x00000803"));
}

TEST(IdxTest, SwappedFilesAreNamed) {
  IdxBytes bytes = encode(makeSet(4));
  Status status = parseIdxPair(bytes.labels, bytes.images).status();
  EXPECT_TRUE(failsWith(status, Code::kCorrupt, "this is an IDX label file"));
}

TEST(IdxTest, TruncatedHeaderIsRefused) {
  IdxBytes bytes = encode(makeSet(4));
  bytes.labels.resize(6);
  EXPECT_TRUE(failsWith(parseIdxPair(bytes.images, bytes.labels).status(), Code::kCorrupt,
                        "labels: truncated header: expected 8 bytes, got 6"));
}

TEST(IdxTest, TruncatedPayloadGivesExpectedAndActualBytes) {
  IdxBytes bytes = encode(makeSet(10));  // 16 + 60 image bytes
  bytes.images.pop_back();
  EXPECT_TRUE(failsWith(parseIdxPair(bytes.images, bytes.labels).status(), Code::kCorrupt,
                        "images: truncated: expected 76 bytes, got 75"));
}

TEST(IdxTest, TrailingBytesAreRefused) {
  IdxBytes bytes = encode(makeSet(10));
  bytes.labels.push_back(0);
  bytes.labels.push_back(0);
  EXPECT_TRUE(failsWith(parseIdxPair(bytes.images, bytes.labels).status(), Code::kCorrupt,
                        "labels: oversized: expected 18 bytes, got 20"));
}

TEST(IdxTest, GzipLengthErrorsCountDecompressedBytes) {
  IdxBytes bytes = encode(makeSet(10));
  std::vector<uint8_t> longer = bytes.images;
  longer.push_back(7);
  EXPECT_TRUE(failsWith(parseIdxPair(gzip(longer), bytes.labels).status(), Code::kCorrupt,
                        "oversized: expected 76 bytes, got 77 after gzip decompression"));
  std::vector<uint8_t> shorter(bytes.images.begin(), bytes.images.end() - 5);
  EXPECT_TRUE(failsWith(parseIdxPair(gzip(shorter), bytes.labels).status(), Code::kCorrupt,
                        "truncated: expected 76 bytes, got 71 after gzip decompression"));
}

TEST(IdxTest, TruncatedGzipIsRefused) {
  IdxBytes bytes = encode(makeSet(200, 28, 28));
  std::vector<uint8_t> packed = gzip(bytes.images);
  for (size_t cut : {size_t{4}, size_t{8}, packed.size() / 2, packed.size() - 20}) {
    SCOPED_TRACE(cut);
    std::vector<uint8_t> truncated(packed.begin(), packed.begin() + static_cast<long>(cut));
    Status status = parseIdxPair(truncated, bytes.labels).status();
    EXPECT_TRUE(failsWith(status, Code::kCorrupt, "images: ")) << status.toString();
  }
  // Losing only the trailer (CRC-32 and length) still loses the integrity check.
  std::vector<uint8_t> no_trailer(packed.begin(), packed.end() - 8);
  EXPECT_TRUE(failsWith(parseIdxPair(no_trailer, bytes.labels).status(), Code::kCorrupt,
                        "gzip stream is truncated"));
}

TEST(IdxTest, CorruptGzipIsRefused) {
  IdxBytes bytes = encode(makeSet(200, 28, 28));
  std::vector<uint8_t> packed = gzip(bytes.images);
  packed[packed.size() - 6] ^= 0xff;  // inside the stored length: the trailer check fails
  EXPECT_TRUE(failsWith(parseIdxPair(packed, bytes.labels).status(), Code::kCorrupt,
                        "gzip data is corrupt"));
}

TEST(IdxTest, GarbageAfterGzipStreamIsRefused) {
  IdxBytes bytes = encode(makeSet(10));
  std::vector<uint8_t> packed = gzip(bytes.images);
  const std::vector<uint8_t> garbage = {0x00, 0x41, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
  packed.insert(packed.end(), garbage.begin(), garbage.end());
  EXPECT_TRUE(failsWith(parseIdxPair(packed, bytes.labels).status(), Code::kCorrupt,
                        "unexpected bytes after the end of the gzip stream"));
}

TEST(IdxTest, ZeroDimensionsAreRefused) {
  for (size_t field : {size_t{4}, size_t{8}, size_t{12}}) {
    IdxBytes bytes = encode(makeSet(1));
    std::fill(bytes.images.begin() + static_cast<long>(field),
              bytes.images.begin() + static_cast<long>(field) + 4, 0);
    EXPECT_TRUE(failsWith(parseIdxPair(bytes.images, bytes.labels).status(), Code::kCorrupt,
                          "zero dimension"));
  }
  IdxBytes bytes = encode(makeSet(1));
  std::fill(bytes.labels.begin() + 4, bytes.labels.begin() + 8, 0);
  EXPECT_TRUE(failsWith(parseIdxPair(bytes.images, bytes.labels).status(), Code::kCorrupt,
                        "labels: zero dimension"));
}

TEST(IdxTest, HugeHeadersAreRefusedBeforeAllocating) {
  IdxBytes bytes = encode(makeSet(1));
  bytes.images[8] = 0x01;  // rows = 2^24 + 3
  EXPECT_TRUE(failsWith(parseIdxPair(bytes.images, bytes.labels).status(), Code::kResourceExhausted,
                        "exceeds the limit of 4096x4096"));
  bytes = encode(makeSet(1));
  bytes.images[4] = 0x7f;  // count ≈ 2.1 billion
  EXPECT_TRUE(failsWith(parseIdxPair(bytes.images, bytes.labels).status(), Code::kResourceExhausted,
                        "exceed the limit of 10000000"));
  IdxLimits tight;
  tight.max_pixel_bytes = 10;
  bytes = encode(makeSet(2));
  EXPECT_TRUE(failsWith(parseIdxPair(bytes.images, bytes.labels, tight).status(),
                        Code::kResourceExhausted, "12 pixel bytes exceed the limit of 10"));
}

TEST(IdxTest, LabelOutOfRangeIsRefused) {
  IdxBytes bytes = encode(makeSet(12));
  bytes.labels[8 + 11] = 10;
  EXPECT_TRUE(failsWith(parseIdxPair(bytes.images, bytes.labels).status(), Code::kCorrupt,
                        "labels: label 10 at index 11 exceeds the maximum 9"));
  IdxLimits wider;
  wider.max_label = 10;
  Result<ImageSet> parsed = parseIdxPair(bytes.images, bytes.labels, wider);
  ASSERT_TRUE(parsed.ok()) << parsed.status().toString();
  EXPECT_EQ(parsed->classes, 11u);
}

TEST(IdxTest, CountMismatchIsRefused) {
  IdxBytes a = encode(makeSet(12));
  IdxBytes b = encode(makeSet(11));
  EXPECT_TRUE(failsWith(parseIdxPair(a.images, b.labels).status(), Code::kCorrupt,
                        "the images file holds 12 images but the labels file holds 11 labels"));
}

TEST(IdxTest, FileErrorsNameThePath) {
  auto missing = tempPath("does-not-exist");
  auto labels = tempPath("fe-labels");
  IdxBytes bytes = encode(makeSet(3));
  writeBytes(labels, bytes.labels);
  EXPECT_TRUE(failsWith(readIdxPair(missing, labels).status(), Code::kNotFound,
                        missing.string() + ": no such file"));

  auto oversized = tempPath("fe-images-oversized");
  std::vector<uint8_t> longer = bytes.images;
  longer.push_back(1);
  writeBytes(oversized, longer);
  EXPECT_TRUE(failsWith(readIdxPair(oversized, labels).status(), Code::kCorrupt,
                        oversized.string() + ": oversized: expected 34 bytes, got 35"));

  auto truncated_gzip = tempPath("fe-images-truncated.gz");
  std::vector<uint8_t> packed = gzip(bytes.images);
  packed.resize(packed.size() - 3);
  writeBytes(truncated_gzip, packed);
  EXPECT_TRUE(failsWith(readIdxPair(truncated_gzip, labels).status(), Code::kCorrupt,
                        truncated_gzip.string() + ": gzip stream is truncated"));
}

TEST(IdxTest, EncodeRefusesInconsistentSets) {
  ImageSet set = makeSet(3);
  set.pixels.pop_back();
  EXPECT_TRUE(failsWith(encodeIdxPair(set).status(), Code::kInvalidArgument, "pixels hold"));
  set = makeSet(3);
  set.labels[0] = 10;
  EXPECT_TRUE(failsWith(encodeIdxPair(set).status(), Code::kInvalidArgument, "label 10"));
}

TEST(IdxTest, SplitShuffledIsASeededPermutation) {
  ImageSet set = makeSet(1000);
  Result<ImageSplit> split = splitShuffled(set, 800, 0);
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->train.count, 800u);
  EXPECT_EQ(split->test.count, 200u);
  EXPECT_EQ(split->train.pixels.size(), 800u * 6);
  EXPECT_EQ(split->test.labels.size(), 200u);
  // Every image lands in exactly one part, with its own label.
  std::set<uint32_t> seen;
  for (const ImageSet* part : {&split->train, &split->test}) {
    for (uint32_t i = 0; i < part->count; ++i) {
      uint32_t index = part->image(i)[0] | (uint32_t{part->image(i)[1]} << 8);
      EXPECT_TRUE(seen.insert(index).second);
      EXPECT_EQ(part->labels[i], index % 10);
      EXPECT_TRUE(
          std::equal(part->image(i).begin(), part->image(i).end(), set.image(index).begin()));
    }
  }
  EXPECT_EQ(seen.size(), 1000u);
  // Shuffled, reproducible, and seed-dependent.
  EXPECT_NE(split->train.pixels,
            std::vector<uint8_t>(set.pixels.begin(), set.pixels.begin() + 4800));
  Result<ImageSplit> again = splitShuffled(set, 800, 0);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->train.pixels, split->train.pixels);
  Result<ImageSplit> other = splitShuffled(set, 800, 1);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->train.pixels, split->train.pixels);
}

TEST(IdxTest, SplitShuffledBounds) {
  ImageSet set = makeSet(10);
  EXPECT_TRUE(failsWith(splitShuffled(set, 11).status(), Code::kInvalidArgument, "11"));
  Result<ImageSplit> all = splitShuffled(set, 10);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->train.count, 10u);
  EXPECT_EQ(all->test.count, 0u);
}

TEST(IdxTest, FashionMnistPathsFollowTheEnvironment) {
  ASSERT_EQ(setenv("TENDRIL_FASHION_MNIST_DIR", "/some/where", 1), 0);
  EXPECT_EQ(defaultFashionMnistDir(), std::filesystem::path("/some/where"));
  ASSERT_EQ(unsetenv("TENDRIL_FASHION_MNIST_DIR"), 0);
  EXPECT_EQ(defaultFashionMnistDir(), std::filesystem::path("/usr/share/datasets/fashion-mnist"));
  IdxPairPaths test = fashionMnistPaths("/d", false);
  EXPECT_EQ(test.images, std::filesystem::path("/d/t10k-images-idx3-ubyte.gz"));
  EXPECT_EQ(test.labels, std::filesystem::path("/d/t10k-labels-idx1-ubyte.gz"));
  EXPECT_EQ(fashionMnistPaths("/d", true).images,
            std::filesystem::path("/d/train-images-idx3-ubyte.gz"));
}

// Against the real files of the Debian package dataset-fashion-mnist, when installed.
TEST(IdxTest, RealFashionMnist) {
  std::filesystem::path dir = defaultFashionMnistDir();
  if (!std::filesystem::exists(fashionMnistPaths(dir, false).images)) {
    GTEST_SKIP() << "Fashion-MNIST not installed in " << dir;
  }
  for (bool train : {false, true}) {
    SCOPED_TRACE(train ? "train" : "test");
    IdxPairPaths paths = fashionMnistPaths(dir, train);
    auto start = std::chrono::steady_clock::now();
    Result<ImageSet> set = readIdxPair(paths.images, paths.labels);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(set.ok()) << set.status().toString();
    std::printf("[ info     ] %s: %u images read in %.3f s\n", paths.images.c_str(), set->count,
                seconds);
    const uint32_t expected = train ? 60'000 : 10'000;
    EXPECT_EQ(set->count, expected);
    EXPECT_EQ(set->rows, 28u);
    EXPECT_EQ(set->cols, 28u);
    EXPECT_EQ(set->pixels.size(), size_t{expected} * 784);
    // Fashion-MNIST is exactly balanced: a tenth of the images per class.
    std::array<uint32_t, 10> histogram{};
    for (uint8_t label : set->labels) ++histogram[label];
    for (uint32_t n : histogram) EXPECT_EQ(n, expected / 10);
    // Images are not blank: some ink in the first one.
    std::span<const uint8_t> first = set->image(0);
    EXPECT_GT(std::count_if(first.begin(), first.end(), [](uint8_t p) { return p > 0; }), 100);
  }
}

}  // namespace
}  // namespace tendril::data
