// Prints the inference app's USB status line and OLED lines (firmware/core/patch_status.h) on
// the emulated Cortex-M7, linked with newlib-nano like the Daisy apps, so a test sees exactly
// the text the Daisy would show. Driven by host_sim/m7.py (status_text_on_m7).
//
// Command line: status_harness NAME SECONDS CLOCK_HZ LOAD MODEL_LOAD CYCLES MODEL_CYCLES PEAK
// NONFINITE, where the five float readings are given as their IEEE-754 bit patterns in hex
// (parsing decimal floats would itself depend on the C library being tested).
// Prints "daisynet-status LINE", then "daisynet-oled LINE" for each OLED line.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "patch_status.h"
#include "semihosting.h"

namespace {

float FloatFromBits(const char* hex) {
  const auto bits = static_cast<std::uint32_t>(std::strtoul(hex, nullptr, 16));
  float value;
  std::memcpy(&value, &bits, sizeof value);
  return value;
}

}  // namespace

extern "C" void SysTick_Handler() {}  // start-up's vector table names it; never enabled here

int main() {
  constexpr int kArgs = 10;
  char line[512];
  char* argv[kArgs];
  if (daisynet::emulator::CommandLine(line, sizeof line, argv, kArgs) != kArgs) {
    std::printf("daisynet-status error: usage: status_harness NAME SECONDS CLOCK_HZ LOAD "
                "MODEL_LOAD CYCLES MODEL_CYCLES PEAK NONFINITE\n");
    return 2;
  }
  const daisynet::PatchStatus status{
      static_cast<std::uint32_t>(std::strtoul(argv[2], nullptr, 10)),
      static_cast<std::uint32_t>(std::strtoul(argv[3], nullptr, 10)),
      FloatFromBits(argv[4]),
      FloatFromBits(argv[5]),
      FloatFromBits(argv[6]),
      FloatFromBits(argv[7]),
      FloatFromBits(argv[8]),
      static_cast<std::uint32_t>(std::strtoul(argv[9], nullptr, 10))};
  char status_line[256];
  daisynet::FormatStatusLine(status_line, sizeof status_line, argv[1], status);
  std::printf("daisynet-status %s\n", status_line);
  daisynet::OledLines oled;
  daisynet::FormatOledLines(status, oled);
  for (const auto& text : oled) std::printf("daisynet-oled %s\n", text);
  return 0;
}
