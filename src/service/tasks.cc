#include "service/tasks.h"

#include <algorithm>
#include <condition_variable>
#include <limits>
#include <set>

#include "data/dataset_file.h"
#include "engine/random.h"
#include "service/access.h"
#include "service/credentials.h"
#include "service/datasets.h"
#include "service/events.h"
#include "service/quotas.h"
#include "service/results.h"

namespace tendril::service {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int64_t kMaxEpochs = 1000;
constexpr size_t kMaxTaskNameLength = 64;
// How long cancel() waits for a running task to reach the end of its cycle before it replies.
constexpr std::chrono::seconds kCancelWait{2};
// The message of tasks a stop or crash interrupted.
constexpr std::string_view kInterruptedMessage = "the service stopped before the task ended";
constexpr std::string_view kClusterDeletedMessage = "the cluster was deleted";

nlohmann::json parseAttrs(const std::string& text) {
  nlohmann::json attrs = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return attrs.is_object() ? attrs : nlohmann::json::object();
}

// A value of `attrs` or null when absent.
nlohmann::json attr(const nlohmann::json& attrs, const char* key) {
  auto it = attrs.find(key);
  return it == attrs.end() ? nlohmann::json(nullptr) : *it;
}

nlohmann::json isoOrNull(const nlohmann::json& ms) {
  return ms.is_number_integer() ? nlohmann::json(formatIsoTime(ms.get<store::TimeMs>()))
                                : nlohmann::json(nullptr);
}

nlohmann::json textOrNull(const std::string& text) {
  return text.empty() ? nlohmann::json(nullptr) : nlohmann::json(text);
}

// The sample order of one epoch: Fisher-Yates driven by the seed, exactly as `tendril bench`
// shuffles (epochs counted from 1), so a task with the template's seed visits the samples in
// the bench's order.
std::vector<uint32_t> epochOrder(uint32_t count, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<uint32_t> order(count);
  for (uint32_t i = 0; i < count; ++i) order[i] = i;
  if (!shuffle) return order;
  for (size_t i = count; i > 1; --i) {
    const uint32_t j = engine::uniformBelow(
        engine::hashKeys(seed, {0x5AFF1Eu, static_cast<uint64_t>(epoch), i}),
        static_cast<uint32_t>(i));
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

// Where a task's samples come from.
class SampleSource {
 public:
  virtual ~SampleSource() = default;
  virtual uint64_t count() const = 0;
  // Writes sample `index`'s inputs (the cluster's input width) and, when `expected` is not
  // empty, its expected values (the cluster's output width).
  virtual void sample(uint64_t index, std::span<float> inputs, std::span<float> expected) const = 0;
};

class ImageSource final : public SampleSource {
 public:
  explicit ImageSource(std::shared_ptr<const data::DatasetReader> reader)
      : reader_(std::move(reader)) {}
  uint64_t count() const override { return reader_->count(); }
  void sample(uint64_t index, std::span<float> inputs, std::span<float> expected) const override {
    std::span<const uint8_t> pixels = reader_->image(index);
    for (size_t i = 0; i < pixels.size(); ++i) inputs[i] = static_cast<float>(pixels[i]);
    if (!expected.empty()) {
      std::fill(expected.begin(), expected.end(), 0.0f);
      expected[reader_->label(index)] = 1.0f;
    }
  }

 private:
  std::shared_ptr<const data::DatasetReader> reader_;
};

class TableSource final : public SampleSource {
 public:
  explicit TableSource(data::TableSampler sampler) : sampler_(std::move(sampler)) {}
  uint64_t count() const override { return sampler_.count(); }
  void sample(uint64_t index, std::span<float> inputs, std::span<float> expected) const override {
    if (expected.empty()) {
      // Request tasks: the expected values (if the table has them) are not needed.
      thread_local std::vector<float> unused;
      unused.resize(sampler_.outputWidth());
      sampler_.sample(index, inputs, unused);
    } else {
      sampler_.sample(index, inputs, expected);
    }
  }

 private:
  data::TableSampler sampler_;
};

std::string portList(const std::vector<engine::Port>& ports) {
  std::string text;
  for (const engine::Port& port : ports) {
    if (!text.empty()) text += ", ";
    text += port.name + " " + std::to_string(port.width);
  }
  return text;
}

// Checks the dataset against the cluster and builds the samples of the task. Called under the
// cluster's reader lock. `attrs` receives what the task must remember (ports, dataset kind).
Result<std::unique_ptr<SampleSource>> makeSource(const ReadyDataset& dataset,
                                                 const engine::Cluster& cluster,
                                                 const TaskCreate& request,
                                                 nlohmann::json& attrs) {
  const data::DatasetReader& reader = *dataset.reader;
  const bool train = request.type == kTaskTrain;
  attrs["inputs"] = portsJson(cluster.inputs());
  attrs["outputs"] = portsJson(cluster.outputs());
  attrs["dataset_kind"] = std::string(data::datasetKindName(reader.kind()));
  if (reader.count() > std::numeric_limits<uint32_t>::max()) {
    return Status::Invalid("the dataset has more samples than a task can take (2^32 - 1)");
  }
  if (reader.kind() == data::DatasetKind::kImages) {
    if (!request.mapping.empty()) {
      return Status::Invalid("mapping: applies to CSV datasets only, not to images");
    }
    if (cluster.inputWidth() != reader.imageSize()) {
      return Status::Invalid("widths: the cluster's inputs take " +
                             std::to_string(cluster.inputWidth()) + " values (" +
                             portList(cluster.inputs()) + "), the dataset's images have " +
                             std::to_string(reader.imageRows()) + "x" +
                             std::to_string(reader.imageCols()) + " = " +
                             std::to_string(reader.imageSize()) + " pixels");
    }
    if (train && cluster.outputWidth() < reader.classes()) {
      return Status::Invalid("widths: the cluster's outputs give " +
                             std::to_string(cluster.outputWidth()) + " values (" +
                             portList(cluster.outputs()) + "), fewer than the dataset's " +
                             std::to_string(reader.classes()) + " classes");
    }
    return std::unique_ptr<SampleSource>(std::make_unique<ImageSource>(dataset.reader));
  }

  Result<data::SampleMode> mode = parseSampleMode(request.mode);
  if (!mode.ok()) return mode.status();
  Result<data::TableSampler> sampler =
      bindTable(reader, cluster.inputs(), cluster.outputs(), *mode, request.mapping);
  if (!sampler.ok() && !train) {
    // A request needs no expected values: a table without the output columns still serves,
    // with the mapping's output entries left out.
    data::ColumnMapping inputs_only;
    for (const auto& [port, columns] : request.mapping) {
      const auto& in = cluster.inputs();
      if (std::any_of(in.begin(), in.end(), [&](const auto& p) { return p.name == port; })) {
        inputs_only.emplace(port, columns);
      }
    }
    Result<data::TableSampler> inputs = bindTable(reader, cluster.inputs(), {}, *mode, inputs_only);
    if (inputs.ok()) sampler = std::move(inputs);
  }
  if (!sampler.ok()) return sampler.status();
  if (sampler->count() == 0) return Status::Invalid("the dataset gives no samples");
  return std::unique_ptr<SampleSource>(std::make_unique<TableSource>(std::move(sampler).value()));
}

Status validateCreate(const TaskCreate& request) {
  if (request.type != kTaskTrain && request.type != kTaskRequest) {
    return Status::Invalid("type: must be \"train\" or \"request\"");
  }
  if (request.type == kTaskTrain && (request.epochs < 1 || request.epochs > kMaxEpochs)) {
    return Status::Invalid("epochs: must be between 1 and 1000");
  }
  if (request.mode != "window" && request.mode != "row") {
    return Status::Invalid("mode: must be \"window\" or \"row\"");
  }
  if (request.name.size() > kMaxTaskNameLength) {
    return Status::Invalid("name: at most 64 characters");
  }
  return Status::Ok();
}

nlohmann::json mappingJson(const data::ColumnMapping& mapping) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [port, columns] : mapping) out[port] = columns;
  return out;
}

}  // namespace

