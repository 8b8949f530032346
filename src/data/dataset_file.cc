#include "data/dataset_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cassert>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <utility>

namespace tendril::data {
namespace {

// The compact form stores values little-endian and hands out spans of them in place, which is
// only right on a little-endian host (every platform Tendril builds for).
static_assert(std::endian::native == std::endian::little,
              "the compact dataset form is read in place: little-endian hosts only");

constexpr std::array<char, 8> kMagic = {'T', 'N', 'D', 'R', 'L', 'D', 'S', 'T'};
constexpr size_t kMaxColumnNameBytes = 128;
constexpr uint32_t kMaxColumns = 65'536;
constexpr size_t kWriteChunk = size_t{1} << 16;  // values or bytes per piece written

// Header field offsets (docs/formats/dataset.md).
constexpr size_t kVersionAt = 8;
constexpr size_t kKindAt = 12;
constexpr size_t kCountAt = 16;
constexpr size_t kDim0At = 24;  // images: rows; table: columns
constexpr size_t kDim1At = 28;  // images: cols; table: bytes of the column-name block
constexpr size_t kDim2At = 32;  // images: classes; table: 0
constexpr size_t kPayloadAt = 40;

uint32_t load32(const uint8_t* at) {
  return uint32_t{at[0]} | uint32_t{at[1]} << 8 | uint32_t{at[2]} << 16 | uint32_t{at[3]} << 24;
}
uint64_t load64(const uint8_t* at) { return uint64_t{load32(at)} | uint64_t{load32(at + 4)} << 32; }
void store32(uint8_t* at, uint32_t value) {
  for (int i = 0; i < 4; ++i) at[i] = static_cast<uint8_t>(value >> (8 * i));
}
void store64(uint8_t* at, uint64_t value) {
  store32(at, static_cast<uint32_t>(value));
  store32(at + 4, static_cast<uint32_t>(value >> 32));
}

uint64_t align8(uint64_t value) { return (value + 7) & ~uint64_t{7}; }

// a·b + c, or nothing when it does not fit 64 bits.
std::optional<uint64_t> mulAdd(uint64_t a, uint64_t b, uint64_t c) {
  uint64_t product = 0;
  uint64_t sum = 0;
  if (__builtin_mul_overflow(a, b, &product) || __builtin_add_overflow(product, c, &sum)) {
    return std::nullopt;
  }
  return sum;
}

// Bytes of the name block: per column a u16 length and the name's bytes.
uint64_t nameBlockBytes(const std::vector<std::string>& columns) {
  uint64_t bytes = 0;
  for (const std::string& name : columns) bytes += 2 + name.size();
  return bytes;
}

std::array<uint8_t, kDatasetHeaderBytes> makeHeader(DatasetKind kind, uint64_t count, uint32_t dim0,
                                                    uint32_t dim1, uint32_t dim2,
                                                    uint64_t payload_offset) {
  std::array<uint8_t, kDatasetHeaderBytes> header{};
  std::memcpy(header.data(), kMagic.data(), kMagic.size());
  store32(&header[kVersionAt], kDatasetFileVersion);
  header[kKindAt] = static_cast<uint8_t>(kind);
  store64(&header[kCountAt], count);
  store32(&header[kDim0At], dim0);
  store32(&header[kDim1At], dim1);
  store32(&header[kDim2At], dim2);
  store64(&header[kPayloadAt], payload_offset);
  return header;
}

void writeBytes(std::ostream& out, const void* data, size_t bytes) {
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
}

Status streamStatus(const std::ostream& out) {
  return out ? Status::Ok() : Status::Io("writing the dataset failed");
}

std::string sizeMismatch(uint64_t actual, uint64_t expected) {
  return "the file holds " + std::to_string(actual) + " bytes but its header implies " +
         std::to_string(expected);
}

void putBigEndian32(std::ostream& out, uint32_t value) {
  std::array<uint8_t, 4> bytes = {static_cast<uint8_t>(value >> 24),
                                  static_cast<uint8_t>(value >> 16),
                                  static_cast<uint8_t>(value >> 8), static_cast<uint8_t>(value)};
  writeBytes(out, bytes.data(), bytes.size());
}

// Writes `bytes` in pieces of kWriteChunk (a stream over a file buffers anyway; this keeps one
// call from asking for gigabytes at once).
void writeChunked(std::ostream& out, std::span<const uint8_t> bytes) {
  for (size_t at = 0; at < bytes.size() && out; at += kWriteChunk) {
    writeBytes(out, bytes.data() + at, std::min(kWriteChunk, bytes.size() - at));
  }
}

Status requireKind(const DatasetReader& reader, DatasetKind kind, std::string_view what) {
  if (reader.kind() == kind) return Status::Ok();
  return Status::Precondition(std::string(what) + " needs a dataset of kind " +
                              std::string(datasetKindName(kind)));
}

// The start of an IDX file of `reader`'s images: its magic and the item count (IDX counts are
// 32 bits).
Status startIdx(const DatasetReader& reader, std::string_view what, uint32_t magic,
                std::ostream& out) {
  TENDRIL_RETURN_IF_ERROR(requireKind(reader, DatasetKind::kImages, what));
  if (reader.count() > UINT32_MAX) return Status::Precondition("too many items for IDX");
  putBigEndian32(out, magic);
  putBigEndian32(out, static_cast<uint32_t>(reader.count()));
  return Status::Ok();
}

}  // namespace

std::string_view datasetKindName(DatasetKind kind) {
  return kind == DatasetKind::kImages ? "images" : "table";
}

Result<DatasetReader> DatasetReader::open(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::NotFound("dataset file does not exist");
    return Status::Io(std::string("cannot open the dataset file: ") + std::strerror(errno));
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return Status::Io("the dataset file is not a readable regular file");
  }
  const auto size = static_cast<uint64_t>(info.st_size);
  if (size < kDatasetHeaderBytes) {
    ::close(fd);
    return Status::Corrupt("truncated header: " + std::to_string(size) + " of " +
                           std::to_string(kDatasetHeaderBytes) + " bytes");
  }
  void* mapped = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int map_errno = errno;
  ::close(fd);  // the mapping keeps the file
  if (mapped == MAP_FAILED) {
    return Status::Io(std::string("cannot map the dataset file: ") + std::strerror(map_errno));
  }
  DatasetReader reader;
  reader.map_ = static_cast<const uint8_t*>(mapped);
  reader.map_bytes_ = size;
  const uint8_t* header = reader.map_;

