// Prints the inference app's USB status line and OLED lines (firmware/core/patch_status.h) on
// the emulated Cortex-M7, linked with newlib-nano like the Daisy apps, so a test sees exactly
// the text the Daisy would show. Driven by host_sim/m7.py (status_text_on_m7).
//
// Command line: status_harness NAME followed by the ten PatchStatus fields in declaration
// order, as whole numbers. Prints "daisynet-status LINE", then "daisynet-oled LINE" for each
// OLED line.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "patch_status.h"
#include "semihosting.h"

extern "C" void SysTick_Handler() {}  // start-up's vector table names it; never enabled here

int main() {
  constexpr int kFields = sizeof(daisynet::PatchStatus) / sizeof(std::uint32_t);
  constexpr int kArgs = 2 + kFields;
  char line[512];
  char* argv[kArgs];
  if (daisynet::emulator::CommandLine(line, sizeof line, argv, kArgs) != kArgs) {
    std::printf("daisynet-status error: usage: status_harness NAME and %d PatchStatus fields\n",
                kFields);
    return 2;
  }
  std::uint32_t fields[kFields];
  for (int i = 0; i < kFields; ++i) {
    fields[i] = static_cast<std::uint32_t>(std::strtoul(argv[2 + i], nullptr, 10));
  }
  daisynet::PatchStatus status;
  std::memcpy(&status, fields, sizeof status);
  char status_line[320];
  daisynet::FormatStatusLine(status_line, sizeof status_line, argv[1], status);
  std::printf("daisynet-status %s\n", status_line);
  daisynet::OledLines oled;
  daisynet::FormatOledLines(status, oled);
  for (const auto& text : oled) std::printf("daisynet-oled %s\n", text);
  return 0;
}
