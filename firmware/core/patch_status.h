// What the inference app says about itself: the CPU meter and the text of the once-per-second
// USB status line and OLED lines. No model and no hardware here, so the same code is tested on
// the host and on the emulated Cortex-M7 linked with newlib-nano, as on the Daisy.
//
// Every number is an integer and printed as one: PlatformIO links the Daisy apps with
// newlib-nano without float printf, where "%f" prints nothing at all.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>

namespace daisynet {

// A model's boot self-check (self_check.h), as the app reports it: its verdict ("pass",
// "FAIL", "none"), its measured cycles per sample and the emulated instructions per sample the
// header stores for the same run.
struct CheckStatus {
  const char* verdict;
  std::uint32_t cycles_per_sample;
  std::uint32_t emulated_instructions_per_sample;
};

// One second (one status period) of audio callbacks, as the app reports it. Cycles per sample
// are a callback's cycles divided by its frames.
struct PatchStatus {
  std::uint32_t seconds;                   // since start-up
  std::uint32_t clock_hz;                  // core clock the loads are measured against
  std::uint32_t budget_cycles_per_sample;  // clock_hz / sample rate, rounded
  std::uint32_t cycles_per_sample;         // mean over the period, whole audio callback
  std::uint32_t model_cycles_per_sample;   // mean over the period, the model alone
  std::uint32_t p99_cycles_per_sample;     // 99% of the period's callbacks took at most this
  std::uint32_t max_cycles_per_sample;     // the period's slowest callback
  std::uint32_t overruns;                  // callbacks that took longer than their block lasts
  std::uint32_t callbacks;                 // callbacks in the period
  std::uint32_t non_finite;                // model outputs silenced as NaN/inf, since start-up
};

// Collects every audio callback's cycle count (interrupt) into the current period; the main
// loop ends the period once per second and gets its statistics.
//
// Single core: the interrupt fills one of two windows, chosen by `active_`; EndPeriod() flips
// `active_` with one store, then reads and clears the other window. An interrupt runs to
// completion, so it never writes a window the main loop is reading.
class CpuMeter {
 public:
  // Percentiles from a histogram of cycles per sample over 0 .. 2x the budget, in steps of
  // 1/64 of the budget (1.6%); slower callbacks share the last bin.
  static constexpr std::uint32_t kBinsPerBudget = 64;
  static constexpr std::size_t kBins = 2 * kBinsPerBudget;

  // clock_hz: the core clock (SystemCoreClock: 400 MHz on the Daisy under STM32duino);
  // sample_rate in Hz (whole).
  void Init(std::uint32_t clock_hz, std::uint32_t sample_rate) {
    clock_hz_ = clock_hz;
    sample_rate_ = sample_rate == 0 ? 1 : sample_rate;
    budget_ = static_cast<std::uint32_t>((clock_hz_ + sample_rate_ / 2) / sample_rate_);
    if (budget_ == 0) budget_ = 1;
    std::memset(windows_, 0, sizeof windows_);
    active_.store(0, std::memory_order_relaxed);
  }

  // Interrupt: one audio callback of `frames` frames took callback_cycles, model_cycles of them
  // in the model.
  void Add(std::uint32_t model_cycles, std::uint32_t callback_cycles, std::size_t frames) {
    if (frames == 0) return;
    Window& window = windows_[active_.load(std::memory_order_relaxed)];
    const auto per_sample = static_cast<std::uint32_t>(callback_cycles / frames);
    ++window.callbacks;
    window.frames += frames;
    window.cycles += callback_cycles;
    window.model_cycles += model_cycles;
    if (per_sample > window.max_per_sample) window.max_per_sample = per_sample;
    // Longer than the block lasts: cycles / clock > frames / rate, in exact integers.
    if (std::uint64_t{callback_cycles} * sample_rate_ > std::uint64_t{frames} * clock_hz_) {
      ++window.overruns;
    }
    // 32-bit arithmetic here: a 64-bit division is a library call on the Cortex-M7. Below 2^26
    // cycles per sample, per_sample * kBinsPerBudget (64) fits in 32 bits.
    const std::uint32_t bin =
        per_sample < (1u << 26) ? per_sample * kBinsPerBudget / budget_ : std::uint32_t{kBins};
    ++window.histogram[bin < kBins ? bin : kBins - 1];
  }

  // Main loop, once per status period: the statistics of the callbacks since the last call.
  PatchStatus EndPeriod(std::uint32_t seconds, std::uint32_t non_finite) {
    const std::uint8_t finished = active_.load(std::memory_order_relaxed);
    active_.store(static_cast<std::uint8_t>(finished ^ 1u), std::memory_order_release);
    Window& window = windows_[finished];
    PatchStatus status{seconds, clock_hz_, budget_, 0, 0, 0, 0, 0, 0, non_finite};
    if (window.frames > 0) {
      status.cycles_per_sample = Mean(window.cycles, window.frames);
      status.model_cycles_per_sample = Mean(window.model_cycles, window.frames);
      status.max_cycles_per_sample = window.max_per_sample;
      status.p99_cycles_per_sample = Percentile99(window);
      status.overruns = window.overruns;
      status.callbacks = window.callbacks;
    }
    std::memset(&window, 0, sizeof window);
    return status;
  }

 private:
  struct Window {
    std::uint32_t callbacks;
    std::uint32_t max_per_sample;
    std::uint32_t overruns;
    std::uint64_t frames;
    std::uint64_t cycles;
    std::uint64_t model_cycles;
    std::uint32_t histogram[kBins];
  };

  static std::uint32_t Mean(std::uint64_t total, std::uint64_t count) {
    return static_cast<std::uint32_t>((total + count / 2) / count);
  }

