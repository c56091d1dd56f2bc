// Host build of the Patch inference app's core (PatchRunner) as a shared library for Python,
// so tests check the jack/knob wiring and the CPU meter without a Daisy. Compiled once per
// model_defn.h by host_sim/native.py (NativePatchRunner).
#include <cstddef>
#include <cstdint>

#include "patch_runner.h"

namespace {

constexpr std::size_t kDaisyBlock = 48;  // DaisyDuino's default audio block, frames

daisynet::PatchRunner<kDaisyBlock> runner;
daisynet::CpuMeter meter;

}  // namespace

#define DN_API __attribute__((visibility("default")))

extern "C" {

DN_API void dn_patch_init() { runner.Init(); }

// audio_in: 4 pointers to `frames` floats; controls: 4 floats (0..1); out: `frames` floats.
DN_API void dn_patch_process(const float* const* audio_in, const float* controls, float* out,
                             std::size_t frames) {
  runner.Process(audio_in, controls, out, frames);
}

DN_API std::uint32_t dn_patch_non_finite_outputs() { return runner.non_finite_outputs(); }

DN_API void dn_meter_init(float cpu_hz, float sample_rate) { meter.Init(cpu_hz, sample_rate); }
DN_API void dn_meter_add(std::uint32_t cycles, std::size_t frames) { meter.Add(cycles, frames); }
DN_API float dn_meter_load() { return meter.load(); }
DN_API float dn_meter_cycles_per_sample() { return meter.cycles_per_sample(); }
DN_API float dn_meter_peak_cycles_per_sample() { return meter.peak_cycles_per_sample(); }

// The USB status line for the given readings; returns its length (snprintf semantics).
DN_API int dn_format_status(char* buffer, std::size_t size, float seconds, float load,
                            float cycles_per_sample, float peak, std::uint32_t non_finite) {
  return daisynet::FormatStatusLine(buffer, size,
                                    {seconds, load, cycles_per_sample, peak, non_finite});
}

}  // extern "C"
