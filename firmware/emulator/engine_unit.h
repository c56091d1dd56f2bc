// The inference core as the emulator harness sees it: plain functions, so that the core and
// the model live in their own object (engine_unit.o) whose size is the model's footprint.
#pragma once

#include <cstddef>
#include <cstdint>

namespace daisynet::emulator {

constexpr std::size_t kMaxBlock = 64;  // the largest block the tests use; the Daisy's is 48

void EngineInit();
// Frames [first, first + frames) of channel-major input (channel c starts at
// planar + c * channel_stride) through Process(); out gets frames x outputs, frame-major.
void EngineProcessPlanar(const float* planar, std::size_t channel_stride, std::size_t first,
                         float* out, std::size_t frames);
std::size_t EngineInputs();
std::size_t EngineOutputs();
std::size_t EngineBytes();
std::uint32_t EngineNonFiniteOutputs();

}  // namespace daisynet::emulator
