#include "engine/cluster.h"

#include <algorithm>
#include <cstring>

#include "engine/cluster_state.h"
#include "engine/geometry.h"
#include "engine/random.h"
#include "engine/thread_pool.h"

namespace tendril::engine {

Workspace::Workspace() = default;
Workspace::~Workspace() = default;
Workspace::Workspace(Workspace&&) noexcept = default;
Workspace& Workspace::operator=(Workspace&&) noexcept = default;

Result<std::unique_ptr<ClusterState>> buildClusterState(const Template& tmpl) {
  Result<BrickGraph> graph = buildBrickGraph(tmpl);
  if (!graph.ok()) return graph.status();
  auto state = std::make_unique<ClusterState>();
  state->tmpl = tmpl;
  const Settings& settings = tmpl.settings;
  const uint32_t channels = settings.sign_split_inputs ? 2 : 1;

  uint32_t next_neuron = 0;
  for (uint32_t b = 0; b < tmpl.bricks.size(); ++b) {
    const BrickSpec& spec = tmpl.bricks[b];
    BrickState brick;
    brick.role = spec.role;
    brick.width = spec.neurons;
    brick.neuron_count = spec.role == BrickRole::kInput ? spec.neurons * channels : spec.neurons;
    brick.first_neuron = next_neuron;
    next_neuron += brick.neuron_count;
    if (spec.role != BrickRole::kOutput) {
      brick.possible_targets =
          possibleTargets(*graph, b, settings.max_connection_distance, settings.seed);
    }
    if (spec.role == BrickRole::kInput) {
      state->inputs.push_back({spec.name, spec.neurons, state->input_width, b});
      state->input_width += spec.neurons;
    } else {
      // Only non-input bricks have neuron blocks that sections can target.
      brick.first_block = static_cast<uint32_t>(state->blocks.size());
      brick.block_count = (brick.neuron_count + kBlockSize - 1) / kBlockSize;
      for (uint32_t k = 0; k < brick.block_count; ++k) {
        BlockState block;
        block.brick = b;
        block.first_neuron = brick.first_neuron + k * kBlockSize;
        block.size = std::min(kBlockSize, brick.neuron_count - k * kBlockSize);
        state->blocks.push_back(std::move(block));
      }
      if (spec.role == BrickRole::kOutput) {
        state->outputs.push_back({spec.name, spec.neurons, state->output_width, b});
        state->output_width += spec.neurons;
      }
    }
    state->bricks.push_back(std::move(brick));
  }
  for (uint32_t b : graph->topological_order) {
    if (state->bricks[b].role != BrickRole::kInput) state->order.push_back(b);
  }
  state->neuron_brick.resize(next_neuron);
  for (uint32_t b = 0; b < state->bricks.size(); ++b) {
    const BrickState& brick = state->bricks[b];
    std::fill_n(state->neuron_brick.begin() + brick.first_neuron, brick.neuron_count, b);
  }
  state->section_count.assign(next_neuron, 0);
  state->carried.assign(next_neuron, 0.0f);
  state->refractory.assign(next_neuron, 1);
  state->input.assign(next_neuron, 0.0f);
  state->activation.assign(next_neuron, 0.0f);
  state->delta.assign(next_neuron, 0.0f);
  state->reached_index.resize(state->blocks.size());
  state->reached_start.resize(state->blocks.size());
  state->reached_count.assign(state->blocks.size(), 0);
  state->section_sums.resize(state->blocks.size());
  state->growth.resize(state->blocks.size());
  return state;
}

Cluster::Cluster(std::unique_ptr<ClusterState> state) : state_(std::move(state)) {}
Cluster::~Cluster() = default;

Result<std::unique_ptr<Cluster>> Cluster::create(const Template& tmpl, ThreadPool* pool,
                                                 const TemplateLimits& limits) {
  TENDRIL_RETURN_IF_ERROR(validateTemplate(tmpl, limits));
  Result<std::unique_ptr<ClusterState>> state = buildClusterState(tmpl);
  if (!state.ok()) return state.status();
  state.value()->pool = pool;
  return std::unique_ptr<Cluster>(new Cluster(std::move(state).value()));
}

Result<std::unique_ptr<Cluster>> restoreCluster(std::unique_ptr<ClusterState> state) {
  if (!state) return Status::Invalid("no cluster state");
  return std::unique_ptr<Cluster>(new Cluster(std::move(state)));
}

const Template& Cluster::tmpl() const { return state_->tmpl; }
const std::vector<Port>& Cluster::inputs() const { return state_->inputs; }
const std::vector<Port>& Cluster::outputs() const { return state_->outputs; }
uint32_t Cluster::inputWidth() const { return state_->input_width; }
uint32_t Cluster::outputWidth() const { return state_->output_width; }
ClusterState& Cluster::state() { return *state_; }
const ClusterState& Cluster::state() const { return *state_; }
void Cluster::setThreadPool(ThreadPool* pool) { state_->pool = pool; }
void Cluster::setParallelThreshold(uint64_t min_synapses) {
  state_->parallel_min_synapses = min_synapses;
}

namespace {

Status checkWidth(std::string_view what, size_t actual, uint32_t expected) {
  if (actual == expected) return Status::Ok();
  return Status::Invalid(std::string(what) + " has " + std::to_string(actual) +
                         " values, the cluster expects " + std::to_string(expected));
}

}  // namespace

Status checkValues(std::string_view what, std::span<const float> values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return Status::Invalid(std::string(what) + " value " + std::to_string(i) + " is not finite");
    }
    if (std::fabs(values[i]) > kMaxValueMagnitude) {
      return Status::Invalid(std::string(what) + " value " + std::to_string(i) +
                             " is beyond +-1e30, the largest magnitude a cluster accepts");
    }
  }
  return Status::Ok();
}