  if (std::memcmp(header, kMagic.data(), kMagic.size()) != 0) {
    return Status::Corrupt("bad magic: not a Tendril dataset file");
  }
  uint32_t version = load32(header + kVersionAt);
  if (version != kDatasetFileVersion) {
    return Status::Corrupt("unsupported version " + std::to_string(version) +
                           " (this build reads " + std::to_string(kDatasetFileVersion) + ")");
  }
  uint8_t kind = header[kKindAt];
  if (kind != static_cast<uint8_t>(DatasetKind::kImages) &&
      kind != static_cast<uint8_t>(DatasetKind::kTable)) {
    return Status::Corrupt("unknown kind " + std::to_string(kind));
  }
  if (header[kKindAt + 1] != 0 || header[kKindAt + 2] != 0 || header[kKindAt + 3] != 0 ||
      load32(header + kDim2At + 4) != 0) {
    return Status::Corrupt("reserved header bytes are not zero");
  }
  reader.kind_ = static_cast<DatasetKind>(kind);
  reader.count_ = load64(header + kCountAt);
  if (reader.count_ == 0) return Status::Corrupt("zero items");
  const uint32_t dim0 = load32(header + kDim0At);
  const uint32_t dim1 = load32(header + kDim1At);
  const uint32_t dim2 = load32(header + kDim2At);
  reader.payload_offset_ = load64(header + kPayloadAt);

  if (reader.kind_ == DatasetKind::kImages) {
    reader.rows_ = dim0;
    reader.cols_ = dim1;
    reader.classes_ = dim2;
    if (dim0 == 0 || dim1 == 0) return Status::Corrupt("zero image dimension");
    if (dim2 == 0 || dim2 > kMaxDatasetClasses) {
      return Status::Corrupt("classes " + std::to_string(dim2) + " outside 1.." +
                             std::to_string(kMaxDatasetClasses));
    }
    if (reader.payload_offset_ != kDatasetHeaderBytes) {
      return Status::Corrupt("bad payload offset " + std::to_string(reader.payload_offset_));
    }
    // count·(rows·cols + 1) + header: every image's pixels and its label.
    std::optional<uint64_t> expected =
        mulAdd(reader.count_, uint64_t{dim0} * dim1 + 1, kDatasetHeaderBytes);
    if (!expected || *expected != size) {
      return Status::Corrupt(expected ? sizeMismatch(size, *expected)
                                      : "the header's dimensions overflow");
    }
    const uint8_t* labels = reader.map_ + kDatasetHeaderBytes + reader.count_ * reader.imageSize();
    for (uint64_t i = 0; i < reader.count_; ++i) {
      if (labels[i] >= reader.classes_) {
        return Status::Corrupt("label " + std::to_string(labels[i]) + " of item " +
                               std::to_string(i) + " is not below classes " +
                               std::to_string(reader.classes_));
      }
    }
    return reader;
  }