bool taskActive(std::string_view state) { return state == kTaskQueued || state == kTaskRunning; }

nlohmann::json portsJson(std::span<const engine::Port> ports) {
  nlohmann::json out = nlohmann::json::array();
  for (const engine::Port& port : ports) out.push_back({{"name", port.name}, {"width", port.width}});
  return out;
}

std::vector<engine::Port> portsFromJson(const nlohmann::json& ports) {
  std::vector<engine::Port> out;
  if (!ports.is_array()) return out;
  uint32_t offset = 0;
  for (const nlohmann::json& entry : ports) {
    engine::Port port;
    port.name = entry.value("name", std::string());
    port.width = entry.value("width", 0u);
    port.offset = offset;
    port.brick = static_cast<uint32_t>(out.size());
    offset += port.width;
    out.push_back(std::move(port));
  }
  return out;
}

Result<data::SampleMode> parseSampleMode(std::string_view mode) {
  if (mode == "window") return data::SampleMode::kSlidingWindow;
  if (mode == "row") return data::SampleMode::kRow;
  return Status::Invalid("mode: must be \"window\" or \"row\"");
}

Result<data::TableSampler> bindTable(const data::DatasetReader& reader,
                                     std::span<const engine::Port> inputs,
                                     std::span<const engine::Port> outputs, data::SampleMode mode,
                                     const data::ColumnMapping& mapping) {
  if (reader.kind() != data::DatasetKind::kTable) {
    return Status::Invalid("the dataset holds images, not a table");
  }
  // Only the columns some port reads are copied (a wide table stays mapped, not loaded).
  std::set<std::string, std::less<>> wanted;
  for (auto ports : {inputs, outputs}) {
    for (const engine::Port& port : ports) {
      auto entry = mapping.find(port.name);
      if (entry == mapping.end()) {
        wanted.insert(port.name);
      } else {
        wanted.insert(entry->second.begin(), entry->second.end());
      }
    }
  }
  data::Table table;
  std::vector<std::span<const float>> sources;
  for (size_t c = 0; c < reader.columns().size(); ++c) {
    if (wanted.count(reader.columns()[c]) == 0) continue;
    table.columns.push_back(reader.columns()[c]);
    sources.push_back(reader.column(c));
  }
  table.rows = static_cast<size_t>(reader.count());
  table.values.resize(table.rows * table.columns.size());
  for (size_t row = 0; row < table.rows; ++row) {
    for (size_t c = 0; c < sources.size(); ++c) {
      table.values[row * sources.size() + c] = sources[c][row];
    }
  }
  return data::TableSampler::create(table, inputs, outputs, mode, mapping);
}

