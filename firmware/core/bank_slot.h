// A model bank: several models in one app, each a Slot. Every model_defn.h declares the same
// names (daisynet::model::kNumInputs, ...), so each slot is compiled in a translation unit of
// its own with the namespace daisynet renamed (bank_slot_impl.h); what the slots share is this
// struct, which is outside that namespace.
#pragma once

#include <cstddef>
#include <cstdint>

namespace daisynet_bank {

// Input channels a bank's code handles per slot (pointer arrays on the stack); the Patch feeds 8.
inline constexpr std::size_t kMaxSlotInputs = 16;
// Models a bank holds at most (host_sim/bank.py MAX_SLOTS).
inline constexpr std::size_t kMaxSlots = 16;

// One model of the bank: its engine's functions and its header's facts, constant (in flash).
// Plain function pointers rather than virtual functions: an engine object with a vtable
// pointer would go to .data, its kilobytes of zeros stored in flash to be copied at start-up,
// where a plain one is .bss.
struct Slot {
  // As the engine's (engine_shell.h): one-time set-up, then silence.
  void (*init)();
  // Back to silence, as after power-up; also clears the non-finite counter.
  void (*reset)();
  // inputs[c][i]: frame i of input channel c in input_names order; out[i * num_outputs + o].
  void (*process)(const float* const* inputs, float* out, std::size_t frames);
  std::uint32_t (*non_finite_outputs)();
  const char* name;
  const char* weights_sha256;
  std::size_t num_inputs;
  const char* const* input_names;
  std::size_t num_outputs;
  float sample_rate;  // Hz, the rate the model was trained at
  std::size_t engine_bytes;
  // The boot self-check's reference (model_defn.h kSelfCheck*, self_check.h); check_frames 0:
  // the header stores none.
  const float* check_outputs;
  std::size_t check_frames;
  std::size_t check_stride;
  float check_tolerance;
  std::uint32_t check_instructions_per_sample;
};

}  // namespace daisynet_bank
