// HostProbe against fake /proc and /sys trees: every figure read where present, absent (not an
// error) where the host does not offer it, and RAPL power from the energy counter's change.
#include "service/host_stats.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <thread>

namespace tendril::service {
namespace {

namespace fs = std::filesystem;

class HostStatsTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ =
        fs::temp_directory_path() / ("tendril-host-test-" + std::to_string(::getpid()) + "-" +
                                     testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  void write(const std::string& relative, const std::string& text) {
    fs::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative) << text;
  }

  fs::path root_;
};

TEST_F(HostStatsTest, EmptyHostHasEveryFigureAbsent) {
  HostProbe probe(root_);
  HostStats stats = probe.read();
  EXPECT_FALSE(stats.load_1m.has_value());
  EXPECT_TRUE(stats.cpu_mhz.empty());
  EXPECT_FALSE(stats.temperature_c.has_value());
  EXPECT_FALSE(stats.power_w.has_value());
  EXPECT_FALSE(stats.memory_total_bytes.has_value());
  EXPECT_FALSE(stats.uptime_s.has_value());
  EXPECT_GE(stats.cpus, 1u);
}

TEST_F(HostStatsTest, ReadsProcAndSysFigures) {
  write("proc/loadavg", "0.50 1.25 2.00 1/100 1234\n");
  write("proc/meminfo", "MemTotal:       2048 kB\nMemFree: 10 kB\nMemAvailable:   1024 kB\n");
  write("proc/uptime", "3600.25 7000.00\n");
  write("sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", "2400000\n");
  write("sys/devices/system/cpu/cpu1/cpufreq/scaling_cur_freq", "1200000\n");
  write("sys/devices/system/cpu/cpufreq/ignored", "1\n");  // not a cpuN directory
  write("sys/class/thermal/thermal_zone0/temp", "45500\n");
  write("sys/class/thermal/thermal_zone1/temp", "61000\n");
  write("sys/class/hwmon/hwmon0/temp1_input", "52000\n");
  write("sys/class/hwmon/hwmon0/power1_average", "35000000\n");

  HostStats stats = HostProbe(root_).read();
  ASSERT_TRUE(stats.load_1m.has_value());
  EXPECT_DOUBLE_EQ(*stats.load_1m, 0.5);
  EXPECT_DOUBLE_EQ(*stats.load_5m, 1.25);
  EXPECT_DOUBLE_EQ(*stats.load_15m, 2.0);
  EXPECT_EQ(stats.cpu_mhz, (std::vector<double>{2400.0, 1200.0}));
  ASSERT_TRUE(stats.temperature_c.has_value());
  EXPECT_DOUBLE_EQ(*stats.temperature_c, 61.0);
  ASSERT_TRUE(stats.power_w.has_value());
  EXPECT_DOUBLE_EQ(*stats.power_w, 35.0);
  EXPECT_EQ(stats.memory_total_bytes, 2048u * 1024);
  EXPECT_EQ(stats.memory_available_bytes, 1024u * 1024);
  EXPECT_DOUBLE_EQ(stats.uptime_s.value_or(0), 3600.25);
}

TEST_F(HostStatsTest, FallsBackToCpuinfoAndIgnoresMalformedFiles) {
  write("proc/cpuinfo", "processor\t: 0\ncpu MHz\t\t: 2994.375\nprocessor\t: 1\ncpu MHz\t: bad\n");
  write("proc/loadavg", "not numbers\n");
  write("sys/class/thermal/thermal_zone0/temp", "garbage\n");
  HostStats stats = HostProbe(root_).read();
  EXPECT_EQ(stats.cpu_mhz, (std::vector<double>{2994.375}));
  EXPECT_FALSE(stats.load_1m.has_value());
  EXPECT_FALSE(stats.temperature_c.has_value());
}

TEST_F(HostStatsTest, RaplPowerIsTheEnergyRateBetweenReads) {
  write("sys/class/powercap/intel-rapl:0/energy_uj", "1000000\n");
  HostProbe probe(root_);
  EXPECT_FALSE(probe.read().power_w.has_value());  // one sample: no rate yet
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  write("sys/class/powercap/intel-rapl:0/energy_uj", "3000000\n");  // +2 J
  std::optional<double> watts = probe.read().power_w;
  ASSERT_TRUE(watts.has_value());
  EXPECT_GT(*watts, 2.0);   // 2 J in at least 0.1 s: at most 20 W ...
  EXPECT_LE(*watts, 20.0);  // ... and more than 2 W unless the read took a second
}

}  // namespace
}  // namespace tendril::service