nlohmann::json taskJson(const store::Resource& row) {
  const nlohmann::json attrs = parseAttrs(row.attrs);
  const std::string type = attrs.value("type", std::string());
  const bool uses_dataset = type == kTaskTrain || type == kTaskRequest;
  const uint64_t done = attrs.value("samples_done", uint64_t{0});
  const uint64_t total = attrs.value("samples_total", uint64_t{0});
  double progress = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 0.0;
  if (row.state == kTaskFinished) progress = 1.0;
  nlohmann::json checkpoint = attr(attrs, "checkpoint_id");
  if (checkpoint.is_null() && !uses_dataset) checkpoint = textOrNull(row.ref_id);
  const bool has_result = attrs.value("result", false);
  return {
      {"id", row.id},
      {"name", textOrNull(row.name)},
      {"type", type},
      {"state", row.state},
      {"project_id", row.project_id},
      {"owner_id", textOrNull(row.owner_id)},
      {"cluster_id", textOrNull(row.parent_id)},
      {"dataset_id", uses_dataset ? textOrNull(row.ref_id) : nlohmann::json(nullptr)},
      {"checkpoint_id", checkpoint},
      {"epochs", attrs.value("epochs", int64_t{1})},
      {"shuffle", attrs.value("shuffle", false)},
      {"seed", attrs.value("seed", uint64_t{0})},
      {"mode", attr(attrs, "mode")},
      {"mapping", attr(attrs, "mapping")},
      {"progress", std::clamp(progress, 0.0, 1.0)},
      {"samples_done", done},
      {"samples_total", total},
      {"samples_per_second", attrs.value("samples_per_second", 0.0)},
      {"eta_seconds", attr(attrs, "eta_seconds")},
      {"error", attr(attrs, "error")},
      {"cancel_requested", attrs.value("cancel_requested", false)},
      {"created_at", formatIsoTime(row.created_ms)},
      {"started_at", isoOrNull(attr(attrs, "started_ms"))},
      {"finished_at", isoOrNull(attr(attrs, "finished_ms"))},
      {"result_id", has_result ? nlohmann::json(row.id) : nlohmann::json(nullptr)},
  };
}

// --- One task's life -------------------------------------------------------------------------

// Holds the task's row as it changes and turns every change into a store update, an event and
// watcher calls. The subclasses do the work, in slices (ScheduledWork) on scheduler threads.
class TaskService::Run : public ScheduledWork, public TaskContext {
 public:
  Run(TaskService& service, store::Resource row, std::shared_ptr<LiveCluster> cluster)
      : service_(service),
        row_(std::move(row)),
        attrs_(parseAttrs(row_.attrs)),
        cluster_(std::move(cluster)) {}

  const std::string& taskId() const override { return row_.id; }  // id never changes
  const std::string& clusterId() const { return row_.parent_id; }
  LiveCluster& cluster() override { return *cluster_; }

  bool cancelled() const override {
    return cancel_requested_.load(std::memory_order_acquire) || cluster_->closed() ||
           (control_ != nullptr && (control_->cancelled() || control_->stopping()));
  }
  bool stopping() const override { return control_ != nullptr && control_->stopping(); }

  void progress(uint64_t done, uint64_t total) override {
    done_.store(done, std::memory_order_release);
    total_.store(total, std::memory_order_release);
    report(false);
  }

  void setAttrs(const nlohmann::json& values) override {
    std::lock_guard lock(mutex_);
    if (values.is_object()) attrs_.update(values);
  }

  void setJobId(Scheduler::JobId id) { job_id_.store(id, std::memory_order_release); }
  Scheduler::JobId jobId() const { return job_id_.load(std::memory_order_acquire); }

  void requestCancel() {
    cancel_requested_.store(true, std::memory_order_release);
    std::lock_guard lock(mutex_);
    if (!ended_) attrs_["cancel_requested"] = true;
  }

  // The row as it stands now, live progress included.
  store::Resource snapshot() const {
    std::lock_guard lock(mutex_);
    return snapshotLocked();
  }

  bool ended() const {
    std::lock_guard lock(mutex_);
    return ended_;
  }
  // Waits until the task ended or `timeout` passed.
  void waitEnded(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    ended_changed_.wait_for(lock, timeout, [this] { return ended_; });
  }

  SliceOutcome runSlice(const SliceControl& control) final {
    control_ = &control;
    SliceOutcome outcome = slice(control);
    control_ = nullptr;
    return outcome;
  }

  void abandoned(AbandonReason reason) final {
    const std::string_view state =
        reason == AbandonReason::kStopped ? kTaskInterrupted : kTaskCancelled;
    const bool closed = cluster_->closed() && reason == AbandonReason::kCancelled;
    onAbandoned(state);
    end(state, reason == AbandonReason::kStopped ? std::string(kInterruptedMessage)
               : closed                          ? std::string(kClusterDeletedMessage)
                                                 : std::string());
  }

 protected:
  // Does the work of one slice: true when all of it is done, false to go on in a later slice
  // (or because stopReason() became set). An error fails the task.
  virtual Result<bool> work(const SliceControl& control) = 0;
  // Called once before the first slice; an error fails the task.
  virtual Status prepare() { return Status::Ok(); }
  // Called when all the work is done, before the task is marked finished.
  virtual Status complete() { return Status::Ok(); }
  // The task ends without running (cancelled while queued, or the service stops).
  virtual void onAbandoned(std::string_view state) { (void)state; }

