// Host build of the firmware inference core as a shared library for Python (ctypes), so
// tests and `daisynet simulate` can run the exact C++ the Daisy runs. Compiled once per
// model_defn.h by host_sim/native.py.
//
// The allocator entry points are counted (counting_allocator.h), so a test can prove the
// engine allocates nothing after Init().
#include <cstddef>
#include <cstdint>

#include "counting_allocator.h"
#include "model_engine.h"

namespace {

constexpr std::size_t kNativeMaxBlock = 64;  // frames per internal block, as a large Daisy block

daisynet::ModelEngine<kNativeMaxBlock> engine;

}  // namespace

// Only the dn_* functions below are exported; everything else is hidden (see host_sim/native.py).
#define DN_API __attribute__((visibility("default")))

extern "C" {

DN_API std::size_t dn_num_inputs() { return daisynet::model::kNumInputs; }
DN_API std::size_t dn_num_outputs() { return daisynet::model::kNumOutputs; }
DN_API std::size_t dn_max_block() { return kNativeMaxBlock; }
DN_API std::size_t dn_engine_bytes() { return sizeof(engine); }
DN_API const char* dn_weights_sha256() { return daisynet::model::kWeightsSha256; }
DN_API std::uint64_t dn_allocations() { return allocations; }
DN_API std::uint32_t dn_non_finite_outputs() { return engine.non_finite_outputs(); }
DN_API void dn_init() { engine.Init(); }
DN_API void dn_reset() { engine.Reset(); }

// channels[c] points at `frames` floats of input channel c; out gets frames * outputs floats.
DN_API void dn_process(const float* const* channels, float* out, std::size_t frames) {
  engine.Process(channels, out, frames);
}

}  // extern "C"
