#include "data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "engine/random.h"

namespace tendril::data {
namespace {

constexpr uint32_t kImageMagic = 0x00000803;
constexpr uint32_t kLabelMagic = 0x00000801;
constexpr size_t kImageHeaderBytes = 16;
constexpr size_t kLabelHeaderBytes = 8;
constexpr size_t kChunkBytes = size_t{1} << 16;
// Payloads grow by at most this much per step, so a header that promises gigabytes costs memory
// only as fast as the (possibly compressed) stream really delivers bytes.
constexpr size_t kGrowBytes = size_t{64} << 20;
// Key that separates the dataset shuffle from every other random stream drawn from one seed.
constexpr uint64_t kShuffleStream = 0x53485546464C45ull;  // "SHUFFLE"

Status withPrefix(const Status& status, std::string_view prefix) {
  if (status.ok()) return status;
  return Status(status.code(), std::string(prefix) + status.message());
}

std::string hex32(uint32_t value) {
  std::array<char, 16> text{};
  std::snprintf(text.data(), text.size(), "0x%08x", value);
  return text.data();
}

uint32_t bigEndian32(const uint8_t* bytes) {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
         uint32_t{bytes[3]};
}

void putBigEndian32(std::vector<uint8_t>& out, uint32_t value) {
  out.push_back(static_cast<uint8_t>(value >> 24));
  out.push_back(static_cast<uint8_t>(value >> 16));
  out.push_back(static_cast<uint8_t>(value >> 8));
  out.push_back(static_cast<uint8_t>(value));
}

bool isGzip(std::span<const uint8_t> start) {
  return start.size() >= 2 && start[0] == 0x1f && start[1] == 0x8b;
}

// A forward-only stream of bytes. The parser sees plain and compressed files alike through it.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Fills `buffer` as far as the stream allows; a short count means the stream has ended.
  virtual Result<size_t> read(std::span<uint8_t> buffer) = 0;
  // The stream's total length when it is known up front (plain files and buffers), which lets
  // a wrong length be refused before any payload is allocated.
  virtual std::optional<uint64_t> totalSize() const { return std::nullopt; }
  // Appended to length messages, so a user can tell decoded from on-disk byte counts.
  virtual std::string_view lengthNote() const { return ""; }
};

class SpanSource final : public ByteSource {
 public:
  explicit SpanSource(std::span<const uint8_t> data) : data_(data) {}
  Result<size_t> read(std::span<uint8_t> buffer) override {
    size_t n = std::min(buffer.size(), data_.size() - position_);
    std::memcpy(buffer.data(), data_.data() + position_, n);
    position_ += n;
    return n;
  }
  std::optional<uint64_t> totalSize() const override { return data_.size(); }

 private:
  std::span<const uint8_t> data_;
  size_t position_ = 0;
};

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

class FileSource final : public ByteSource {
 public:
  FileSource(FilePtr file, std::optional<uint64_t> size) : file_(std::move(file)), size_(size) {}
  Result<size_t> read(std::span<uint8_t> buffer) override {
    size_t n = std::fread(buffer.data(), 1, buffer.size(), file_.get());
    if (n < buffer.size() && std::ferror(file_.get())) {
      return Status::Io(std::string("read failed: ") + std::strerror(errno));
    }
    return n;
  }
  std::optional<uint64_t> totalSize() const override { return size_; }

 private:
  FilePtr file_;
  std::optional<uint64_t> size_;
};

// Inflates a gzip stream (one or more concatenated members, as gzip(1) allows) from a raw
// source. A stream that ends inside a member is truncated; bytes after the last member that do
// not start another member are refused rather than silently ignored.
class GzipSource final : public ByteSource {
 public:
  explicit GzipSource(std::unique_ptr<ByteSource> raw)
      : raw_(std::move(raw)), input_(kChunkBytes) {}
  ~GzipSource() override {
    if (initialised_) inflateEnd(&stream_);
  }
  GzipSource(const GzipSource&) = delete;
  GzipSource& operator=(const GzipSource&) = delete;

