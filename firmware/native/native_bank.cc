// Host build of a model bank (firmware/core/bank_slot.h) as a shared library for Python
// (ctypes): the slots' sources and bank_slots.h are generated beside it by host_sim/native.py
// (host_sim/bank.py), each slot its own translation unit.
#include <cstddef>
#include <cstdint>

#include "bank_player.h"
#include "bank_slots.h"
#include "counting_allocator.h"

// Only the dn_* functions below are exported; everything else is hidden (see host_sim/native.py).
#define DN_API __attribute__((visibility("default")))

namespace {

const daisynet_bank::Slot& SlotAt(std::size_t index) { return *daisynet_bank::kSlots[index]; }

constexpr std::size_t kPlayerMaxFrames = 64;  // frames per crossfade step, as a large Daisy block
constexpr std::size_t kPlayerMaxOutputs = 4;  // the Patch's audio outputs
daisynet_bank::Player<kPlayerMaxFrames, kPlayerMaxOutputs> player;

}  // namespace

extern "C" {

DN_API std::size_t dn_bank_size() { return daisynet_bank::kBankSize; }
DN_API std::uint64_t dn_allocations() { return allocations; }
DN_API std::size_t dn_slot_num_inputs(std::size_t slot) { return SlotAt(slot).num_inputs; }
DN_API std::size_t dn_slot_num_outputs(std::size_t slot) { return SlotAt(slot).num_outputs; }
DN_API std::size_t dn_slot_engine_bytes(std::size_t slot) { return SlotAt(slot).engine_bytes; }
DN_API const char* dn_slot_name(std::size_t slot) { return SlotAt(slot).name; }
DN_API const char* dn_slot_weights_sha256(std::size_t slot) {
  return SlotAt(slot).weights_sha256;
}
DN_API std::uint32_t dn_slot_non_finite_outputs(std::size_t slot) {
  return SlotAt(slot).non_finite_outputs();
}
DN_API void dn_slot_init(std::size_t slot) { SlotAt(slot).init(); }
DN_API void dn_slot_reset(std::size_t slot) { SlotAt(slot).reset(); }
// channels[c] points at `frames` floats of input channel c; out gets frames * outputs floats.
DN_API void dn_slot_process(std::size_t slot, const float* const* channels, float* out,
                            std::size_t frames) {
  SlotAt(slot).process(channels, out, frames);
}

// The bank's player (bank_player.h) over every slot.
DN_API bool dn_player_init(std::size_t fade_frames) {
  return player.Init(daisynet_bank::kSlots, daisynet_bank::kBankSize, fade_frames);
}
DN_API bool dn_player_select(std::size_t slot) { return player.Select(slot); }
DN_API std::size_t dn_player_active() { return player.active(); }
DN_API void dn_player_process(const float* const* channels, float* out, std::size_t frames) {
  player.Process(channels, out, frames);
}

}  // extern "C"
