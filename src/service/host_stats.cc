#include "service/host_stats.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <thread>

namespace tendril::service {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> readText(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The first number in `file`, or none.
std::optional<double> readNumber(const fs::path& file) {
  std::optional<std::string> text = readText(file);
  if (!text) return std::nullopt;
  std::istringstream in(*text);
  double value = 0;
  if (!(in >> value)) return std::nullopt;
  return value;
}

// Entries of `dir` whose name starts with `prefix`, sorted; none when `dir` is missing.
std::vector<fs::path> entries(const fs::path& dir, std::string_view prefix) {
  std::vector<fs::path> found;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    if (it->path().filename().string().starts_with(prefix)) found.push_back(it->path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

std::optional<double> maxOf(std::optional<double> a, std::optional<double> b) {
  if (!a) return b;
  if (!b) return a;
  return std::max(*a, *b);
}

void readLoad(const fs::path& root, HostStats& stats) {
  std::optional<std::string> text = readText(root / "proc/loadavg");
  if (!text) return;
  std::istringstream in(*text);
  double one = 0, five = 0, fifteen = 0;
  if (in >> one >> five >> fifteen) {
    stats.load_1m = one;
    stats.load_5m = five;
    stats.load_15m = fifteen;
  }
}

// cpufreq (kHz) per CPU, else the "cpu MHz" lines of /proc/cpuinfo.
std::vector<double> readFrequencies(const fs::path& root) {
  std::vector<double> mhz;
  for (const fs::path& cpu : entries(root / "sys/devices/system/cpu", "cpu")) {
    std::string name = cpu.filename().string();
    if (name.size() < 4 ||
        !std::all_of(name.begin() + 3, name.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    if (std::optional<double> khz = readNumber(cpu / "cpufreq/scaling_cur_freq")) {
      mhz.push_back(*khz / 1000.0);
    }
  }
  if (!mhz.empty()) return mhz;
  std::optional<std::string> cpuinfo = readText(root / "proc/cpuinfo");
  if (!cpuinfo) return mhz;
  std::istringstream lines(*cpuinfo);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("cpu MHz")) continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    try {
      mhz.push_back(std::stod(line.substr(colon + 1)));
    } catch (const std::exception&) {  // a malformed line counts as absent
    }
  }
  return mhz;
}

std::optional<double> readTemperature(const fs::path& root) {
  std::optional<double> hottest;
  for (const fs::path& zone : entries(root / "sys/class/thermal", "thermal_zone")) {
    if (std::optional<double> milli = readNumber(zone / "temp"); milli && *milli > 0) {
      hottest = maxOf(hottest, *milli / 1000.0);
    }
  }
  for (const fs::path& hwmon : entries(root / "sys/class/hwmon", "hwmon")) {
    for (const fs::path& input : entries(hwmon, "temp")) {
      if (!input.filename().string().ends_with("_input")) continue;
      if (std::optional<double> milli = readNumber(input); milli && *milli > 0) {
        hottest = maxOf(hottest, *milli / 1000.0);
      }
    }
  }
  return hottest;
}

// A hwmon power sensor (µW), summed over sensors.
std::optional<double> readHwmonPower(const fs::path& root) {
  std::optional<double> total;
  for (const fs::path& hwmon : entries(root / "sys/class/hwmon", "hwmon")) {
    for (const char* name : {"power1_input", "power1_average"}) {
      if (std::optional<double> micro = readNumber(hwmon / name)) {
        total = total.value_or(0.0) + *micro / 1e6;
        break;
      }
    }
  }
  return total;
}

void readMemory(const fs::path& root, HostStats& stats) {
  std::optional<std::string> text = readText(root / "proc/meminfo");
  if (!text) return;
  std::istringstream lines(*text);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream in(line);
    std::string key;
    uint64_t kib = 0;
    if (!(in >> key >> kib)) continue;
    if (key == "MemTotal:") stats.memory_total_bytes = kib * 1024;
    if (key == "MemAvailable:") stats.memory_available_bytes = kib * 1024;
  }
}

}  // namespace

HostProbe::HostProbe(fs::path root) : root_(std::move(root)) {}

std::optional<double> HostProbe::raplPower() {
  std::optional<double> energy = readNumber(root_ / "sys/class/powercap/intel-rapl:0/energy_uj");
  if (!energy) return std::nullopt;
  std::lock_guard<std::mutex> lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  std::optional<double> watts;
  auto micro = static_cast<uint64_t>(*energy);
  if (last_energy_uj_ && micro >= *last_energy_uj_) {
    double seconds = std::chrono::duration<double>(now - last_time_).count();
    if (seconds > 0.05) watts = static_cast<double>(micro - *last_energy_uj_) / 1e6 / seconds;
  }
  last_energy_uj_ = micro;
  last_time_ = now;
  return watts;
}

HostStats HostProbe::read() {
  HostStats stats;
  readLoad(root_, stats);
  stats.cpus = std::max(1u, std::thread::hardware_concurrency());
  stats.cpu_mhz = readFrequencies(root_);
  stats.temperature_c = readTemperature(root_);
  stats.power_w = readHwmonPower(root_);
  if (!stats.power_w) stats.power_w = raplPower();
  readMemory(root_, stats);
  stats.uptime_s = readNumber(root_ / "proc/uptime");
  return stats;
}

}  // namespace tendril::service