  Status init() {
    stream_ = z_stream{};
    // 16 + MAX_WBITS: expect a gzip wrapper (header and CRC-32 trailer), not raw zlib.
    int rc = inflateInit2(&stream_, 16 + MAX_WBITS);
    if (rc != Z_OK) return Status::Exhausted("zlib inflateInit2 failed");
    initialised_ = true;
    return Status::Ok();
  }

  Result<size_t> read(std::span<uint8_t> buffer) override {
    size_t produced = 0;
    while (produced < buffer.size() && !finished_) {
      if (stream_.avail_in == 0) {
        Result<size_t> got = raw_->read(input_);
        if (!got.ok()) return got.status();
        stream_.next_in = input_.data();
        stream_.avail_in = static_cast<uInt>(*got);
        if (*got == 0) {
          if (in_member_) return Status::Corrupt("gzip stream is truncated (ends inside a member)");
          finished_ = true;
          break;
        }
      }
      size_t want = std::min(buffer.size() - produced, size_t{1} << 30);
      stream_.next_out = buffer.data() + produced;
      stream_.avail_out = static_cast<uInt>(want);
      in_member_ = true;
      int rc = inflate(&stream_, Z_NO_FLUSH);
      produced += want - stream_.avail_out;
      if (rc == Z_STREAM_END) {
        in_member_ = false;
        ++members_;
        if (inflateReset(&stream_) != Z_OK) {
          return Status(Code::kInternal, "zlib inflateReset failed");
        }
      } else if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT) {
        if (members_ > 0 && stream_.total_out == 0) {
          return Status::Corrupt("unexpected bytes after the end of the gzip stream");
        }
        return Status::Corrupt(std::string("gzip data is corrupt (zlib: ") +
                               (stream_.msg != nullptr ? stream_.msg : "data error") + ")");
      } else if (rc == Z_MEM_ERROR) {
        return Status::Exhausted("zlib ran out of memory");
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return Status(Code::kInternal, "zlib inflate failed with code " + std::to_string(rc));
      }
      // Z_BUF_ERROR only means no progress was possible with the input at hand; the loop
      // refills it (or reports truncation when there is none left).
    }
    return produced;
  }
  std::string_view lengthNote() const override { return " after gzip decompression"; }

 private:
  std::unique_ptr<ByteSource> raw_;
  std::vector<uint8_t> input_;
  z_stream stream_{};
  bool initialised_ = false;
  bool in_member_ = false;
  bool finished_ = false;
  uint64_t members_ = 0;
};

Result<std::unique_ptr<ByteSource>> wrapIfGzip(std::unique_ptr<ByteSource> raw, bool gzip) {
  if (!gzip) return raw;
  auto source = std::make_unique<GzipSource>(std::move(raw));
  TENDRIL_RETURN_IF_ERROR(source->init());
  return std::unique_ptr<ByteSource>(std::move(source));
}

Result<std::unique_ptr<ByteSource>> openMemory(std::span<const uint8_t> data) {
  return wrapIfGzip(std::make_unique<SpanSource>(data), isGzip(data));
}

Result<std::unique_ptr<ByteSource>> openFile(const std::filesystem::path& path) {
  std::error_code error;
  auto status = std::filesystem::status(path, error);
  if (error || !std::filesystem::exists(status)) return Status::NotFound("no such file");
  if (!std::filesystem::is_regular_file(status)) return Status::Invalid("not a regular file");
  uint64_t size = std::filesystem::file_size(path, error);
  if (error) return Status::Io("cannot stat: " + error.message());
  FilePtr file(std::fopen(path.c_str(), "rb"));
  if (!file) return Status::Io(std::string("cannot open: ") + std::strerror(errno));
  std::array<uint8_t, 2> magic{};
  size_t got = std::fread(magic.data(), 1, magic.size(), file.get());
  if (std::fseek(file.get(), 0, SEEK_SET) != 0) {
    return Status::Io(std::string("cannot rewind: ") + std::strerror(errno));
  }
  bool gzip = isGzip(std::span<const uint8_t>(magic.data(), got));
  return wrapIfGzip(std::make_unique<FileSource>(std::move(file), size), gzip);
}

