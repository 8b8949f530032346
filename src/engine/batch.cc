// requestMany(): inference for a batch of samples, walking every section once for several
// samples ("lanes"). Each neuron holds one value per lane; a synapse's contribution is computed
// for all lanes at once and masked where a sample does not reach it. Adding an exact 0 leaves a
// sum unchanged, and contributions arrive in the same order as in request(), so every lane's
// result is bit-identical to a single request of that sample.
//
// The lanes are GCC/Clang vector extensions: 4 lanes (SSE2, any x86-64), or 8 lanes in a copy
// compiled for AVX2 and chosen at run time where the CPU has it. Both use only exact IEEE
// operations (no fused multiply-add), so they agree with each other and with request().
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "engine/cluster.h"
#include "engine/cluster_state.h"
#include "engine/walk.h"

#define TENDRIL_INLINE inline __attribute__((always_inline))

namespace tendril::engine {
namespace {

// Vector types per lane count. GCC drops vector_size when the size depends on a template
// parameter, so each width is spelled out. may_alias: single lanes are read and written through
// float pointers (see lane()).
template <uint32_t L>
struct LaneTypes;
template <>
struct LaneTypes<4> {
  using Values = float __attribute__((vector_size(16), __may_alias__));
  using Mask = int32_t __attribute__((vector_size(16)));
  using Bits = uint32_t __attribute__((vector_size(16)));
};
template <>
struct LaneTypes<8> {
  using Values = float __attribute__((vector_size(32), __may_alias__));
  using Mask = int32_t __attribute__((vector_size(32)));
  using Bits = uint32_t __attribute__((vector_size(32)));
};
static_assert(sizeof(LaneTypes<4>::Values) == 16 && sizeof(LaneTypes<8>::Values) == 32);

template <uint32_t L>
using Lanes = typename LaneTypes<L>::Values;
template <uint32_t L>
using LaneMask = typename LaneTypes<L>::Mask;

// Lane l of a vector (subscripting a template-dependent vector type is not portable).
template <uint32_t L>
TENDRIL_INLINE float& lane(Lanes<L>& values, size_t l) {
  return reinterpret_cast<float*>(&values)[l];
}

template <uint32_t L>
TENDRIL_INLINE Lanes<L> splat(float value) {
  return value - Lanes<L>{};
}

// Reinterprets the bits of one vector type as another of the same size. (std::bit_cast on
// vector types trips a false UBSan null-pointer report in GCC 12 debug builds.)
template <typename To, typename From>
TENDRIL_INLINE To reinterpretLanes(const From& from) {
  static_assert(sizeof(To) == sizeof(From));
  To to;
  std::memcpy(&to, &from, sizeof to);
  return to;
}

// log2OnePlus (walk.h) for every lane, the same operations in the same order.
template <uint32_t L>
TENDRIL_INLINE Lanes<L> log2OnePlusLanes(Lanes<L> c) {
  using Bits = typename LaneTypes<L>::Bits;
  const Bits bits = reinterpretLanes<Bits>(splat<L>(1.0f) + c);
  // The biased exponent as a float, exactly: 2^23 + e has e in its low mantissa bits.
  Lanes<L> exponent = reinterpretLanes<Lanes<L>>(Bits((bits >> 23) | 0x4B000000u)) -
                      splat<L>(8388608.0f) - splat<L>(127.0f);
  Lanes<L> m = reinterpretLanes<Lanes<L>>(Bits((bits & 0x007FFFFFu) | 0x3F800000u));
  const LaneMask<L> high = m > splat<L>(1.41421356f);
  m = high ? m * splat<L>(0.5f) : m;
  exponent += high ? splat<L>(1.0f) : splat<L>(0.0f);
  const Lanes<L> t = (m - splat<L>(1.0f)) / (m + splat<L>(1.0f));
  const Lanes<L> t2 = t * t;
  const Lanes<L> series =
      splat<L>(1.0f) + t2 * (splat<L>(1.0f / 3.0f) +
                             t2 * (splat<L>(1.0f / 5.0f) +
                                   t2 * (splat<L>(1.0f / 7.0f) + t2 * splat<L>(1.0f / 9.0f))));
  return exponent + splat<L>(2.8853900817779268f) * t * series;
}

// Walks every section of `block` for all lanes, without data-dependent branches, then updates
// the block's neurons.
template <uint32_t L>
TENDRIL_INLINE void inferBlockLanes(const ClusterState& state, const BlockState& block,
                                    Lanes<L>* input, Lanes<L>* activation, Lanes<L>* carried) {
  const Lanes<L> cutoff = splat<L>(kPotentialCutoff);
  const Lanes<L> zero = splat<L>(0.0f);
  Lanes<L>* target_input = input + block.first_neuron;
  const uint32_t* meta = block.meta.data();
  const float* weights = block.weights.data();
  uint32_t first = 0;
  for (uint32_t k = 0; k < block.sectionCount(); ++k) {
    const uint32_t count = block.count[k];
    const uint32_t* m = meta + first;
    const float* w = weights + first;
    first += count;
    const Lanes<L> potential = activation[block.source[k]];
    for (uint32_t i = 0; i < count; ++i) {
      const float threshold = metaThreshold(m[i]);
      const float next = i + 1 < count ? metaThreshold(m[i + 1]) : block.end[k];
      const Lanes<L> reach = potential - threshold;
      const Lanes<L> weight = splat<L>(w[i]);
      const Lanes<L> share = next <= potential ? weight : weight * (reach / (next - threshold));
      target_input[metaTarget(m[i])] += reach > cutoff ? share : zero;
    }
  }
  const uint32_t end = block.first_neuron + block.size;
  if (state.bricks[block.brick].role == BrickRole::kOutput) {
    const bool softmax = state.tmpl.settings.output_loss == OutputLoss::kSoftmax;
    for (uint32_t n = block.first_neuron; n < end; ++n) {
      for (uint32_t l = 0; l < L; ++l) {
        const float x = lane<L>(input[n], l);
        lane<L>(activation[n], l) = softmax ? x : (x != 0.0f ? 1.0f / (1.0f + std::exp(-x)) : 0.0f);
      }
      input[n] = zero;
    }
    return;
  }
  const Lanes<L> cooldown = splat<L>(static_cast<float>(state.tmpl.settings.neuron_cooldown));
  for (uint32_t n = block.first_neuron; n < end; ++n) {
    const Lanes<L> value = carried[n] / cooldown + input[n];
    carried[n] = value;
    input[n] = zero;
    activation[n] = log2OnePlusLanes<L>(value > zero ? value : zero);
  }
}

// Softmax of one lane of an output brick, exactly as softmaxBrick() computes it.
template <uint32_t L>
TENDRIL_INLINE void softmaxLane(const BrickState& brick, Lanes<L>* activation, uint32_t l) {
  Lanes<L>* y = activation + brick.first_neuron;
  float top = lane<L>(y[0], l);
  for (uint32_t i = 1; i < brick.neuron_count; ++i) top = std::max(top, lane<L>(y[i], l));
  float sum = 0.0f;
  for (uint32_t i = 0; i < brick.neuron_count; ++i) {
    lane<L>(y[i], l) = std::exp(lane<L>(y[i], l) - top);
    sum += lane<L>(y[i], l);
  }
  for (uint32_t i = 0; i < brick.neuron_count; ++i) lane<L>(y[i], l) /= sum;
}

// Answers `count` samples, L at a time. `lane_memory` is scratch of at least
// 3 * neurons * L + L floats.
template <uint32_t L>
TENDRIL_INLINE void runBatches(const ClusterState& state, std::span<const float> inputs,
                               std::span<float> outputs, size_t count, float* lane_memory) {
  const size_t neurons = state.neuronCount();
  float* base = lane_memory;
  base += (L - (reinterpret_cast<uintptr_t>(base) / sizeof(float)) % L) % L;
  Lanes<L>* input = reinterpret_cast<Lanes<L>*>(base);
  Lanes<L>* activation = input + neurons;
  Lanes<L>* carried = activation + neurons;
  // The neuron updates clear the inputs they consume and overwrite every activation they own,
  // so both start at 0 once; a lane left over in the last batch computes garbage nobody reads.
  std::fill(input, input + neurons, splat<L>(0.0f));
  std::fill(activation, activation + neurons, splat<L>(0.0f));
  for (size_t batch = 0; batch < count; batch += L) {
    const size_t lanes = std::min<size_t>(L, count - batch);
    // Every sample starts from the carried potentials the last training cycle left.
    for (uint32_t b : state.order) {
      const BrickState& brick = state.bricks[b];
      for (uint32_t n = brick.first_neuron; n < brick.first_neuron + brick.neuron_count; ++n) {
        carried[n] = splat<L>(state.carried[n]);
      }
    }
    // Each sample's inputs go to its lane, split by sign exactly as writeInputs() does.
    const bool split = state.tmpl.settings.sign_split_inputs;
    for (size_t l = 0; l < lanes; ++l) {
      const float* sample = inputs.data() + (batch + l) * state.input_width;
      for (const Port& port : state.inputs) {
        Lanes<L>* positive = activation + state.bricks[port.brick].first_neuron;
        const float* in = sample + port.offset;
        for (uint32_t i = 0; i < port.width; ++i) {
          lane<L>(positive[i], l) = in[i] > 0.0f ? in[i] : 0.0f;
          if (split) lane<L>(positive[port.width + i], l) = in[i] < 0.0f ? -in[i] : 0.0f;
        }
      }
    }
    for (uint32_t b : state.order) {
      const BrickState& brick = state.bricks[b];
      for (uint32_t k = 0; k < brick.block_count; ++k) {
        inferBlockLanes<L>(state, state.blocks[brick.first_block + k], input, activation, carried);
      }
      if (brick.role == BrickRole::kOutput &&
          state.tmpl.settings.output_loss == OutputLoss::kSoftmax) {
        for (uint32_t l = 0; l < lanes; ++l) softmaxLane<L>(brick, activation, l);
      }
    }
    for (size_t l = 0; l < lanes; ++l) {
      float* out = outputs.data() + (batch + l) * state.output_width;
      for (const Port& port : state.outputs) {
        const BrickState& brick = state.bricks[port.brick];
        for (uint32_t i = 0; i < port.width; ++i) {
          out[port.offset + i] = lane<L>(activation[brick.first_neuron + i], l);
        }
      }
    }
  }
}

constexpr uint32_t kMaxLanes = 8;

void runBatchesSse(const ClusterState& state, std::span<const float> inputs,
                   std::span<float> outputs, size_t count, float* lane_memory) {
  runBatches<4>(state, inputs, outputs, count, lane_memory);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TENDRIL_HAVE_AVX2_PATH 1
__attribute__((target("avx2"))) void runBatchesAvx2(const ClusterState& state,
                                                    std::span<const float> inputs,
                                                    std::span<float> outputs, size_t count,
                                                    float* lane_memory) {
  runBatches<8>(state, inputs, outputs, count, lane_memory);
}
#endif

}  // namespace

bool& portableBatchesOnly() {
  static bool portable = false;
  return portable;
}

Status Cluster::requestMany(std::span<const float> inputs, std::span<float> outputs, size_t count,
                            Workspace& workspace) const {
  const ClusterState& state = *state_;
  if (inputs.size() != count * state.input_width || outputs.size() != count * state.output_width) {
    return Status::Invalid("requestMany: " + std::to_string(count) + " samples need " +
                           std::to_string(count * state.input_width) + " input and " +
                           std::to_string(count * state.output_width) + " output values, got " +
                           std::to_string(inputs.size()) + " and " +
                           std::to_string(outputs.size()));
  }
  // Spiking neurons count their refractory time per sample: take the one-by-one path.
  if (state.tmpl.settings.refractory_time != 1) {
    for (size_t s = 0; s < count; ++s) {
      TENDRIL_RETURN_IF_ERROR(request(inputs.subspan(s * state.input_width, state.input_width),
                                      outputs.subspan(s * state.output_width, state.output_width),
                                      workspace));
    }
    return Status::Ok();
  }
  TENDRIL_RETURN_IF_ERROR(checkValues("input", inputs));
  workspace.lanes_.resize(3 * state.neuronCount() * kMaxLanes + kMaxLanes);
#ifdef TENDRIL_HAVE_AVX2_PATH
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2 && !portableBatchesOnly()) {
    runBatchesAvx2(state, inputs, outputs, count, workspace.lanes_.data());
    return Status::Ok();
  }
#endif
  runBatchesSse(state, inputs, outputs, count, workspace.lanes_.data());
  return Status::Ok();
}

}  // namespace tendril::engine