  // The upper edge of the bin holding the 99th-percentile callback, never above the maximum.
  std::uint32_t Percentile99(const Window& window) const {
    const std::uint64_t wanted = (std::uint64_t{window.callbacks} * 99 + 99) / 100;
    std::uint64_t seen = 0;
    for (std::size_t bin = 0; bin < kBins; ++bin) {
      seen += window.histogram[bin];
      if (seen >= wanted) {
        if (bin == kBins - 1) break;
        const std::uint64_t edge = (std::uint64_t{bin} + 1) * budget_ / kBinsPerBudget;
        return edge < window.max_per_sample ? static_cast<std::uint32_t>(edge)
                                            : window.max_per_sample;
      }
    }
    return window.max_per_sample;
  }

  std::uint32_t clock_hz_ = 0;
  std::uint32_t sample_rate_ = 0;
  std::uint32_t budget_ = 0;  // cycles per sample
  Window windows_[2] = {};
  std::atomic<std::uint8_t> active_{0};
};

namespace status_detail {

// `cycles` as a share of `budget` in percent with one decimal, in two integers:
// 4269 of 8333 -> 51 and 2.
struct Percent {
  unsigned long whole;
  unsigned long tenth;
};
inline Percent ToPercent(std::uint32_t cycles, std::uint32_t budget) {
  const std::uint64_t divisor = budget == 0 ? 1 : budget;
  const auto tenths =
      static_cast<unsigned long>((std::uint64_t{cycles} * 1000 + divisor / 2) / divisor);
  return {tenths / 10, tenths % 10};
}

inline unsigned long Mhz(std::uint32_t clock_hz) { return (clock_hz + 500000ul) / 1000000ul; }

}  // namespace status_detail

// The USB status line, e.g. "daisynet t=12s model=daisynet_wavenet clock=400MHz cpu=51.2%
// model_cpu=49.5% cycles/sample=4269 model_cycles/sample=4126 p99=4400 max=5600 overruns=0
// callbacks=1000 nonfinite=0 check=pass check_cycles/sample=812 emulated_instructions/sample=657"
// for the model playing. Returns what snprintf returns. `daisynet monitor` parses it.
inline int FormatStatusLine(char* buffer, std::size_t size, const char* model_name,
                            const CheckStatus& check, const PatchStatus& status) {
  using status_detail::ToPercent;
  const status_detail::Percent cpu =
      ToPercent(status.cycles_per_sample, status.budget_cycles_per_sample);
  const status_detail::Percent model =
      ToPercent(status.model_cycles_per_sample, status.budget_cycles_per_sample);
  return std::snprintf(
      buffer, size,
      "daisynet t=%lus model=%s clock=%luMHz cpu=%lu.%lu%% model_cpu=%lu.%lu%% "
      "cycles/sample=%lu model_cycles/sample=%lu p99=%lu max=%lu overruns=%lu callbacks=%lu "
      "nonfinite=%lu check=%s check_cycles/sample=%lu emulated_instructions/sample=%lu",
      static_cast<unsigned long>(status.seconds), model_name, status_detail::Mhz(status.clock_hz),
      cpu.whole, cpu.tenth, model.whole, model.tenth,
      static_cast<unsigned long>(status.cycles_per_sample),
      static_cast<unsigned long>(status.model_cycles_per_sample),
      static_cast<unsigned long>(status.p99_cycles_per_sample),
      static_cast<unsigned long>(status.max_cycles_per_sample),
      static_cast<unsigned long>(status.overruns), static_cast<unsigned long>(status.callbacks),
      static_cast<unsigned long>(status.non_finite), check.verdict,
      static_cast<unsigned long>(check.cycles_per_sample),
      static_cast<unsigned long>(check.emulated_instructions_per_sample));
}

// The OLED's line under the model's name: its self-check, e.g. "pass 812 cyc/smp" (FAIL: the
// model is silent; none: its header stores no reference).
inline void FormatOledCheckLine(const CheckStatus& check, char* line, std::size_t size) {
  if (std::strcmp(check.verdict, "pass") == 0) {
    std::snprintf(line, size, "pass %lu cyc/smp",
                  static_cast<unsigned long>(check.cycles_per_sample));
  } else if (std::strcmp(check.verdict, "FAIL") == 0) {
    std::snprintf(line, size, "check FAIL: silent");
  } else {
    std::snprintf(line, size, "no self-check");
  }
}

// The OLED's three lines of figures under the model name. The 6x10 font shows 21 columns on
// the 128-px display, which everyday readings fit; the buffers hold the longest possible text
// (the display clips it) so nothing is ever cut mid-number in memory.
constexpr std::size_t kOledFigureLines = 3;
constexpr std::size_t kOledLineBytes = 64;
using OledLines = char[kOledFigureLines][kOledLineBytes];

inline void FormatOledLines(const PatchStatus& status, OledLines& lines) {
  using status_detail::ToPercent;
  const status_detail::Percent cpu =
      ToPercent(status.cycles_per_sample, status.budget_cycles_per_sample);
  const status_detail::Percent model =
      ToPercent(status.model_cycles_per_sample, status.budget_cycles_per_sample);
  std::snprintf(lines[0], sizeof lines[0], "CPU %lu.%lu%% @%luMHz", cpu.whole, cpu.tenth,
                status_detail::Mhz(status.clock_hz));
  std::snprintf(lines[1], sizeof lines[1], "model %lu.%lu%% p99 %lu", model.whole, model.tenth,
                static_cast<unsigned long>(status.p99_cycles_per_sample));
  std::snprintf(lines[2], sizeof lines[2], "max %lu ovr %lu nan %lu",
                static_cast<unsigned long>(status.max_cycles_per_sample),
                static_cast<unsigned long>(status.overruns),
                static_cast<unsigned long>(status.non_finite));
}

}  // namespace daisynet
