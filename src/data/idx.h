// IDX image datasets (the MNIST / Fashion-MNIST file format).
//
// An IDX pair is one file of images and one file of labels. Both start with a big-endian header:
//   images: magic 0x00000803, count, rows, cols (4 × uint32), then count·rows·cols bytes
//   labels: magic 0x00000801, count (2 × uint32), then count bytes
// Either file may be gzip-compressed (recognised by its 1f 8b magic, whatever its name) and is
// then inflated while it is read, so a 47 MB training file never sits in memory twice.
//
// Everything read is checked before it is trusted: magic, non-zero and bounded dimensions, the
// exact payload length (a truncated or oversized file is refused, naming the expected and actual
// byte counts), the label range and that both files hold the same number of items.
//
// Thread safety: all functions are reentrant; ImageSet is a plain value.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "common/status.h"

namespace tendril::data {

// Images with one label each, in file order.
struct ImageSet {
  uint32_t count = 0;
  uint32_t rows = 0;
  uint32_t cols = 0;
  std::vector<uint8_t> pixels;  // count·rows·cols bytes, image after image, each row-major
  std::vector<uint8_t> labels;  // count labels, each < classes
  uint32_t classes = 10;

  size_t imageSize() const { return static_cast<size_t>(rows) * cols; }
  // The pixels of image `index` (< count).
  std::span<const uint8_t> image(uint32_t index) const {
    return std::span<const uint8_t>(pixels).subspan(index * imageSize(), imageSize());
  }
};

// Bounds that keep a hostile header from allocating unbounded memory.
struct IdxLimits {
  uint32_t max_items = 10'000'000;
  uint32_t max_rows = 4096;
  uint32_t max_cols = 4096;
  uint64_t max_pixel_bytes = uint64_t{4} << 30;  // 4 GiB of decoded pixels
  uint8_t max_label = 9;                         // labels 0..max_label; classes = max_label + 1
};

// Decodes an IDX pair held in memory (each buffer plain or gzip).
// Errors: Corrupt for a malformed or inconsistent file, ResourceExhausted past `limits`.
// Messages start with "images: " or "labels: " when one file is at fault.
Result<ImageSet> parseIdxPair(std::span<const uint8_t> images, std::span<const uint8_t> labels,
                              const IdxLimits& limits = {});

// Reads an IDX pair from two files (each plain or gzip), streaming.
// Errors as parseIdxPair, plus NotFound / Io when a file cannot be opened or read; messages
// start with the offending path.
Result<ImageSet> readIdxPair(const std::filesystem::path& images,
                             const std::filesystem::path& labels, const IdxLimits& limits = {});

// The two files of an encoded pair.
struct IdxBytes {
  std::vector<uint8_t> images;
  std::vector<uint8_t> labels;
};

// Encodes `set` as an IDX pair, gzip-compressed when `gzip` is set. Fails with InvalidArgument
// when the set is inconsistent (vector sizes disagree with the dimensions, a label ≥ classes).
Result<IdxBytes> encodeIdxPair(const ImageSet& set, bool gzip = false);

// Writes `set` as an IDX pair to two files (replacing them), for tests and tools.
Status writeIdxPair(const ImageSet& set, const std::filesystem::path& images,
                    const std::filesystem::path& labels, bool gzip = false);

// A training part and a test part of one image set.
struct ImageSplit {
  ImageSet train;
  ImageSet test;
};

// Shuffles `set` with a fixed seeded Fisher–Yates permutation, then puts the first
// `train_count` images into `train` and the rest into `test`. The permutation depends only on
// the seed and the count, never on the platform, so every run and machine sees the same split.
// Fails with InvalidArgument when train_count > set.count.
Result<ImageSplit> splitShuffled(const ImageSet& set, uint32_t train_count, uint64_t seed = 0);

// Where Fashion-MNIST lives: $TENDRIL_FASHION_MNIST_DIR when set, else the directory the Debian
// package dataset-fashion-mnist installs (/usr/share/datasets/fashion-mnist).
std::filesystem::path defaultFashionMnistDir();

// The files of one half of Fashion-MNIST (train: 60 000 images, test: 10 000) inside `dir`, with
// the gzip names the Debian package and the upstream project use.
struct IdxPairPaths {
  std::filesystem::path images;
  std::filesystem::path labels;
};
IdxPairPaths fashionMnistPaths(const std::filesystem::path& dir, bool train);

}  // namespace tendril::data