namespace {

// Input neurons that are active but own no section get their first one before the pass, so
// that a new input value is learned from in the cycle it first appears.
void growFirstInputSections(ClusterState& state) {
  for (const Port& port : state.inputs) {
    const BrickState& brick = state.bricks[port.brick];
    for (uint32_t i = 0; i < brick.neuron_count; ++i) {
      const uint32_t neuron = brick.first_neuron + i;
      if (state.activation[neuron] > kPotentialCutoff && state.section_count[neuron] == 0) {
        createSection(state, {neuron, 0.0f, state.activation[neuron], 0}, neuron);
      }
    }
  }
}

// Applies the growth collected during the cycle: released sections first, then per block in
// block order. Keys are unique per request so every draw is independent of thread timing.
void applyGrowth(ClusterState& state, std::vector<std::vector<GrowthRequest>>& growth) {
  uint64_t key = 0;
  for (const GrowthRequest& request : state.pending_recreate) createSection(state, request, key++);
  state.pending_recreate.clear();
  for (auto& requests : growth) {
    for (const GrowthRequest& request : requests) createSection(state, request, key++);
    requests.clear();
  }
  // Hidden neurons that fired (above the cut-off, as for inputs) but own no section yet get
  // their first one.
  for (uint32_t b : state.order) {
    const BrickState& brick = state.bricks[b];
    if (brick.role != BrickRole::kHidden) continue;
    for (uint32_t i = 0; i < brick.neuron_count; ++i) {
      const uint32_t neuron = brick.first_neuron + i;
      if (state.activation[neuron] > kPotentialCutoff && state.section_count[neuron] == 0) {
        createSection(state, {neuron, 0.0f, state.activation[neuron], 0}, key++);
      }
    }
  }
}

}  // namespace