// Reads until `buffer` is full or the stream ends; returns the byte count.
Result<size_t> readFully(ByteSource& source, std::span<uint8_t> buffer) {
  size_t total = 0;
  while (total < buffer.size()) {
    Result<size_t> got = source.read(buffer.subspan(total));
    if (!got.ok()) return got.status();
    if (*got == 0) break;
    total += *got;
  }
  return total;
}

std::string lengthMessage(std::string_view what, uint64_t expected, uint64_t actual,
                          const ByteSource& source) {
  return std::string(what) + ": expected " + std::to_string(expected) + " bytes, got " +
         std::to_string(actual) + std::string(source.lengthNote());
}

// Reads a header of `header.size()` bytes and checks its magic.
Status readHeader(ByteSource& source, std::span<uint8_t> header, uint32_t magic,
                  std::string_view kind) {
  Result<size_t> got = readFully(source, header);
  if (!got.ok()) return got.status();
  // The magic is judged first, so a wrong file type is named even when it is short.
  if (*got < 4) {
    return Status::Corrupt(lengthMessage("truncated header", header.size(), *got, source));
  }
  uint32_t found = bigEndian32(header.data());
  if (found == magic) {
    if (*got == header.size()) return Status::Ok();
    return Status::Corrupt(lengthMessage("truncated header", header.size(), *got, source));
  }
  std::string message = "bad magic " + hex32(found) + ", expected " + hex32(magic) + " (IDX " +
                        std::string(kind) + ")";
  if (found == kImageMagic) message += "; this is an IDX image file";
  if (found == kLabelMagic) message += "; this is an IDX label file";
  return Status::Corrupt(message);
}

// Reads exactly `payload` bytes after a header of `header_bytes` and checks that nothing follows.
Status readPayload(ByteSource& source, uint64_t header_bytes, uint64_t payload,
                   std::vector<uint8_t>& out) {
  const uint64_t expected = header_bytes + payload;
  if (auto size = source.totalSize(); size && *size != expected) {
    return Status::Corrupt(
        lengthMessage(*size < expected ? "truncated" : "oversized", expected, *size, source));
  }
  out.clear();
  uint64_t have = 0;
  while (have < payload) {
    size_t step = static_cast<size_t>(std::min<uint64_t>(payload - have, kGrowBytes));
    out.resize(static_cast<size_t>(have) + step);
    Result<size_t> got = readFully(source, std::span<uint8_t>(out).subspan(have, step));
    if (!got.ok()) return got.status();
    have += *got;
    if (*got < step) {
      return Status::Corrupt(lengthMessage("truncated", expected, header_bytes + have, source));
    }
  }
  std::vector<uint8_t> scratch(kChunkBytes);
  uint64_t extra = 0;
  for (;;) {
    Result<size_t> got = source.read(scratch);
    if (!got.ok()) return got.status();
    if (*got == 0) break;
    extra += *got;
  }
  if (extra > 0) {
    return Status::Corrupt(lengthMessage("oversized", expected, expected + extra, source));
  }
  return Status::Ok();
}

struct ImageHeader {
  uint32_t count = 0;
  uint32_t rows = 0;
  uint32_t cols = 0;
};

