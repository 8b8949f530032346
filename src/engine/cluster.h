// A cluster: one growing network, trained one sample (one cycle) at a time.
//
// Inputs are raw values in any range; input ports and output ports are the named I/O bricks of
// the template, in declaration order. A sample is passed as one flat vector: the values of all
// input ports concatenated in port order (likewise for expected values and outputs).
//
// Thread safety: a cluster has one writer at a time. train(), reduce() and restore run on the
// calling thread plus the cluster's thread pool, and must not overlap with any other call on the
// same cluster. request() is const and may run concurrently with other request() calls, each
// with its own Workspace, but never concurrently with a training cycle.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"
#include "engine/template.h"

namespace tendril::engine {

class ThreadPool;
class ClusterState;

// A named input or output of a cluster.
struct Port {
  std::string name;
  uint32_t width = 0;   // number of values
  uint32_t offset = 0;  // position of the first value in the flat sample vector
  uint32_t brick = 0;   // declaration index of the brick
};

// Size figures of a cluster.
struct ClusterStats {
  uint32_t bricks = 0;
  uint64_t neurons = 0;
  uint64_t sections = 0;
  uint64_t synapses = 0;
  uint64_t bytes = 0;          // everything the cluster holds: neurons, sections, synapses, lists
  uint64_t synapse_bytes = 0;  // sections and synapses only (what grows)
  uint64_t cycles_trained = 0;
};

// Per-thread scratch for request(): neuron inputs and activations. Reusable across calls and
// clusters; grows to the largest cluster it has served.
class Workspace {
 public:
  Workspace();
  ~Workspace();
  Workspace(Workspace&&) noexcept;
  Workspace& operator=(Workspace&&) noexcept;

 private:
  friend class Cluster;
  std::vector<float> input_;
  std::vector<float> activation_;
  std::vector<float> carried_;
  std::vector<uint8_t> refractory_;
  std::vector<float> lanes_;  // requestMany: per neuron, one value per sample of a batch
};

class Cluster {
 public:
  // Builds an empty cluster (no sections, no synapses) from a validated template.
  // `pool` may be null (everything runs on the calling thread); the pool must outlive the
  // cluster. Fails with InvalidArgument when the template does not validate.
  static Result<std::unique_ptr<Cluster>> create(const Template& tmpl, ThreadPool* pool = nullptr,
                                                 const TemplateLimits& limits = {});
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  const Template& tmpl() const;
  const std::vector<Port>& inputs() const;
  const std::vector<Port>& outputs() const;
  uint32_t inputWidth() const;   // sum of input port widths
  uint32_t outputWidth() const;  // sum of output port widths

  // One training cycle: forward pass with growth and refinement, backward pass, growth of new
  // sections, and a reduction pass every 100 cycles when enabled. Widths must match exactly;
  // values must be finite and within +-1e30 (InvalidArgument otherwise, and nothing changes).
  Status train(std::span<const float> inputs, std::span<const float> expected);

  // Inference: computes the outputs for one sample without changing the cluster.
  Status request(std::span<const float> inputs, std::span<float> outputs,
                 Workspace& workspace) const;

  // Inference for `count` samples at once: `inputs` holds count x inputWidth() values, sample
  // after sample, `outputs` count x outputWidth(). The outputs are bit-identical to `count`
  // request() calls; walking each section once for several samples makes it several times
  // faster. Same thread-safety rules as request().
  Status requestMany(std::span<const float> inputs, std::span<float> outputs, size_t count,
                     Workspace& workspace) const;

  // Size figures; O(number of blocks).
  ClusterStats stats() const;

  // Uses `pool` for later training cycles (null: calling thread only). Results do not depend
  // on the pool or its size.
  void setThreadPool(ThreadPool* pool);

  // Bricks holding fewer synapses than this are walked on the calling thread even with a pool
  // (default 32768: below it handing out tasks costs more than it saves). 0 puts every brick
  // with two or more blocks on the pool, which tests and the bench's threads experiment use to
  // check the parallel path. Results do not depend on it.
  void setParallelThreshold(uint64_t min_synapses);

  // Exact equality of the complete learned state (structure, weights, counters, cycle count).
  // Used by determinism and checkpoint tests.
  bool sameStateAs(const Cluster& other) const;

  // Internal state, for checkpoint.cc and the tests; not part of the stable API.
  ClusterState& state();
  const ClusterState& state() const;

 private:
  explicit Cluster(std::unique_ptr<ClusterState> state);
  std::unique_ptr<ClusterState> state_;
  friend Result<std::unique_ptr<Cluster>> restoreCluster(std::unique_ptr<ClusterState> state);
};

// Builds a cluster around a state read from a checkpoint (see checkpoint.h).
Result<std::unique_ptr<Cluster>> restoreCluster(std::unique_ptr<ClusterState> state);

}  // namespace tendril::engine