  // Why the work must end now, if it must: the final state and its message.
  std::optional<std::pair<std::string_view, std::string>> stopReason(
      const SliceControl& control) const {
    if (control.stopping()) return std::pair{kTaskInterrupted, std::string(kInterruptedMessage)};
    if (cluster_->closed()) {
      return std::pair{kTaskCancelled, std::string(kClusterDeletedMessage)};
    }
    if (control.cancelled() || cancel_requested_.load(std::memory_order_acquire)) {
      return std::pair{kTaskCancelled, std::string()};
    }
    return std::nullopt;
  }

  // Persists (at most once per persist_interval) and tells watchers (at most once per
  // watch_interval) about the progress; `force` does both now.
  void report(bool force) {
    const auto now = SteadyClock::now();
    bool persist = false;
    bool watch = false;
    store::Resource row;
    {
      std::lock_guard lock(mutex_);
      if (ended_ || ending_) return;
      persist = force || now - last_persist_ >= service_.options_.persist_interval;
      watch = force || now - last_watch_ >= service_.options_.watch_interval;
      if (!persist && !watch) return;
      if (persist) last_persist_ = now;
      if (watch) last_watch_ = now;
      row = snapshotLocked();
    }
    if (persist) service_.persist(row);
    if (watch) service_.notify(row, /*state_change=*/false, /*final=*/false);
  }

  // Whether training may go on growing the cluster (the project's synapse quota).
  Status checkGrowth() {
    const auto now = SteadyClock::now();
    if (now - last_quota_check_ < service_.options_.persist_interval) return Status::Ok();
    last_quota_check_ = now;
    return service_.quotas_.checkSynapseBytes(cluster_->projectId());
  }

  void addDone(uint64_t samples) { done_.fetch_add(samples, std::memory_order_acq_rel); }
  uint64_t done() const { return done_.load(std::memory_order_acquire); }
  void setTotal(uint64_t total) { total_.store(total, std::memory_order_release); }
  const nlohmann::json& attrsUnlocked() const { return attrs_; }  // before the first slice only
  LiveCluster& liveCluster() { return *cluster_; }
  TaskService& serviceRef() { return service_; }

 private:
  SliceOutcome slice(const SliceControl& control) {
    if (!started_) {
      started_ = true;
      if (auto why = stopReason(control)) {
        onAbandoned(why->first);
        end(why->first, why->second);
        return SliceOutcome::kDone;
      }
      markRunning();
      if (Status status = prepare(); !status.ok()) {
        end(kTaskFailed, status.message());
        return SliceOutcome::kDone;
      }
    }
    Result<bool> done = work(control);
    if (auto why = stopReason(control)) {
      end(why->first, why->second);
      return SliceOutcome::kDone;
    }
    if (!done.ok()) {
      end(kTaskFailed, done.status().message());
      return SliceOutcome::kDone;
    }
    if (*done) {
      if (Status status = complete(); !status.ok()) {
        end(kTaskFailed, status.message());
      } else {
        end(kTaskFinished, {});
      }
      return SliceOutcome::kDone;
    }
    report(false);
    return SliceOutcome::kMore;
  }

  void markRunning() {
    store::Resource row;
    {
      std::lock_guard lock(mutex_);
      started_at_ = SteadyClock::now();
      last_persist_ = last_watch_ = started_at_;
      row_.state = std::string(kTaskRunning);
      attrs_["started_ms"] = service_.now();
      row = snapshotLocked();
    }
    service_.persist(row);
    service_.notify(row, /*state_change=*/true, /*final=*/false);
  }

  // The final state: written, published, and the run leaves the service. Idempotent. The
  // final state shows in snapshots only once the store has it, so whoever sees a task ended
  // (get(), a watcher) finds its final row (and result) in the store too.
  void end(std::string_view state, const std::string& error) {
    store::Resource row;
    nlohmann::json attrs;
    {
      std::lock_guard lock(mutex_);
      if (ended_ || ending_) return;
      ending_ = true;
      attrs = attrs_;
      if (row_.state == kTaskRunning) addLiveProgress(attrs);
      attrs["finished_ms"] = service_.now();
      attrs["error"] = error.empty() ? nlohmann::json(nullptr) : nlohmann::json(error);
      attrs["eta_seconds"] = nullptr;  // nothing more to come
      attrs.erase("cancel_requested");
      row = row_;
      row.state = std::string(state);
      row.attrs = attrs.dump();
      row.updated_ms = service_.now();
    }
    service_.persist(row);
    {
      std::lock_guard lock(mutex_);
      row_ = row;
      attrs_ = std::move(attrs);
      ended_ = true;
    }
    ended_changed_.notify_all();
    service_.retire(row);
  }

  store::Resource snapshotLocked() const {
    store::Resource row = row_;
    nlohmann::json attrs = attrs_;
    if (!ended_ && row_.state == kTaskRunning) addLiveProgress(attrs);
    row.attrs = attrs.dump();
    row.updated_ms = service_.now();
    return row;
  }