Status Cluster::train(std::span<const float> inputs, std::span<const float> expected) {
  ClusterState& state = *state_;
  TENDRIL_RETURN_IF_ERROR(checkWidth("input", inputs.size(), state.input_width));
  TENDRIL_RETURN_IF_ERROR(checkWidth("expected output", expected.size(), state.output_width));
  TENDRIL_RETURN_IF_ERROR(checkValues("input", inputs));
  TENDRIL_RETURN_IF_ERROR(checkValues("expected output", expected));

  writeInputs(state, inputs, state.activation);
  growFirstInputSections(state);
  forwardTrain(state, state.growth);
  backward(state, expected);
  applyGrowth(state, state.growth);
  ++state.cycle;
  if (state.tmpl.settings.enable_reduction && ++state.reduction_counter >= kReductionInterval) {
    state.reduction_counter = 0;
    reduce(state);
  }
  return Status::Ok();
}

Status Cluster::request(std::span<const float> inputs, std::span<float> outputs,
                        Workspace& workspace) const {
  const ClusterState& state = *state_;
  TENDRIL_RETURN_IF_ERROR(checkWidth("input", inputs.size(), state.input_width));
  TENDRIL_RETURN_IF_ERROR(checkWidth("output buffer", outputs.size(), state.output_width));
  TENDRIL_RETURN_IF_ERROR(checkValues("input", inputs));
  const size_t n = state.neuronCount();
  workspace.input_.assign(n, 0.0f);
  workspace.activation_.resize(n);
  // A request starts from the spiking state the last training cycle left and never changes it.
  workspace.carried_.assign(state.carried.begin(), state.carried.end());
  workspace.refractory_.assign(state.refractory.begin(), state.refractory.end());
  writeInputs(state, inputs, workspace.activation_);
  forwardInfer(state, workspace.input_, workspace.activation_, workspace.carried_,
               workspace.refractory_);
  for (const Port& port : state.outputs) {
    const BrickState& brick = state.bricks[port.brick];
    std::copy_n(workspace.activation_.begin() + brick.first_neuron, port.width,
                outputs.begin() + port.offset);
  }
  return Status::Ok();
}

uint64_t blockBytes(const BlockState& block) {
  return block.source.capacity() * 4 + block.end.capacity() * 4 + block.count.capacity() +
         block.successor.capacity() + block.weights.capacity() * 4 + block.meta.capacity() * 4;
}

ClusterStats Cluster::stats() const {
  const ClusterState& state = *state_;
  ClusterStats stats;
  stats.bricks = static_cast<uint32_t>(state.bricks.size());
  stats.neurons = state.neuronCount();
  stats.cycles_trained = state.cycle;
  for (const BlockState& block : state.blocks) {
    stats.sections += block.sectionCount();
    stats.synapses += block.synapseCount();
    stats.synapse_bytes += blockBytes(block) + sizeof(BlockState);
  }
  // Per-neuron arrays: brick index, section count, carried, refractory, input, activation, delta.
  const uint64_t per_neuron = 4 + 1 + 4 + 1 + 4 + 4 + 4;
  stats.bytes = stats.synapse_bytes + stats.neurons * per_neuron +
                state.bricks.size() * (sizeof(BrickState) + kPossibleTargetCount * 4);
  return stats;
}

