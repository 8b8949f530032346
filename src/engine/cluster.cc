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
  state->active_sections.resize(state->blocks.size());
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

namespace {

Status checkWidth(std::string_view what, size_t actual, uint32_t expected) {
  if (actual == expected) return Status::Ok();
  return Status::Invalid(std::string(what) + " has " + std::to_string(actual) +
                         " values, the cluster expects " + std::to_string(expected));
}

Status checkFinite(std::string_view what, std::span<const float> values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      return Status::Invalid(std::string(what) + " value " + std::to_string(i) + " is not finite");
    }
  }
  return Status::Ok();
}

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
  // Hidden neurons that fired but own no section yet get their first one.
  for (uint32_t b : state.order) {
    const BrickState& brick = state.bricks[b];
    if (brick.role != BrickRole::kHidden) continue;
    for (uint32_t i = 0; i < brick.neuron_count; ++i) {
      const uint32_t neuron = brick.first_neuron + i;
      if (state.activation[neuron] > 0.0f && state.section_count[neuron] == 0) {
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
  TENDRIL_RETURN_IF_ERROR(checkFinite("input", inputs));
  TENDRIL_RETURN_IF_ERROR(checkFinite("expected output", expected));

  writeInputs(state, inputs, state.activation);
  growFirstInputSections(state);
  std::vector<std::vector<GrowthRequest>>& growth = state.growth;
  growth.resize(state.blocks.size());
  forwardTrain(state, growth);
  backward(state, expected);
  applyGrowth(state, growth);
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
  TENDRIL_RETURN_IF_ERROR(checkFinite("input", inputs));
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
  return block.sections.capacity() * sizeof(SectionHeader) +
         block.weights.capacity() * sizeof(float) + block.meta.capacity() * sizeof(uint32_t);
}

ClusterStats Cluster::stats() const {
  const ClusterState& state = *state_;
  ClusterStats stats;
  stats.bricks = static_cast<uint32_t>(state.bricks.size());
  stats.neurons = state.neuronCount();
  stats.cycles_trained = state.cycle;
  for (const BlockState& block : state.blocks) {
    stats.sections += block.sections.size();
    for (const SectionHeader& section : block.sections) stats.synapses += section.count;
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
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// Compares sections by content, not by where they happen to sit in the arrays.
bool sameBlock(const BlockState& a, const BlockState& b) {
  if (a.sections.size() != b.sections.size()) return false;
  for (size_t i = 0; i < a.sections.size(); ++i) {
    const SectionHeader& x = a.sections[i];
    const SectionHeader& y = b.sections[i];
    if (x.source != y.source || x.count != y.count || x.has_successor != y.has_successor ||
        std::memcmp(&x.end, &y.end, sizeof(float)) != 0) {
      return false;
    }
    if (std::memcmp(&a.weights[x.start], &b.weights[y.start], x.count * sizeof(float)) != 0 ||
        std::memcmp(&a.meta[x.start], &b.meta[y.start], x.count * sizeof(uint32_t)) != 0) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool Cluster::sameStateAs(const Cluster& other) const {
  const ClusterState& a = *state_;
  const ClusterState& b = *other.state_;
  if (formatTemplateText(a.tmpl) != formatTemplateText(b.tmpl) || a.cycle != b.cycle || a.reduction_counter != b.reduction_counter ||
      a.blocks.size() != b.blocks.size() || !sameBytes(a.section_count, b.section_count) ||
      !sameBytes(a.carried, b.carried) || !sameBytes(a.refractory, b.refractory) ||
      a.pending_recreate.size() != b.pending_recreate.size()) {
    return false;
  }
  for (size_t i = 0; i < a.blocks.size(); ++i) {
    if (!sameBlock(a.blocks[i], b.blocks[i])) return false;
  }
  return true;
}

// --- Section creation and storage ------------------------------------------------------------

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

  SectionHeader header;
  header.source = request.source;
  header.start = static_cast<uint32_t>(block.weights.size());
  header.end = quantizeUp(request.end);
  header.has_successor = request.has_successor;
  // Sections stay sorted by source neuron (a neuron's own sections in creation order): the
  // forward walk then meets active sources in runs, which the branch predictor follows well.
  auto position = std::upper_bound(
      block.sections.begin(), block.sections.end(), request.source,
      [](uint32_t source, const SectionHeader& s) { return source < s.source; });
  const auto index = static_cast<uint32_t>(position - block.sections.begin());
  block.sections.insert(position, header);
  appendSynapse(state, block_index, index, quantizeDown(request.start), mix64(hash ^ key));
  ++owned;
  return true;
}

void appendSynapse(ClusterState& state, uint32_t block_index, uint32_t index, float threshold,
                   uint64_t key) {
  BlockState& block = state.blocks[block_index];
  const uint32_t start = reserveSynapse(block, index, state.tmpl.settings.synapses_per_section);
  SectionHeader& section = block.sections[index];
  const uint64_t hash = hashKeys(state.tmpl.settings.seed, {state.cycle, block_index, key});
  const float magnitude = unitFloat(hash) * kInitialWeightRange;
  block.weights[start + section.count] = (hash & 1u) != 0 ? -magnitude : magnitude;
  block.meta[start + section.count] =
      makeMeta(threshold, kNewSynapseCounter, uniformBelow(mix64(hash), block.size));
  ++section.count;
}

namespace {

// Rewrites a block's arrays so that sections are contiguous in header order with no holes.
void compactBlock(BlockState& block) {
  std::vector<float> weights;
  std::vector<uint32_t> meta;
  size_t total = 0;
  for (const SectionHeader& s : block.sections) total += s.capacity;
  weights.reserve(total + total / 4 + kCapacityStep);
  meta.reserve(weights.capacity());
  for (SectionHeader& s : block.sections) {
    const uint32_t start = static_cast<uint32_t>(weights.size());
    weights.insert(weights.end(), block.weights.begin() + s.start,
                   block.weights.begin() + s.start + s.count);
    meta.insert(meta.end(), block.meta.begin() + s.start, block.meta.begin() + s.start + s.count);
    weights.resize(start + s.capacity);
    meta.resize(start + s.capacity);
    s.start = start;
  }
  block.weights = std::move(weights);
  block.meta = std::move(meta);
  block.hole_synapses = 0;
}

// Grows both arrays by `extra` slots with a 1.25x growth policy (std::vector doubles, which
// would waste up to half of the synapse memory).
void growArrays(BlockState& block, size_t extra) {
  const size_t needed = block.weights.size() + extra;
  if (needed > block.weights.capacity()) {
    const size_t capacity = needed + needed / 4 + kCapacityStep;
    block.weights.reserve(capacity);
    block.meta.reserve(capacity);
  }
  block.weights.resize(needed, 0.0f);
  block.meta.resize(needed, 0u);
}

}  // namespace

uint32_t reserveSynapse(BlockState& block, uint32_t index, uint32_t max_capacity) {
  SectionHeader& section = block.sections[index];
  if (section.count < section.capacity) return section.start;
  const uint32_t end = section.start + section.capacity;
  const uint32_t capacity =
      std::min<uint32_t>(max_capacity, section.capacity + kCapacityStep);
  const uint32_t extra = capacity - section.capacity;
  if (end == block.weights.size()) {
    // The section is last in the arrays: extend in place.
    growArrays(block, extra);
  } else {
    // Move the section to the end; its old run becomes a hole.
    const uint32_t start = static_cast<uint32_t>(block.weights.size());
    growArrays(block, capacity);
    std::copy_n(block.weights.begin() + section.start, section.count, block.weights.begin() + start);
    std::copy_n(block.meta.begin() + section.start, section.count, block.meta.begin() + start);
    block.hole_synapses += section.capacity;
    section.start = start;
  }
  section.capacity = static_cast<uint8_t>(capacity);
  if (block.hole_synapses > block.weights.size() / 4 + 64) compactBlock(block);
  return block.sections[index].start;
}

}  // namespace tendril::engine