  // The progress counters, the rate since the task started and the time it still needs.
  void addLiveProgress(nlohmann::json& attrs) const {
    const uint64_t done = done_.load(std::memory_order_acquire);
    const uint64_t total = total_.load(std::memory_order_acquire);
    const double seconds = std::chrono::duration<double>(SteadyClock::now() - started_at_).count();
    const double rate = seconds > 0.0 ? static_cast<double>(done) / seconds : 0.0;
    attrs["samples_done"] = done;
    attrs["samples_total"] = total;
    attrs["samples_per_second"] = rate;
    attrs["eta_seconds"] = rate > 0.0 && total >= done
                               ? nlohmann::json(static_cast<double>(total - done) / rate)
                               : nlohmann::json(nullptr);
  }

  TaskService& service_;
  mutable std::mutex mutex_;
  std::condition_variable ended_changed_;
  store::Resource row_;   // under mutex_ (state); id and parent_id never change
  nlohmann::json attrs_;  // under mutex_
  bool ended_ = false;    // under mutex_
  bool ending_ = false;   // under mutex_: end() is writing the final row
  SteadyClock::time_point started_at_;
  SteadyClock::time_point last_persist_;
  SteadyClock::time_point last_watch_;
  SteadyClock::time_point last_quota_check_;
  std::shared_ptr<LiveCluster> cluster_;
  std::atomic<uint64_t> done_{0};
  std::atomic<uint64_t> total_{0};
  std::atomic<bool> cancel_requested_{false};
  std::atomic<Scheduler::JobId> job_id_{0};
  bool started_ = false;                     // scheduler threads only, one at a time
  const SliceControl* control_ = nullptr;    // during a slice only
};

// Train and request tasks over a dataset.
class TaskService::TrainOrRequest final : public Run {
 public:
  TrainOrRequest(TaskService& service, store::Resource row, std::shared_ptr<LiveCluster> cluster,
                 std::unique_ptr<SampleSource> source)
      : Run(service, std::move(row), std::move(cluster)), source_(std::move(source)) {
    const nlohmann::json& attrs = attrsUnlocked();
    train_ = attrs.value("type", std::string()) == kTaskTrain;
    epochs_ = train_ ? attrs.value("epochs", int64_t{1}) : 1;
    shuffle_ = train_ && attrs.value("shuffle", true);
    seed_ = attrs.value("seed", uint64_t{0});
    outputs_ = portsFromJson(attrs.value("outputs", nlohmann::json::array()));
    setTotal(source_->count() * static_cast<uint64_t>(epochs_));
  }

 protected:
  Status prepare() override {
    if (train_) return Status::Ok();
    ResultHeader header;
    header.count = source_->count();
    for (const engine::Port& port : outputs_) header.outputs.push_back({port.name, port.width});
    Result<ResultFileWriter> writer =
        ResultFileWriter::create(service().resultPath(taskId()), std::move(header));
    if (!writer.ok()) return Status::Io("the result file could not be created");
    writer_.emplace(std::move(writer).value());
    return Status::Ok();
  }

  Result<bool> work(const SliceControl& control) override {
    return train_ ? trainSlice(control) : requestSlice(control);
  }

  Status complete() override {
    if (train_) return Status::Ok();
    if (Status status = writer_->finish(); !status.ok()) {
      return Status::Io("the result file could not be written");
    }
    setAttrs({{"result", true}});
    return Status::Ok();
  }

 private:
  TaskService& service() { return serviceRef(); }

  Result<bool> trainSlice(const SliceControl& control) {
    const auto count = static_cast<uint32_t>(source_->count());
    do {
      if (stopReason(control)) return false;
      if (position_ == order_.size()) {
        if (epoch_ == epochs_) return true;
        ++epoch_;
        order_ = epochOrder(count, seed_, epoch_, shuffle_);
        position_ = 0;
      }
      TENDRIL_RETURN_IF_ERROR(checkGrowth());
      LiveCluster& live = liveCluster();
      {
        auto lock = live.lockWriter();
        if (live.closed()) return false;
        engine::Cluster& cluster = live.cluster();
        inputs_.resize(cluster.inputWidth());
        expected_.resize(cluster.outputWidth());
        source_->sample(order_[position_], inputs_, expected_);
        Status status = cluster.train(inputs_, expected_);
        if (!status.ok()) {
          return Status::Invalid("sample " + std::to_string(order_[position_]) + ": " +
                                 status.message());
        }
      }
      live.noteChange();
      ++position_;
      addDone(1);
    } while (!control.sliceOver());
    return position_ == order_.size() && epoch_ == epochs_;
  }

  Result<bool> requestSlice(const SliceControl& control) {
    const uint64_t count = source_->count();
    const size_t batch = std::max<size_t>(1, service().options_.request_batch);
    do {
      if (stopReason(control)) return false;
      if (next_ == count) return true;
      const auto n = static_cast<size_t>(std::min<uint64_t>(batch, count - next_));
      LiveCluster& live = liveCluster();
      auto lock = live.lockReader();
      if (live.closed()) return false;
      const engine::Cluster& cluster = live.cluster();
      const size_t in_width = cluster.inputWidth();
      const size_t out_width = cluster.outputWidth();
      inputs_.resize(n * in_width);
      outputs_values_.resize(n * out_width);
      for (size_t i = 0; i < n; ++i) {
        source_->sample(next_ + i, std::span<float>(inputs_).subspan(i * in_width, in_width), {});
      }
      Status status = cluster.requestMany(inputs_, outputs_values_, n, workspace_);
      lock.unlock();
      if (!status.ok()) return status;
      TENDRIL_RETURN_IF_ERROR(writer_->append(outputs_values_));
      next_ += n;
      addDone(n);
    } while (!control.sliceOver());
    return next_ == count;
  }

