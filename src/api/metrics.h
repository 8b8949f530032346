// A small Prometheus metrics registry, rendered in the text exposition format 0.0.4 at /metrics.
//
// Metrics are declared at startup (the registry hands out references that stay valid for its
// lifetime) and updated from any thread. Label values should come from bounded sets (route
// templates, status codes), never from raw client input, so the series count stays bounded.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace tendril::api {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4";

// A monotonically increasing count per label combination.
class Counter {
 public:
  Counter(std::string name, std::string help, std::vector<std::string> label_names);
  // `label_values` has one value per label name (asserts).
  void increment(const std::vector<std::string>& label_values, uint64_t by = 1);
  uint64_t value(const std::vector<std::string>& label_values) const;
  void render(std::string* out) const;

 private:
  std::string name_, help_;
  std::vector<std::string> label_names_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, uint64_t> values_;
};

// A value that goes up and down (open connections).
class Gauge {
 public:
  Gauge(std::string name, std::string help);
  void add(int64_t delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }
  void render(std::string* out) const;

 private:
  std::string name_, help_;
  std::atomic<int64_t> value_{0};
};

// Observations counted into fixed upper bounds (seconds for latency), per label combination.
class Histogram {
 public:
  Histogram(std::string name, std::string help, std::vector<std::string> label_names,
            std::vector<double> upper_bounds);
  void observe(const std::vector<std::string>& label_values, double value);
  void render(std::string* out) const;

 private:
  struct Series {
    std::vector<uint64_t> bucket_counts;  // not cumulative; summed when rendered
    uint64_t count = 0;
    double sum = 0;
  };
  std::string name_, help_;
  std::vector<std::string> label_names_;
  std::vector<double> upper_bounds_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, Series> series_;
};

class MetricsRegistry {
 public:
  Counter& counter(std::string name, std::string help, std::vector<std::string> label_names);
  Gauge& gauge(std::string name, std::string help);
  Histogram& histogram(std::string name, std::string help, std::vector<std::string> label_names,
                       std::vector<double> upper_bounds);
  // A counter kept elsewhere (e.g. the store's error count), read each time it is rendered.
  void observedCounter(std::string name, std::string help, std::function<uint64_t()> read);
  // Counters (observed ones last), then gauges, then histograms, each in registration order.
  std::string render() const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Counter>> counters_;
  std::vector<std::unique_ptr<Gauge>> gauges_;
  std::vector<std::unique_ptr<Histogram>> histograms_;
  struct Observed {
    std::string name, help;
    std::function<uint64_t()> read;
  };
  std::vector<Observed> observed_;
};

// Latency buckets in seconds, from 1 ms to 10 s.
std::vector<double> defaultLatencyBuckets();

}  // namespace tendril::api