Result<ImageHeader> readImageHeader(ByteSource& source, const IdxLimits& limits) {
  std::array<uint8_t, kImageHeaderBytes> header{};
  TENDRIL_RETURN_IF_ERROR(readHeader(source, header, kImageMagic, "images"));
  ImageHeader result{bigEndian32(&header[4]), bigEndian32(&header[8]), bigEndian32(&header[12])};
  if (result.count == 0 || result.rows == 0 || result.cols == 0) {
    return Status::Corrupt("zero dimension: " + std::to_string(result.count) + " images of " +
                           std::to_string(result.rows) + "x" + std::to_string(result.cols));
  }
  if (result.count > limits.max_items) {
    return Status::Exhausted(std::to_string(result.count) + " images exceed the limit of " +
                             std::to_string(limits.max_items));
  }
  if (result.rows > limits.max_rows || result.cols > limits.max_cols) {
    return Status::Exhausted("image size " + std::to_string(result.rows) + "x" +
                             std::to_string(result.cols) + " exceeds the limit of " +
                             std::to_string(limits.max_rows) + "x" +
                             std::to_string(limits.max_cols));
  }
  uint64_t bytes = uint64_t{result.count} * result.rows * result.cols;
  if (bytes > limits.max_pixel_bytes) {
    return Status::Exhausted(std::to_string(bytes) + " pixel bytes exceed the limit of " +
                             std::to_string(limits.max_pixel_bytes));
  }
  return result;
}

Result<uint32_t> readLabelHeader(ByteSource& source, const IdxLimits& limits) {
  std::array<uint8_t, kLabelHeaderBytes> header{};
  TENDRIL_RETURN_IF_ERROR(readHeader(source, header, kLabelMagic, "labels"));
  uint32_t count = bigEndian32(&header[4]);
  if (count == 0) return Status::Corrupt("zero dimension: 0 labels");
  if (count > limits.max_items) {
    return Status::Exhausted(std::to_string(count) + " labels exceed the limit of " +
                             std::to_string(limits.max_items));
  }
  return count;
}

Status checkLabels(const std::vector<uint8_t>& labels, const IdxLimits& limits) {
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] > limits.max_label) {
      return Status::Corrupt("label " + std::to_string(labels[i]) + " at index " +
                             std::to_string(i) + " exceeds the maximum " +
                             std::to_string(limits.max_label));
    }
  }
  return Status::Ok();
}

// Both headers are read before either payload, so a count mismatch is refused without
// decoding megabytes of pixels first.
Result<ImageSet> decodePair(ByteSource& images, ByteSource& labels, const IdxLimits& limits,
                            std::string_view images_prefix, std::string_view labels_prefix) {
  Result<ImageHeader> header = readImageHeader(images, limits);
  if (!header.ok()) return withPrefix(header.status(), images_prefix);
  Result<uint32_t> label_count = readLabelHeader(labels, limits);
  if (!label_count.ok()) return withPrefix(label_count.status(), labels_prefix);
  if (header->count != *label_count) {
    return Status::Corrupt("the images file holds " + std::to_string(header->count) +
                           " images but the labels file holds " + std::to_string(*label_count) +
                           " labels");
  }
  ImageSet set;
  set.count = header->count;
  set.rows = header->rows;
  set.cols = header->cols;
  set.classes = uint32_t{limits.max_label} + 1;
  uint64_t pixel_bytes = uint64_t{set.count} * set.rows * set.cols;
  TENDRIL_RETURN_IF_ERROR(
      withPrefix(readPayload(labels, kLabelHeaderBytes, set.count, set.labels), labels_prefix));
  TENDRIL_RETURN_IF_ERROR(withPrefix(checkLabels(set.labels, limits), labels_prefix));
  TENDRIL_RETURN_IF_ERROR(
      withPrefix(readPayload(images, kImageHeaderBytes, pixel_bytes, set.pixels), images_prefix));
  return set;
}

Status outOfMemory() { return Status::Exhausted("out of memory while reading an IDX pair"); }