  std::unique_ptr<SampleSource> source_;
  bool train_ = true;
  int64_t epochs_ = 1;
  bool shuffle_ = false;
  uint64_t seed_ = 0;
  std::vector<engine::Port> outputs_;
  // Train: where the task is.
  int64_t epoch_ = 0;
  std::vector<uint32_t> order_;
  size_t position_ = 0;
  // Request: the next sample, the result being written.
  uint64_t next_ = 0;
  std::optional<ResultFileWriter> writer_;
  engine::Workspace workspace_;
  std::vector<float> inputs_;
  std::vector<float> expected_;
  std::vector<float> outputs_values_;
};

// A job of another module (checkpoint, restore) run as one piece.
class TaskService::JobWork final : public Run {
 public:
  JobWork(TaskService& service, store::Resource row, std::shared_ptr<LiveCluster> cluster,
          std::unique_ptr<TaskJob> job)
      : Run(service, std::move(row), std::move(cluster)), job_(std::move(job)) {}

 protected:
  Result<bool> work(const SliceControl&) override {
    Status status = job_->run(*this);
    if (!status.ok()) return status;
    return true;
  }
  void onAbandoned(std::string_view state) override { job_->abandoned(state); }

 private:
  std::unique_ptr<TaskJob> job_;
};

// --- TaskService -----------------------------------------------------------------------------

TaskService::TaskService(store::MetadataStore& store, Scheduler& scheduler,
                         DatasetService& datasets, Quotas& quotas, EventHub& events,
                         ClusterLookup clusters, Options options)
    : store_(store),
      scheduler_(scheduler),
      datasets_(datasets),
      quotas_(quotas),
      events_(events),
      clusters_(std::move(clusters)),
      options_(std::move(options)) {
  if (!options_.clock) options_.clock = systemClock();
}

TaskService::~TaskService() { stop(); }

store::TimeMs TaskService::now() const { return options_.clock(); }

std::filesystem::path TaskService::resultPath(std::string_view task_id) const {
  return resultFilePath(options_.data_dir / "results", task_id);
}

Result<store::Resource> TaskService::create(const Principal& caller, const TaskCreate& request) {
  if (caller.project_id.empty() && !caller.is_admin) {
    return Status::Precondition("select a project first");
  }
  TENDRIL_RETURN_IF_ERROR(validateCreate(request));
  Result<std::shared_ptr<LiveCluster>> cluster = clusters_(caller, request.cluster_id);
  if (!cluster.ok()) return cluster.status();
  Result<ReadyDataset> dataset = datasets_.open(caller, request.dataset_id);
  if (!dataset.ok()) return dataset.status();
  if (dataset->row.project_id != (*cluster)->projectId()) {
    return Status::Invalid("dataset_id: the dataset belongs to another project than the cluster");
  }

  const bool train = request.type == kTaskTrain;
  nlohmann::json attrs = {
      {"type", request.type},
      {"epochs", train ? request.epochs : 1},
      {"shuffle", train && request.shuffle},
      {"seed", request.seed},
      {"mapping", mappingJson(request.mapping)},
      {"samples_done", 0},
      {"samples_per_second", 0.0},
  };
  std::unique_ptr<SampleSource> source;
  {
    auto lock = (*cluster)->lockReader();
    if ((*cluster)->closed()) return Status::NotFound("cluster not found");
    Result<std::unique_ptr<SampleSource>> made =
        makeSource(*dataset, (*cluster)->cluster(), request, attrs);
    if (!made.ok()) return made.status();
    source = std::move(made).value();
  }
  attrs["mode"] = dataset->reader->kind() == data::DatasetKind::kTable
                      ? nlohmann::json(request.mode)
                      : nlohmann::json(nullptr);
  attrs["samples_total"] = source->count() * static_cast<uint64_t>(attrs["epochs"].get<int64_t>());
  if (train) TENDRIL_RETURN_IF_ERROR(quotas_.checkSynapseBytes((*cluster)->projectId()));

  store::Resource row;
  row.id = newUuid();
  row.kind = store::ResourceKind::kTask;
  row.project_id = (*cluster)->projectId();
  row.owner_id = caller.user_id;
  row.name = request.name;
  row.state = std::string(kTaskQueued);
  row.parent_id = (*cluster)->id();
  row.ref_id = dataset->row.id;
  row.attrs = attrs.dump();
  row.created_ms = row.updated_ms = now();
  auto run = std::make_shared<TrainOrRequest>(*this, row, *cluster, std::move(source));
  return queue(std::move(row), *cluster, std::move(run));
}