  // Table.
  if (dim0 == 0 || dim0 > kMaxColumns) {
    return Status::Corrupt("column count " + std::to_string(dim0) + " outside 1.." +
                           std::to_string(kMaxColumns));
  }
  if (dim2 != 0) return Status::Corrupt("reserved header bytes are not zero");
  if (dim1 > size - kDatasetHeaderBytes) {
    return Status::Corrupt("the column names run past the end of the file");
  }
  if (reader.payload_offset_ != align8(kDatasetHeaderBytes + uint64_t{dim1})) {
    return Status::Corrupt("bad payload offset " + std::to_string(reader.payload_offset_));
  }
  const uint8_t* names = reader.map_ + kDatasetHeaderBytes;
  uint64_t at = 0;
  reader.columns_.reserve(dim0);
  for (uint32_t c = 0; c < dim0; ++c) {
    if (dim1 - at < 2) return Status::Corrupt("the column names are truncated");
    size_t length = size_t{names[at]} | size_t{names[at + 1]} << 8;
    at += 2;
    if (length == 0 || length > kMaxColumnNameBytes || length > dim1 - at) {
      return Status::Corrupt("column " + std::to_string(c) + " has a bad name length " +
                             std::to_string(length));
    }
    reader.columns_.emplace_back(reinterpret_cast<const char*>(names + at), length);
    at += length;
  }
  if (at != dim1) return Status::Corrupt("the column-name block has trailing bytes");
  std::optional<uint64_t> expected =
      mulAdd(reader.count_, uint64_t{dim0} * sizeof(float), reader.payload_offset_);
  if (!expected || *expected != size) {
    return Status::Corrupt(expected ? sizeMismatch(size, *expected)
                                    : "the header's dimensions overflow");
  }
  for (uint64_t pad = kDatasetHeaderBytes + dim1; pad < reader.payload_offset_; ++pad) {
    if (reader.map_[pad] != 0) return Status::Corrupt("padding bytes are not zero");
  }
  return reader;
}

DatasetReader::DatasetReader(DatasetReader&& other) noexcept { *this = std::move(other); }

DatasetReader& DatasetReader::operator=(DatasetReader&& other) noexcept {
  if (this != &other) {
    release();
    map_ = std::exchange(other.map_, nullptr);
    map_bytes_ = std::exchange(other.map_bytes_, 0);
    kind_ = other.kind_;
    count_ = other.count_;
    rows_ = other.rows_;
    cols_ = other.cols_;
    classes_ = other.classes_;
    columns_ = std::move(other.columns_);
    payload_offset_ = other.payload_offset_;
  }
  return *this;
}

DatasetReader::~DatasetReader() { release(); }

void DatasetReader::release() {
  if (map_ != nullptr) ::munmap(const_cast<uint8_t*>(map_), map_bytes_);
  map_ = nullptr;
  map_bytes_ = 0;
}

std::span<const uint8_t> DatasetReader::image(uint64_t index) const {
  assert(kind_ == DatasetKind::kImages && index < count_);
  return {map_ + payload_offset_ + index * imageSize(), imageSize()};
}

uint8_t DatasetReader::label(uint64_t index) const {
  assert(kind_ == DatasetKind::kImages && index < count_);
  return map_[payload_offset_ + count_ * imageSize() + index];
}

std::span<const float> DatasetReader::column(size_t index) const {
  assert(kind_ == DatasetKind::kTable && index < columns_.size());
  // The payload offset is a multiple of 8 in a page-aligned mapping, so floats are aligned.
  const auto* values = reinterpret_cast<const float*>(map_ + payload_offset_);
  return {values + index * count_, static_cast<size_t>(count_)};
}

uint64_t compactImageBytes(uint64_t count, uint32_t rows, uint32_t cols) {
  return kDatasetHeaderBytes + count * rows * cols + count;
}

uint64_t compactTableBytes(const std::vector<std::string>& columns, uint64_t rows) {
  return align8(kDatasetHeaderBytes + nameBlockBytes(columns)) +
         rows * columns.size() * sizeof(float);
}

Status writeImageDataset(std::ostream& out, const ImageSet& set) {
  if (set.count == 0 || set.rows == 0 || set.cols == 0) {
    return Status::Invalid("an image dataset needs at least one image of at least 1x1");
  }
  if (set.classes == 0 || set.classes > kMaxDatasetClasses) {
    return Status::Invalid("classes must be 1.." + std::to_string(kMaxDatasetClasses));
  }
  if (set.pixels.size() != uint64_t{set.count} * set.imageSize() ||
      set.labels.size() != set.count) {
    return Status::Invalid("the image set's sizes disagree with its dimensions");
  }
  for (size_t i = 0; i < set.labels.size(); ++i) {
    if (set.labels[i] >= set.classes) {
      return Status::Invalid("label " + std::to_string(set.labels[i]) + " of item " +
                             std::to_string(i) + " is not below classes " +
                             std::to_string(set.classes));
    }
  }
  auto header = makeHeader(DatasetKind::kImages, set.count, set.rows, set.cols, set.classes,
                           kDatasetHeaderBytes);
  writeBytes(out, header.data(), header.size());
  writeChunked(out, set.pixels);
  writeChunked(out, set.labels);
  return streamStatus(out);
}