namespace {

template <typename T>
bool sameBytes(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

bool sameBlock(const BlockState& a, const BlockState& b) {
  return sameBytes(a.source, b.source) && sameBytes(a.end, b.end) && sameBytes(a.count, b.count) &&
         sameBytes(a.successor, b.successor) && sameBytes(a.weights, b.weights) &&
         sameBytes(a.meta, b.meta);
}

}  // namespace

bool Cluster::sameStateAs(const Cluster& other) const {
  const ClusterState& a = *state_;
  const ClusterState& b = *other.state_;
  if (formatTemplateText(a.tmpl) != formatTemplateText(b.tmpl) || a.cycle != b.cycle ||
      a.reduction_counter != b.reduction_counter || a.blocks.size() != b.blocks.size() ||
      !sameBytes(a.section_count, b.section_count) || !sameBytes(a.carried, b.carried) ||
      !sameBytes(a.refractory, b.refractory) ||
      a.pending_recreate.size() != b.pending_recreate.size()) {
    return false;
  }
  for (size_t i = 0; i < a.blocks.size(); ++i) {
    if (!sameBlock(a.blocks[i], b.blocks[i])) return false;
  }
  for (size_t i = 0; i < a.bricks.size(); ++i) {
    if (a.bricks[i].possible_targets != b.bricks[i].possible_targets) return false;
  }
  for (size_t i = 0; i < a.pending_recreate.size(); ++i) {
    const GrowthRequest& x = a.pending_recreate[i];
    const GrowthRequest& y = b.pending_recreate[i];
    if (x.source != y.source || x.has_successor != y.has_successor ||
        std::memcmp(&x.start, &y.start, sizeof(float)) != 0 ||
        std::memcmp(&x.end, &y.end, sizeof(float)) != 0) {
      return false;
    }
  }
  return true;
}

// --- Section creation and storage ------------------------------------------------------------

namespace {

// Makes room for `extra` more elements with a small growth step: std::vector would double,
// leaving up to half of the synapse memory unused.
template <typename T>
void reserveTight(std::vector<T>& values, size_t extra) {
  const size_t needed = values.size() + extra;
  if (needed > values.capacity()) values.reserve(needed + needed / 16 + 16);
}

}  // namespace

bool createSection(ClusterState& state, const GrowthRequest& request, uint64_t key) {
  const Settings& settings = state.tmpl.settings;
  uint8_t& owned = state.section_count[request.source];
  if (owned >= settings.sections_per_neuron) return false;
  const BrickState& source_brick = state.bricks[state.neuron_brick[request.source]];
  if (source_brick.possible_targets.empty()) return false;
  const uint64_t hash = hashKeys(settings.seed, {state.cycle, 0x5EC7u, request.source, key});
  const uint32_t target_brick = source_brick.possible_targets[uniformBelow(
      hash, static_cast<uint32_t>(source_brick.possible_targets.size()))];
  const BrickState& brick = state.bricks[target_brick];
  const uint32_t block_index = brick.first_block + uniformBelow(mix64(hash), brick.block_count);
  BlockState& block = state.blocks[block_index];

  // Sections stay sorted by source neuron (a neuron's own sections in creation order): the
  // forward walk then meets active sources in runs, which the branch predictor follows well.
  const auto position = std::upper_bound(block.source.begin(), block.source.end(), request.source);
  const auto index = static_cast<uint32_t>(position - block.source.begin());
  const uint32_t start = block.sectionStart(index);
  reserveTight(block.source, 1);
  reserveTight(block.end, 1);
  reserveTight(block.count, 1);
  reserveTight(block.successor, 1);
  block.source.insert(block.source.begin() + index, request.source);
  block.end.insert(block.end.begin() + index, quantizeUp(request.end));
  block.count.insert(block.count.begin() + index, 0);
  block.successor.insert(block.successor.begin() + index, request.has_successor);
  insertSynapse(state, block_index, index, start, 0, quantizeDown(request.start),
                mix64(hash ^ key));
  ++owned;
  return true;
}

void insertSynapse(ClusterState& state, uint32_t block_index, uint32_t index, uint32_t start,
                   uint32_t slot, float threshold, uint64_t key) {
  BlockState& block = state.blocks[block_index];
  const uint64_t hash = hashKeys(state.tmpl.settings.seed, {state.cycle, block_index, key});
  const float magnitude = unitFloat(hash) * kInitialWeightRange;
  reserveTight(block.weights, 1);
  reserveTight(block.meta, 1);
  block.weights.insert(block.weights.begin() + start + slot,
                       (hash & 1u) != 0 ? -magnitude : magnitude);
  block.meta.insert(block.meta.begin() + start + slot,
                    makeMeta(threshold, kNewSynapseCounter, uniformBelow(mix64(hash), block.size)));
  ++block.count[index];
}

}  // namespace tendril::engine