Result<store::Resource> TaskService::submitJob(const Principal& caller, std::string type,
                                               std::shared_ptr<LiveCluster> cluster,
                                               std::string ref_id, nlohmann::json attrs,
                                               std::unique_ptr<TaskJob> job) {
  if (caller.project_id.empty() && !caller.is_admin) {
    return Status::Precondition("select a project first");
  }
  if (type.empty() || type == kTaskTrain || type == kTaskRequest) {
    return Status::Internal("submitJob: a job needs its own task type");
  }
  if (!attrs.is_object()) attrs = nlohmann::json::object();
  attrs["type"] = type;
  attrs["samples_done"] = 0;
  attrs["samples_total"] = 0;
  store::Resource row;
  row.id = newUuid();
  row.kind = store::ResourceKind::kTask;
  row.project_id = cluster->projectId();
  row.owner_id = caller.user_id;
  row.state = std::string(kTaskQueued);
  row.parent_id = cluster->id();
  row.ref_id = std::move(ref_id);
  row.attrs = attrs.dump();
  row.created_ms = row.updated_ms = now();
  auto run = std::make_shared<JobWork>(*this, row, cluster, std::move(job));
  return queue(std::move(row), std::move(cluster), std::move(run));
}

Result<store::Resource> TaskService::queue(store::Resource row,
                                           std::shared_ptr<LiveCluster> cluster,
                                           std::shared_ptr<Run> run) {
  // Check and insert together: two creates racing for the last task slot cannot both pass.
  std::lock_guard create_lock(create_mutex_);
  if (stopped_.load(std::memory_order_acquire)) {
    return Status::Precondition("the service is shutting down");
  }
  TENDRIL_RETURN_IF_ERROR(quotas_.checkConcurrentTasks(row.project_id));
  TENDRIL_RETURN_IF_ERROR(store_.insertResource(row));
  {
    std::lock_guard lock(mutex_);
    runs_[row.id] = run;
  }
  notify(row, /*state_change=*/true, /*final=*/false);
  run->setJobId(scheduler_.submit(row.project_id, cluster->id(), run));
  return run->snapshot();
}

void TaskService::persist(const store::Resource& row) {
  // A failed progress write is not fatal: the next one (or the final one) carries it.
  (void)store_.updateResource(row);
}

void TaskService::retire(const store::Resource& row) {
  std::vector<std::shared_ptr<Watch>> watchers;
  {
    std::lock_guard lock(mutex_);
    runs_.erase(row.id);
    for (auto it = watches_.begin(); it != watches_.end();) {
      if (it->second->task_id == row.id) {
        watchers.push_back(it->second);
        it = watches_.erase(it);
      } else {
        ++it;
      }
    }
  }
  publish(row);
  deliver(watchers, taskJson(row), /*final=*/true);
}

void TaskService::notify(const store::Resource& row, bool state_change, bool final) {
  if (state_change) publish(row);
  std::vector<std::shared_ptr<Watch>> watchers;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, watch] : watches_) {
      if (watch->task_id == row.id) watchers.push_back(watch);
    }
  }
  if (!watchers.empty()) deliver(watchers, taskJson(row), final);
}

void TaskService::publish(const store::Resource& row) {
  nlohmann::json payload = taskJson(row);
  events_.publish(Event{"task", payload.dump(), row.project_id, row.owner_id});
}

void TaskService::deliver(const std::vector<std::shared_ptr<Watch>>& watchers,
                          const nlohmann::json& task, bool final) {
  for (const auto& watch : watchers) {
    std::lock_guard lock(watch->mutex);
    if (watch->done) continue;
    if (final) watch->done = true;
    (*watch->deliver)(task, final);
  }
}

Result<store::Resource> TaskService::visibleRow(const Principal& caller, std::string_view id) {
  Result<store::Resource> row = store_.getResource(store::ResourceKind::kTask, id);
  if (!row.ok()) {
    if (row.status().code() == Code::kNotFound) return Status::NotFound("task not found");
    return row.status();
  }
  TENDRIL_RETURN_IF_ERROR(Access(caller).requireVisible(row->project_id, row->owner_id, "task"));
  return row;
}

store::Resource TaskService::withLiveProgress(store::Resource row) const {
  std::shared_ptr<Run> run;
  {
    std::lock_guard lock(mutex_);
    auto it = runs_.find(row.id);
    if (it != runs_.end()) run = it->second;
  }
  return run ? run->snapshot() : row;
}

Result<store::Resource> TaskService::get(const Principal& caller, std::string_view id) {
  Result<store::Resource> row = visibleRow(caller, id);
  if (!row.ok()) return row.status();
  return withLiveProgress(std::move(row).value());
}

Result<store::Page<store::Resource>> TaskService::list(const Principal& caller,
                                                       const TaskListFilter& filter,
                                                       const store::PageRequest& page) {
  const Access::ListScope scope = Access(caller).listScope();
  if (scope.nothing) return store::Page<store::Resource>{};
  store::ResourceFilter query;
  query.kind = store::ResourceKind::kTask;
  query.project_id = scope.project_id;
  query.owner_id = scope.owner_id;
  if (!filter.cluster_id.empty()) query.parent_id = filter.cluster_id;
  if (!filter.state.empty()) query.states = {filter.state};
  Result<store::Page<store::Resource>> rows = store_.listResources(query, page);
  if (!rows.ok()) return rows.status();
  for (store::Resource& row : rows->items) row = withLiveProgress(std::move(row));
  return rows;
}

Result<store::Resource> TaskService::cancel(const Principal& caller, std::string_view id) {
  Result<store::Resource> row = visibleRow(caller, id);
  if (!row.ok()) return row.status();
  std::shared_ptr<Run> run;
  {
    std::lock_guard lock(mutex_);
    auto it = runs_.find(id);
    if (it != runs_.end()) run = it->second;
  }
  if (!run) return row;  // it has ended already: nothing to cancel
  run->requestCancel();
  if (const Scheduler::JobId job = run->jobId(); job != 0) {
    if (scheduler_.cancel(job) == Scheduler::CancelOutcome::kSignalled) {
      // Inside a cycle: the reply waits for its end (a cycle is short; a checkpoint job checks
      // between its units), but never long.
      run->waitEnded(kCancelWait);
    }
  }
  if (!run->ended()) return run->snapshot();
  return visibleRow(caller, id);
}