Status checkConsistent(const ImageSet& set) {
  if (set.count == 0 || set.rows == 0 || set.cols == 0) {
    return Status::Invalid("an IDX set needs non-zero count, rows and cols");
  }
  if (set.pixels.size() != uint64_t{set.count} * set.rows * set.cols) {
    return Status::Invalid("pixels hold " + std::to_string(set.pixels.size()) +
                           " bytes, dimensions need " +
                           std::to_string(uint64_t{set.count} * set.rows * set.cols));
  }
  if (set.labels.size() != set.count) {
    return Status::Invalid("labels hold " + std::to_string(set.labels.size()) +
                           " entries, count is " + std::to_string(set.count));
  }
  for (size_t i = 0; i < set.labels.size(); ++i) {
    if (set.labels[i] >= set.classes) {
      return Status::Invalid("label " + std::to_string(set.labels[i]) + " at index " +
                             std::to_string(i) + " is not below classes " +
                             std::to_string(set.classes));
    }
  }
  return Status::Ok();
}

Result<std::vector<uint8_t>> gzipBytes(std::span<const uint8_t> plain) {
  // One deflate call takes at most 4 GiB (zlib counts in uInt); test and tool data is far less.
  if (plain.size() > 0xFFFFFFFFu) return Status::Invalid("gzip encoding is limited to 4 GiB");
  z_stream stream{};
  // 16 + MAX_WBITS: write a gzip wrapper so the output is an ordinary .gz file.
  if (deflateInit2(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    return Status::Exhausted("zlib deflateInit2 failed");
  }
  std::vector<uint8_t> out(deflateBound(&stream, static_cast<uLong>(plain.size())));
  stream.next_in = const_cast<Bytef*>(plain.data());  // zlib's API is not const-correct
  stream.avail_in = static_cast<uInt>(plain.size());
  stream.next_out = out.data();
  stream.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  if (rc != Z_STREAM_END) return Status(Code::kInternal, "zlib deflate did not finish");
  return out;
}

Status writeFile(const std::filesystem::path& path, std::span<const uint8_t> bytes) {
  FilePtr file(std::fopen(path.c_str(), "wb"));
  if (!file) return Status::Io(path.string() + ": cannot create: " + std::strerror(errno));
  if (std::fwrite(bytes.data(), 1, bytes.size(), file.get()) != bytes.size() ||
      std::fflush(file.get()) != 0) {
    return Status::Io(path.string() + ": write failed: " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace

Result<ImageSet> parseIdxPair(std::span<const uint8_t> images, std::span<const uint8_t> labels,
                              const IdxLimits& limits) {
  try {
    Result<std::unique_ptr<ByteSource>> image_source = openMemory(images);
    if (!image_source.ok()) return image_source.status();
    Result<std::unique_ptr<ByteSource>> label_source = openMemory(labels);
    if (!label_source.ok()) return label_source.status();
    return decodePair(**image_source, **label_source, limits, "images: ", "labels: ");
  } catch (const std::bad_alloc&) {
    return outOfMemory();
  } catch (const std::length_error&) {
    return outOfMemory();
  }
}

Result<ImageSet> readIdxPair(const std::filesystem::path& images,
                             const std::filesystem::path& labels, const IdxLimits& limits) {
  try {
    std::string images_prefix = images.string() + ": ";
    std::string labels_prefix = labels.string() + ": ";
    Result<std::unique_ptr<ByteSource>> image_source = openFile(images);
    if (!image_source.ok()) return withPrefix(image_source.status(), images_prefix);
    Result<std::unique_ptr<ByteSource>> label_source = openFile(labels);
    if (!label_source.ok()) return withPrefix(label_source.status(), labels_prefix);
    return decodePair(**image_source, **label_source, limits, images_prefix, labels_prefix);
  } catch (const std::bad_alloc&) {
    return outOfMemory();
  } catch (const std::length_error&) {
    return outOfMemory();
  }
}

Result<IdxBytes> encodeIdxPair(const ImageSet& set, bool gzip) {
  TENDRIL_RETURN_IF_ERROR(checkConsistent(set));
  try {
    IdxBytes bytes;
    bytes.images.reserve(kImageHeaderBytes + set.pixels.size());
    putBigEndian32(bytes.images, kImageMagic);
    putBigEndian32(bytes.images, set.count);
    putBigEndian32(bytes.images, set.rows);
    putBigEndian32(bytes.images, set.cols);
    bytes.images.insert(bytes.images.end(), set.pixels.begin(), set.pixels.end());
    bytes.labels.reserve(kLabelHeaderBytes + set.labels.size());
    putBigEndian32(bytes.labels, kLabelMagic);
    putBigEndian32(bytes.labels, set.count);
    bytes.labels.insert(bytes.labels.end(), set.labels.begin(), set.labels.end());
    if (gzip) {
      Result<std::vector<uint8_t>> images = gzipBytes(bytes.images);
      if (!images.ok()) return images.status();
      Result<std::vector<uint8_t>> labels = gzipBytes(bytes.labels);
      if (!labels.ok()) return labels.status();
      bytes.images = std::move(images).value();
      bytes.labels = std::move(labels).value();
    }
    return bytes;
  } catch (const std::bad_alloc&) {
    return outOfMemory();
  }
}

Status writeIdxPair(const ImageSet& set, const std::filesystem::path& images,
                    const std::filesystem::path& labels, bool gzip) {
  Result<IdxBytes> bytes = encodeIdxPair(set, gzip);
  if (!bytes.ok()) return bytes.status();
  TENDRIL_RETURN_IF_ERROR(writeFile(images, bytes->images));
  return writeFile(labels, bytes->labels);
}

Result<ImageSplit> splitShuffled(const ImageSet& set, uint32_t train_count, uint64_t seed) {
  if (train_count > set.count) {
    return Status::Invalid("cannot take " + std::to_string(train_count) +
                           " training images from a set of " + std::to_string(set.count));
  }
  assert(set.pixels.size() == set.count * set.imageSize() && set.labels.size() == set.count);
  try {
    std::vector<uint32_t> order(set.count);
    std::iota(order.begin(), order.end(), 0u);
    // Fisher–Yates from the back: position i swaps with a uniform j in [0, i]. Each draw is a
    // pure function of (seed, stream, i), like every other random draw in Tendril.
    for (uint32_t i = set.count; i > 1; --i) {
      uint32_t j = engine::uniformBelow(engine::hashKeys(seed, {kShuffleStream, i - 1}), i);
      std::swap(order[i - 1], order[j]);
    }
    auto take = [&](uint32_t first, uint32_t end) {
      ImageSet part;
      part.count = end - first;
      part.rows = set.rows;
      part.cols = set.cols;
      part.classes = set.classes;
      part.pixels.resize(part.count * set.imageSize());
      part.labels.resize(part.count);
      for (uint32_t k = first; k < end; ++k) {
        std::span<const uint8_t> image = set.image(order[k]);
        std::copy(image.begin(), image.end(), part.pixels.begin() + (k - first) * set.imageSize());
        part.labels[k - first] = set.labels[order[k]];
      }
      return part;
    };
    return ImageSplit{take(0, train_count), take(train_count, set.count)};
  } catch (const std::bad_alloc&) {
    return outOfMemory();
  }
}

std::filesystem::path defaultFashionMnistDir() {
  if (const char* dir = std::getenv("TENDRIL_FASHION_MNIST_DIR"); dir != nullptr && *dir != 0) {
    return dir;
  }
  return "/usr/share/datasets/fashion-mnist";
}

IdxPairPaths fashionMnistPaths(const std::filesystem::path& dir, bool train) {
  const char* prefix = train ? "train" : "t10k";
  return {dir / (std::string(prefix) + "-images-idx3-ubyte.gz"),
          dir / (std::string(prefix) + "-labels-idx1-ubyte.gz")};
}

}  // namespace tendril::data
