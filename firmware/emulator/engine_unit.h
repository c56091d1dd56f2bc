// The inference core as the emulator harness sees it: plain functions, so that the core and
// the model live in their own object (engine_unit.o) whose size is the model's footprint.
#pragma once

#include <cstddef>
#include <cstdint>

namespace daisynet::emulator {

constexpr std::size_t kMaxBlock = 64;  // the largest block the tests use; the Daisy's is 48

// Picks the model the calls below run: slot `slot` of a bank (bank_unit.cc); a build of one
// model (engine_unit.cc) has slot 0 only. False for a slot the build does not have.
bool EngineSelect(std::size_t slot);
void EngineInit();
// Frames [first, first + frames) of channel-major input (channel c starts at
// planar + c * channel_stride) through Process(); out gets frames x outputs, frame-major.
void EngineProcessPlanar(const float* planar, std::size_t channel_stride, std::size_t first,
                         float* out, std::size_t frames);
std::size_t EngineInputs();
std::size_t EngineOutputs();
std::size_t EngineBytes();
std::uint32_t EngineNonFiniteOutputs();
// The selected slot's boot self-check (firmware/core/self_check.h), timed with `cycles`;
// verdict as daisynet_bank::CheckVerdict. False in an image of one model, which has no Slot.
bool EngineSelfCheck(std::uint32_t (*cycles)(), int* verdict, std::uint32_t* cycles_per_sample,
                     float* max_error);

}  // namespace daisynet::emulator
