#include "api/metrics.h"

#include <cassert>
#include <charconv>

namespace tendril::api {
namespace {

// Label values are escaped as the exposition format requires: backslash, quote, newline.
void appendLabels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                  const std::string& extra, std::string* out) {
  if (names.empty() && extra.empty()) return;
  out->push_back('{');
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out->push_back(',');
    *out += names[i] + "=\"";
    for (char c : values[i]) {
      if (c == '\\') {
        *out += "\\\\";
      } else if (c == '"') {
        *out += "\\\"";
      } else if (c == '\n') {
        *out += "\\n";
      } else {
        out->push_back(c);
      }
    }
    out->push_back('"');
  }
  if (!extra.empty()) *out += (names.empty() ? "" : ",") + extra;
  out->push_back('}');
}

void appendHeader(const std::string& name, const std::string& help, const char* type,
                  std::string* out) {
  *out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

// Shortest text that reads back as the same double ("0.1", not "0.10000000000000001").
std::string number(double value) {
  char buffer[64];
  auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return error == std::errc() ? std::string(buffer, end) : std::string("NaN");
}

}  // namespace

Counter::Counter(std::string name, std::string help, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

void Counter::increment(const std::vector<std::string>& label_values, uint64_t by) {
  assert(label_values.size() == label_names_.size());
  std::lock_guard lock(mutex_);
  values_[label_values] += by;
}

uint64_t Counter::value(const std::vector<std::string>& label_values) const {
  std::lock_guard lock(mutex_);
  auto it = values_.find(label_values);
  return it == values_.end() ? 0 : it->second;
}

void Counter::render(std::string* out) const {
  appendHeader(name_, help_, "counter", out);
  std::lock_guard lock(mutex_);
  // An unlabelled counter exists from the start: a scraper should see 0, not nothing.
  if (label_names_.empty() && values_.empty()) *out += name_ + " 0\n";
  for (const auto& [labels, value] : values_) {
    *out += name_;
    appendLabels(label_names_, labels, "", out);
    *out += " " + std::to_string(value) + "\n";
  }
}

Gauge::Gauge(std::string name, std::string help) : name_(std::move(name)), help_(std::move(help)) {}

void Gauge::render(std::string* out) const {
  appendHeader(name_, help_, "gauge", out);
  *out += name_ + " " + std::to_string(value()) + "\n";
}

Histogram::Histogram(std::string name, std::string help, std::vector<std::string> label_names,
                     std::vector<double> upper_bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      upper_bounds_(std::move(upper_bounds)) {}

void Histogram::observe(const std::vector<std::string>& label_values, double value) {
  assert(label_values.size() == label_names_.size());
  std::lock_guard lock(mutex_);
  Series& series = series_[label_values];
  if (series.bucket_counts.empty()) series.bucket_counts.assign(upper_bounds_.size(), 0);
  for (size_t i = 0; i < upper_bounds_.size(); ++i) {
    if (value <= upper_bounds_[i]) {
      ++series.bucket_counts[i];
      break;
    }
  }
  ++series.count;
  series.sum += value;
}

void Histogram::render(std::string* out) const {
  appendHeader(name_, help_, "histogram", out);
  std::lock_guard lock(mutex_);
  for (const auto& [labels, series] : series_) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < upper_bounds_.size(); ++i) {
      cumulative += series.bucket_counts[i];
      *out += name_ + "_bucket";
      appendLabels(label_names_, labels, "le=\"" + number(upper_bounds_[i]) + "\"", out);
      *out += " " + std::to_string(cumulative) + "\n";
    }
    *out += name_ + "_bucket";
    appendLabels(label_names_, labels, "le=\"+Inf\"", out);
    *out += " " + std::to_string(series.count) + "\n";
    *out += name_ + "_sum";
    appendLabels(label_names_, labels, "", out);
    *out += " " + number(series.sum) + "\n";
    *out += name_ + "_count";
    appendLabels(label_names_, labels, "", out);
    *out += " " + std::to_string(series.count) + "\n";
  }
}

Counter& MetricsRegistry::counter(std::string name, std::string help,
                                  std::vector<std::string> label_names) {
  std::lock_guard lock(mutex_);
  counters_.push_back(
      std::make_unique<Counter>(std::move(name), std::move(help), std::move(label_names)));
  return *counters_.back();
}

Gauge& MetricsRegistry::gauge(std::string name, std::string help) {
  std::lock_guard lock(mutex_);
  gauges_.push_back(std::make_unique<Gauge>(std::move(name), std::move(help)));
  return *gauges_.back();
}

Histogram& MetricsRegistry::histogram(std::string name, std::string help,
                                      std::vector<std::string> label_names,
                                      std::vector<double> upper_bounds) {
  std::lock_guard lock(mutex_);
  histograms_.push_back(std::make_unique<Histogram>(
      std::move(name), std::move(help), std::move(label_names), std::move(upper_bounds)));
  return *histograms_.back();
}

void MetricsRegistry::observedCounter(std::string name, std::string help,
                                      std::function<uint64_t()> read) {
  std::lock_guard lock(mutex_);
  observed_.push_back({std::move(name), std::move(help), std::move(read)});
}

std::string MetricsRegistry::render() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& counter : counters_) counter->render(&out);
  for (const Observed& observed : observed_) {
    appendHeader(observed.name, observed.help, "counter", &out);
    out += observed.name + " " + std::to_string(observed.read()) + "\n";
  }
  for (const auto& gauge : gauges_) gauge->render(&out);
  for (const auto& histogram : histograms_) histogram->render(&out);
  return out;
}

std::vector<double> defaultLatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace tendril::api