Status TaskService::remove(const Principal& caller, std::string_view id) {
  Result<store::Resource> row = visibleRow(caller, id);
  if (!row.ok()) return row.status();
  if (taskActive(row->state)) {
    return Status::Precondition("the task is " + row->state + "; cancel it first");
  }
  TENDRIL_RETURN_IF_ERROR(store_.deleteResource(store::ResourceKind::kTask, id));
  removeResultFiles(options_.data_dir / "results", id);
  return Status::Ok();
}

Result<uint64_t> TaskService::watch(const Principal& caller, std::string_view id,
                                    TaskWatcher deliver) {
  Result<store::Resource> row = visibleRow(caller, id);
  if (!row.ok()) return row.status();
  auto entry = std::make_shared<Watch>();
  entry->task_id = std::string(id);
  entry->deliver = std::make_shared<TaskWatcher>(std::move(deliver));
  // The first delivery holds the watch's lock, so a change published meanwhile comes after it.
  std::lock_guard watch_lock(entry->mutex);
  std::shared_ptr<Run> run;
  uint64_t watch_id = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = runs_.find(id);
    if (it != runs_.end()) {
      run = it->second;
      watch_id = next_watch_++;
      watches_.emplace(watch_id, entry);
    }
  }
  if (!run) {
    // Ended: the row in the store is final.
    Result<store::Resource> final_row = visibleRow(caller, id);
    if (!final_row.ok()) return final_row.status();
    entry->done = true;
    (*entry->deliver)(taskJson(*final_row), /*final=*/true);
    return uint64_t{0};
  }
  (*entry->deliver)(taskJson(run->snapshot()), /*final=*/false);
  return watch_id;
}

void TaskService::unwatch(uint64_t watch_id) {
  std::shared_ptr<Watch> entry;
  {
    std::lock_guard lock(mutex_);
    auto it = watches_.find(watch_id);
    if (it == watches_.end()) return;
    entry = it->second;
    watches_.erase(it);
  }
  // Waits for a delivery in progress; none starts afterwards.
  std::lock_guard watch_lock(entry->mutex);
  entry->done = true;
}

void TaskService::cancelClusterTasks(std::string_view cluster_id) {
  {
    std::lock_guard create_lock(create_mutex_);  // no task of the cluster is half queued
    std::lock_guard lock(mutex_);
    for (const auto& [id, run] : runs_) {
      if (run->clusterId() == cluster_id) run->requestCancel();
    }
  }
  scheduler_.cancelCluster(cluster_id);
}

Status TaskService::recoverInterrupted() {
  store::ResourceFilter filter;
  filter.kind = store::ResourceKind::kTask;
  filter.states = {std::string(kTaskQueued), std::string(kTaskRunning)};
  std::vector<store::Resource> rows;
  store::PageRequest page{store::kMaxPageLimit, {}};
  do {
    Result<store::Page<store::Resource>> batch = store_.listResources(filter, page);
    if (!batch.ok()) return batch.status();
    for (store::Resource& row : batch->items) {
      std::lock_guard lock(mutex_);
      if (runs_.count(row.id) == 0) rows.push_back(std::move(row));  // not one of ours
    }
    page.cursor = batch->next_cursor;
  } while (!page.cursor.empty());
  for (store::Resource& row : rows) {
    nlohmann::json attrs = parseAttrs(row.attrs);
    // A checkpoint save whose checkpoint was complete (the process died between recording the
    // checkpoint and recording its task) did its work: it finished.
    bool saved = false;
    if (attrs.value("type", std::string()) == "checkpoint" && !row.ref_id.empty()) {
      Result<store::Resource> checkpoint =
          store_.getResource(store::ResourceKind::kCheckpoint, row.ref_id);
      saved = checkpoint.ok() && checkpoint->state == "ready";
    }
    attrs["finished_ms"] = now();
    attrs["eta_seconds"] = nullptr;
    attrs.erase("cancel_requested");
    if (saved) {
      row.state = std::string(kTaskFinished);
      row.attrs = attrs.dump();
      row.updated_ms = now();
      TENDRIL_RETURN_IF_ERROR(store_.updateResource(row));
      continue;
    }
    attrs["error"] = std::string(kInterruptedMessage);
    row.state = std::string(kTaskInterrupted);
    row.attrs = attrs.dump();
    row.updated_ms = now();
    TENDRIL_RETURN_IF_ERROR(store_.updateResource(row));
  }
  removePartialResults(options_.data_dir / "results");
  return Status::Ok();
}

void TaskService::stop() {
  {
    std::lock_guard create_lock(create_mutex_);
    stopped_.store(true, std::memory_order_release);
  }
  scheduler_.stop();
  // Runs the scheduler never saw (none, unless it was stopped before us) end here.
  std::vector<std::shared_ptr<Run>> left;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, run] : runs_) left.push_back(run);
  }
  for (const auto& run : left) run->abandoned(AbandonReason::kStopped);
}

}  // namespace tendril::service
