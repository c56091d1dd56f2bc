// What the inference app says about itself: the CPU meter and the text of the once-per-second
// USB status line and OLED lines. No model and no hardware here, so the same code is tested on
// the host and on the emulated Cortex-M7 linked with newlib-nano, as on the Daisy.
//
// Every number is printed from integers: PlatformIO links the Daisy apps with newlib-nano
// without float printf, where "%f" prints nothing at all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>

namespace daisynet {

// What the app reports once per second over USB serial and on the OLED.
struct PatchStatus {
  std::uint32_t seconds;             // since start-up
  std::uint32_t clock_hz;            // core clock the loads are measured against
  float load;                        // smoothed share of the cycle budget the audio callback takes
  float model_load;                  // the same for the model alone (1.0 = the whole budget)
  float cycles_per_sample;           // audio callback, smoothed
  float model_cycles_per_sample;     // model alone, smoothed
  float peak_cycles_per_sample;      // worst audio callback since start-up
  std::uint32_t non_finite;          // model outputs silenced because they were NaN/inf
};

// Processor load from the cycles each audio callback took, and the model's share of them.
class CpuMeter {
 public:
  // clock_hz: the core clock (SystemCoreClock: 400 MHz on the Daisy under STM32duino);
  // sample_rate in Hz. The budget is clock_hz / sample_rate cycles per sample.
  void Init(std::uint32_t clock_hz, float sample_rate) {
    clock_hz_ = clock_hz;
    budget_cycles_per_sample_ = static_cast<float>(clock_hz) / sample_rate;
    cycles_per_sample_ = 0.0f;
    model_cycles_per_sample_ = 0.0f;
    peak_cycles_per_sample_ = 0.0f;
  }

  // One audio callback of `frames` frames took callback_cycles, model_cycles of them in the model.
  void Add(std::uint32_t model_cycles, std::uint32_t callback_cycles, std::size_t frames) {
    const float scale = 1.0f / static_cast<float>(frames);
    const float per_sample = static_cast<float>(callback_cycles) * scale;
    // One-pole smoothing over about 100 callbacks (0.1 s at 48 frames, 48 kHz).
    cycles_per_sample_ += kSmoothing * (per_sample - cycles_per_sample_);
    model_cycles_per_sample_ +=
        kSmoothing * (static_cast<float>(model_cycles) * scale - model_cycles_per_sample_);
    if (per_sample > peak_cycles_per_sample_) peak_cycles_per_sample_ = per_sample;
  }

  float cycles_per_sample() const { return cycles_per_sample_; }
  float model_cycles_per_sample() const { return model_cycles_per_sample_; }
  float peak_cycles_per_sample() const { return peak_cycles_per_sample_; }
  float budget_cycles_per_sample() const { return budget_cycles_per_sample_; }
  float load() const { return cycles_per_sample_ / budget_cycles_per_sample_; }
  float model_load() const { return model_cycles_per_sample_ / budget_cycles_per_sample_; }

  PatchStatus Status(std::uint32_t seconds, std::uint32_t non_finite) const {
    return {seconds,           clock_hz_,          load(), model_load(), cycles_per_sample_,
            model_cycles_per_sample_, peak_cycles_per_sample_, non_finite};
  }

 private:
  static constexpr float kSmoothing = 0.01f;
  std::uint32_t clock_hz_ = 0;
  float budget_cycles_per_sample_ = 1.0f;
  float cycles_per_sample_ = 0.0f;
  float model_cycles_per_sample_ = 0.0f;
  float peak_cycles_per_sample_ = 0.0f;
};

namespace status_detail {

// x rounded to the nearest whole number; 0 for negative or NaN, capped at 4e9 (fits 32 bits).
inline unsigned long Round(float x) {
  if (!(x > 0.0f)) return 0;
  return x >= 4.0e9f ? 4000000000ul : static_cast<unsigned long>(x + 0.5f);
}

// A fraction as a percentage with one decimal, in two integers: 0.5123 -> 51 and 2.
struct Percent {
  unsigned long whole;
  unsigned long tenth;
};
inline Percent ToPercent(float fraction) {
  const unsigned long tenths = Round(1000.0f * fraction);
  return {tenths / 10, tenths % 10};
}

}  // namespace status_detail

// The USB status line, e.g. "daisynet t=12s model=daisynet_wavenet clock=400MHz cpu=53.0%
// model_cpu=51.2% cycles/sample=4420 model_cycles/sample=4267 peak=4600 nonfinite=0".
// Returns what snprintf returns.
inline int FormatStatusLine(char* buffer, std::size_t size, const char* model_name,
                            const PatchStatus& status) {
  using status_detail::Round;
  const status_detail::Percent cpu = status_detail::ToPercent(status.load);
  const status_detail::Percent model = status_detail::ToPercent(status.model_load);
  return std::snprintf(
      buffer, size,
      "daisynet t=%lus model=%s clock=%luMHz cpu=%lu.%lu%% model_cpu=%lu.%lu%% "
      "cycles/sample=%lu model_cycles/sample=%lu peak=%lu nonfinite=%lu",
      static_cast<unsigned long>(status.seconds), model_name,
      static_cast<unsigned long>((status.clock_hz + 500000u) / 1000000u), cpu.whole, cpu.tenth,
      model.whole, model.tenth, Round(status.cycles_per_sample),
      Round(status.model_cycles_per_sample), Round(status.peak_cycles_per_sample),
      static_cast<unsigned long>(status.non_finite));
}

// The OLED's three lines of figures under the model name. The 6x10 font shows 21 columns on
// the 128-px display, which everyday readings fit; the buffers hold the longest possible text
// (the display clips it) so nothing is ever cut mid-number in memory.
constexpr std::size_t kOledFigureLines = 3;
constexpr std::size_t kOledLineBytes = 64;
using OledLines = char[kOledFigureLines][kOledLineBytes];

inline void FormatOledLines(const PatchStatus& status, OledLines& lines) {
  using status_detail::Round;
  const status_detail::Percent cpu = status_detail::ToPercent(status.load);
  const status_detail::Percent model = status_detail::ToPercent(status.model_load);
  std::snprintf(lines[0], sizeof lines[0], "CPU %lu.%lu%% @%luMHz", cpu.whole, cpu.tenth,
                static_cast<unsigned long>((status.clock_hz + 500000u) / 1000000u));
  std::snprintf(lines[1], sizeof lines[1], "model %lu.%lu%% %lu cyc", model.whole, model.tenth,
                Round(status.model_cycles_per_sample));
  if (status.non_finite == 0) {
    std::snprintf(lines[2], sizeof lines[2], "peak %lu cyc/sample",
                  Round(status.peak_cycles_per_sample));
  } else {
    std::snprintf(lines[2], sizeof lines[2], "peak %lu NaN:%lu", Round(status.peak_cycles_per_sample),
                  static_cast<unsigned long>(status.non_finite));
  }
}

}  // namespace daisynet
