// Host build of the Patch inference app's core (PatchRunner) as a shared library for Python,
// so tests check the jack/knob wiring, the model switching and the CPU meter without a Daisy.
// Compiled once per bank of model_defn.h files by host_sim/native.py (NativePatchRunner), which
// generates bank_slots.h and the slots' sources beside it (host_sim/bank.py).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "bank_slots.h"
#include "counting_allocator.h"
#include "patch_runner.h"

namespace {

constexpr std::size_t kDaisyBlock = 48;  // DaisyDuino's default audio block, frames
constexpr float kPatchSampleRate = 48000.0f;  // the inference app's AUDIO_SR_48K, Hz

daisynet::PatchRunner<kDaisyBlock> runner;
daisynet::CpuMeter meter;

}  // namespace

#define DN_API __attribute__((visibility("default")))

extern "C" {

// 0 when the bank plays, else its daisynet::BankProblem. The self-checks run with a cycle
// counter that stands still: cycles are the Daisy's (and the emulated M7's) to measure, and the
// status text stays the same on any host.
DN_API int dn_patch_init() {
  return static_cast<int>(runner.Init(daisynet_bank::kSlots, daisynet_bank::kBankSize,
                                      kPatchSampleRate, [] { return std::uint32_t{0}; }));
}
// Slot `slot`'s self-check: its verdict (daisynet_bank::CheckVerdict), cycles per sample (0
// here) and largest error.
DN_API void dn_patch_check(std::size_t slot, int* verdict, std::uint32_t* cycles_per_sample,
                           float* max_error) {
  const daisynet_bank::CheckResult& check = runner.check(slot);
  *verdict = static_cast<int>(check.verdict);
  *cycles_per_sample = check.cycles_per_sample;
  *max_error = check.max_error;
}
DN_API bool dn_patch_select(std::size_t slot) { return runner.Select(slot); }
DN_API bool dn_patch_set_morph(int control) { return runner.SetMorph(control); }
DN_API std::size_t dn_patch_active() { return runner.active(); }
DN_API std::size_t dn_patch_requested() { return runner.requested(); }
DN_API std::size_t dn_patch_fade_frames() { return runner.kFadeFrames; }
DN_API std::uint64_t dn_allocations() { return allocations; }

// audio_in: 4 pointers to `frames` floats; controls: 4 floats (0..1); out: `frames` floats.
DN_API void dn_patch_process(const float* const* audio_in, const float* controls, float* out,
                             std::size_t frames) {
  runner.Process(audio_in, controls, out, frames);
}

// One audio callback as the inference app runs it (PatchRunner::RunCallback), timed with the
// host's steady clock in cycles of a `clock_hz` core: host time, not Daisy cycles. stall_ns of
// busy waiting after the callback starts, before the model, stands in for a slow callback (as a
// slow control read would be), so overruns can be provoked. audio_in: 4 pointers to `frames`
// floats; out: 4 pointers to `frames` floats (model, dry input 1, silence, silence).
DN_API void dn_patch_callback(const float* const* audio_in, float* const* out,
                              const float* controls, std::size_t frames, std::uint32_t clock_hz,
                              std::uint64_t stall_ns) {
  using Clock = std::chrono::steady_clock;
  bool started = false;
  auto host_cycles = [&]() -> std::uint32_t {
    if (started && stall_ns > 0) {
      const Clock::time_point until = Clock::now() + std::chrono::nanoseconds(stall_ns);
      while (Clock::now() < until) {
      }
      stall_ns = 0;
    }
    started = true;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        Clock::now().time_since_epoch()).count();
    // In double: ns * clock_hz would overflow 64 bits after a few hours of host uptime.
    const double cycles = static_cast<double>(ns) * 1e-9 * clock_hz;
    return static_cast<std::uint32_t>(static_cast<std::uint64_t>(cycles));
  };
  runner.RunCallback(audio_in, out, controls, frames, host_cycles, meter);
}

// The same callback on a virtual cycle counter, for results that must not depend on the host's
// speed or load: the model takes `model_cycles` and the stall `stall_cycles`, always. The
// counter follows RunCallback's reads: start, model start (after the stall), model end, end.
DN_API void dn_patch_callback_virtual(const float* const* audio_in, float* const* out,
                                      const float* controls, std::size_t frames,
                                      std::uint32_t model_cycles, std::uint32_t stall_cycles) {
  static std::uint32_t now = 0;  // free-running and wrapping, as DWT->CYCCNT
  int reads = 0;
  auto virtual_cycles = [&]() -> std::uint32_t {
    ++reads;
    if (reads == 2) now += stall_cycles;
    if (reads == 3) now += model_cycles;
    return now;
  };
  runner.RunCallback(audio_in, out, controls, frames, virtual_cycles, meter);
}

DN_API std::uint32_t dn_patch_non_finite_outputs() { return runner.non_finite_outputs(); }

DN_API void dn_meter_init(std::uint32_t clock_hz, std::uint32_t sample_rate) {
  meter.Init(clock_hz, sample_rate);
}
DN_API void dn_meter_add(std::uint32_t model_cycles, std::uint32_t callback_cycles,
                         std::size_t frames) {
  meter.Add(model_cycles, callback_cycles, frames);
}

// Ends the meter's period; writes its PatchStatus fields, in declaration order, to `fields`.
DN_API void dn_meter_end_period(std::uint32_t seconds, std::uint32_t non_finite,
                                std::uint32_t* fields) {
  const daisynet::PatchStatus status = meter.EndPeriod(seconds, non_finite);
  static_assert(sizeof status == 10 * sizeof(std::uint32_t), "PatchStatus is 10 whole numbers");
  std::memcpy(fields, &status, sizeof status);
}

// The USB status line, the OLED's self-check line and its three figure lines for the model
// playing and PatchStatus `fields` (declaration order), joined by '\n'; returns the status
// line's length (snprintf semantics).
DN_API int dn_format_status(char* buffer, std::size_t size, const std::uint32_t* fields) {
  daisynet::PatchStatus status;
  std::memcpy(&status, fields, sizeof status);
  const daisynet::CheckStatus check = runner.check_status(runner.active());
  const int length =
      daisynet::FormatStatusLine(buffer, size, runner.name(runner.active()), check, status);
  char check_line[daisynet::kOledLineBytes];
  daisynet::FormatOledCheckLine(check, check_line, sizeof check_line);
  daisynet::OledLines lines;
  daisynet::FormatOledLines(status, lines);
  std::size_t used = static_cast<std::size_t>(length);
  if (used + 1 < size) {
    used += static_cast<std::size_t>(std::snprintf(buffer + used, size - used, "\n%s", check_line));
  }
  for (const auto& line : lines) {
    if (used + 1 >= size) break;
    used += static_cast<std::size_t>(std::snprintf(buffer + used, size - used, "\n%s", line));
  }
  return length;
}

}  // extern "C"
