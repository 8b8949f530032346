// Datasets in the service's compact stored form (docs/formats/dataset.md, byte by byte).
//
// An uploaded dataset (an IDX pair or a CSV table) is validated once, at finalize, and then kept
// as one file: a fixed little-endian header (magic, version, kind, count, shape) followed by
//   images: count·rows·cols u8 pixels (image after image, each row-major), then count u8 labels;
//   tables: the column names, zero padding to a multiple of 8, then columns·rows f32
//           little-endian values, column after column (column-major).
// Training and requests read it through DatasetReader, which maps the file into memory: samples
// are read at random (shuffled epochs) without the file ever being loaded whole.
//
// DatasetReader::open() trusts nothing in the file: magic, version, kind, dimensions, the
// column-name block and the exact file length implied by the header are all checked (and every
// label is checked against `classes`), so a truncated, padded or lying file is refused with
// Corrupt instead of being read out of bounds. Table values are not scanned on open (that would
// touch the whole file); the writers refuse non-finite values, so a file Tendril wrote holds
// none.
//
// A mapped file must not be truncated or rewritten in place while a reader maps it; Tendril
// only ever replaces dataset files whole (rename) or unlinks them, which leaves existing
// mappings intact.
//
// Thread safety: a DatasetReader is immutable after open(); its const members may be called
// from any number of threads. The functions are reentrant. No exception escapes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "data/csv.h"
#include "data/idx.h"

namespace tendril::data {

enum class DatasetKind : uint8_t { kImages = 1, kTable = 2 };

// "images" or "table": the wire spelling.
std::string_view datasetKindName(DatasetKind kind);

// The current (and only) version of the compact form.
inline constexpr uint32_t kDatasetFileVersion = 1;
// Bytes of the fixed header every compact file starts with.
inline constexpr size_t kDatasetHeaderBytes = 48;
// Most classes an image dataset may have (labels are one byte).
inline constexpr uint32_t kMaxDatasetClasses = 256;

class DatasetReader {
 public:
  // Maps `file` and validates it (see the file comment). Errors: NotFound when the file does
  // not exist, Io when it cannot be opened or mapped, Corrupt for anything malformed (the
  // message names the field at fault, never the path).
  static Result<DatasetReader> open(const std::filesystem::path& file);

  DatasetReader(DatasetReader&& other) noexcept;
  DatasetReader& operator=(DatasetReader&& other) noexcept;
  DatasetReader(const DatasetReader&) = delete;
  DatasetReader& operator=(const DatasetReader&) = delete;
  ~DatasetReader();

  DatasetKind kind() const { return kind_; }
  uint64_t count() const { return count_; }          // images: items; table: rows
  uint64_t fileBytes() const { return map_bytes_; }  // the whole file

  // Images only (0 for a table).
  uint32_t imageRows() const { return rows_; }
  uint32_t imageCols() const { return cols_; }
  uint32_t classes() const { return classes_; }
  size_t imageSize() const { return static_cast<size_t>(rows_) * cols_; }
  // The pixels of image `index` (< count(); asserted), row-major.
  std::span<const uint8_t> image(uint64_t index) const;
  // The label of image `index` (< count(); asserted), always < classes().
  uint8_t label(uint64_t index) const;

  // Tables only (empty for images).
  const std::vector<std::string>& columns() const { return columns_; }
  // The `count()` values of column `index` (< columns().size(); asserted), in row order.
  std::span<const float> column(size_t index) const;

 private:
  DatasetReader() = default;
  void release();

  const uint8_t* map_ = nullptr;  // the whole file, mapped read-only
  uint64_t map_bytes_ = 0;
  DatasetKind kind_ = DatasetKind::kImages;
  uint64_t count_ = 0;
  uint32_t rows_ = 0;
  uint32_t cols_ = 0;
  uint32_t classes_ = 0;
  std::vector<std::string> columns_;
  uint64_t payload_offset_ = 0;  // images: pixels; table: first value of column 0
};

// The compact file's size for an image set / a table, without writing it (quota checks).
uint64_t compactImageBytes(uint64_t count, uint32_t rows, uint32_t cols);
uint64_t compactTableBytes(const std::vector<std::string>& columns, uint64_t rows);

// Writes `set` in compact form to `out` (a writeFileAtomically() stream). InvalidArgument when
// the set is inconsistent (vector sizes, a label ≥ classes, classes outside 1..256) or empty.
Status writeImageDataset(std::ostream& out, const ImageSet& set);
// Writes `table` (row-major in memory) in compact form, column-major. InvalidArgument when it is
// inconsistent, empty, or holds a non-finite value.
Status writeTableDataset(std::ostream& out, const Table& table);

// The download forms, re-encoded from a compact file and written to `out` in bounded pieces:
// uncompressed IDX images / labels (FailedPrecondition for a table), and CSV text (a header line
// of the column names, then one line per row, values printed with %.9g so that they read back
// as the same floats; FailedPrecondition for images).
Status exportIdxImages(const DatasetReader& reader, std::ostream& out);
Status exportIdxLabels(const DatasetReader& reader, std::ostream& out);
Status exportCsv(const DatasetReader& reader, std::ostream& out);

}  // namespace tendril::data
