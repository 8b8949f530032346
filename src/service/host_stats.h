// What the host is doing, for the dashboard's monitoring page (GET /api/v1/system/host): load,
// CPU frequency, temperature, power and memory, read from /proc and /sys.
//
// Promises: a figure the host does not offer (a VM without cpufreq, thermal zones or RAPL, a
// container without /sys) is absent (std::nullopt / empty), never an error; a malformed file
// counts as absent. Power comes from a hwmon power sensor when one exists, otherwise from the
// RAPL energy counter (powercap) as the mean over the time since the previous read(), so the
// first read() of a probe has none from RAPL. `root` ("/" in production) lets tests build a fake
// /proc and /sys tree.
// Thread safety: read() may be called from any thread (it serialises the RAPL sample).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <vector>

namespace tendril::service {

struct HostStats {
  std::optional<double> load_1m, load_5m, load_15m;
  unsigned cpus = 0;                    // online CPUs as the process sees them
  std::vector<double> cpu_mhz;          // per CPU, current; empty when unknown
  std::optional<double> temperature_c;  // hottest thermal zone or hwmon sensor
  std::optional<double> power_w;        // package power
  std::optional<uint64_t> memory_total_bytes, memory_available_bytes;
  std::optional<double> uptime_s;
};

class HostProbe {
 public:
  explicit HostProbe(std::filesystem::path root = "/");
  HostStats read();

 private:
  std::optional<double> raplPower();

  std::filesystem::path root_;
  std::mutex mutex_;
  std::optional<uint64_t> last_energy_uj_;
  std::chrono::steady_clock::time_point last_time_;
};

}  // namespace tendril::service