Status writeTableDataset(std::ostream& out, const Table& table) {
  const size_t width = table.columns.size();
  if (width == 0 || table.rows == 0) {
    return Status::Invalid("a table dataset needs at least one column and one row");
  }
  if (width > kMaxColumns) {
    return Status::Invalid("a table dataset has at most " + std::to_string(kMaxColumns) +
                           " columns");
  }
  if (table.values.size() != table.rows * width) {
    return Status::Invalid("the table's values disagree with its rows and columns");
  }
  for (const std::string& name : table.columns) {
    if (name.empty() || name.size() > kMaxColumnNameBytes) {
      return Status::Invalid("column names must be 1.." + std::to_string(kMaxColumnNameBytes) +
                             " bytes");
    }
  }
  for (size_t i = 0; i < table.values.size(); ++i) {
    if (!std::isfinite(table.values[i])) {
      return Status::Invalid("row " + std::to_string(i / width + 1) + ", column " +
                             table.columns[i % width] + ": not a finite number");
    }
  }
  const uint64_t names_bytes = nameBlockBytes(table.columns);
  const uint64_t payload = align8(kDatasetHeaderBytes + names_bytes);
  auto header = makeHeader(DatasetKind::kTable, table.rows, static_cast<uint32_t>(width),
                           static_cast<uint32_t>(names_bytes), 0, payload);
  writeBytes(out, header.data(), header.size());
  for (const std::string& name : table.columns) {
    std::array<uint8_t, 2> length = {static_cast<uint8_t>(name.size()),
                                     static_cast<uint8_t>(name.size() >> 8)};
    writeBytes(out, length.data(), length.size());
    writeBytes(out, name.data(), name.size());
  }
  const std::array<uint8_t, 8> zeros{};
  writeBytes(out, zeros.data(), payload - kDatasetHeaderBytes - names_bytes);
  // Transpose row-major memory into column-major storage, a bounded piece at a time.
  std::vector<float> piece;
  piece.reserve(std::min(kWriteChunk, table.rows));
  for (size_t c = 0; c < width && out; ++c) {
    for (size_t row = 0; row < table.rows && out; row += piece.size()) {
      piece.clear();
      for (size_t r = row; r < table.rows && piece.size() < kWriteChunk; ++r) {
        piece.push_back(table.at(r, c));
      }
      writeBytes(out, piece.data(), piece.size() * sizeof(float));
    }
  }
  return streamStatus(out);
}

Status exportIdxImages(const DatasetReader& reader, std::ostream& out) {
  TENDRIL_RETURN_IF_ERROR(startIdx(reader, "IDX images", 0x00000803, out));
  putBigEndian32(out, reader.imageRows());
  putBigEndian32(out, reader.imageCols());
  for (uint64_t i = 0; i < reader.count() && out; ++i) writeChunked(out, reader.image(i));
  return streamStatus(out);
}

Status exportIdxLabels(const DatasetReader& reader, std::ostream& out) {
  TENDRIL_RETURN_IF_ERROR(startIdx(reader, "IDX labels", 0x00000801, out));
  std::vector<uint8_t> piece;
  for (uint64_t i = 0; i < reader.count() && out;) {
    piece.clear();
    for (; i < reader.count() && piece.size() < kWriteChunk; ++i) piece.push_back(reader.label(i));
    writeChunked(out, piece);
  }
  return streamStatus(out);
}

Status exportCsv(const DatasetReader& reader, std::ostream& out) {
  TENDRIL_RETURN_IF_ERROR(requireKind(reader, DatasetKind::kTable, "CSV"));
  const std::vector<std::string>& columns = reader.columns();
  for (size_t c = 0; c < columns.size(); ++c) {
    if (c > 0) out.put(',');
    out << columns[c];
  }
  out.put('\n');
  std::vector<std::span<const float>> values;
  for (size_t c = 0; c < columns.size(); ++c) values.push_back(reader.column(c));
  std::array<char, 32> cell{};
  for (uint64_t r = 0; r < reader.count() && out; ++r) {
    for (size_t c = 0; c < values.size(); ++c) {
      if (c > 0) out.put(',');
      int length = std::snprintf(cell.data(), cell.size(), "%.9g", double{values[c][r]});
      writeBytes(out, cell.data(), static_cast<size_t>(length));
    }
    out.put('\n');
  }
  return streamStatus(out);
}

}  // namespace tendril::data
