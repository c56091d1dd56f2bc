// Prints the inference app's USB status line and OLED lines (firmware/core/patch_status.h) on
// the emulated Cortex-M7, linked with newlib-nano like the Daisy apps, so a test sees exactly
// the text the Daisy would show. Driven by host_sim/m7.py (status_text_on_m7).
//
// Command line: status_harness NAME VERDICT CHECK_CYCLES EMULATED_INSTRUCTIONS (a self-check,
// patch_status.h CheckStatus) followed by the ten PatchStatus fields in declaration order, as
// whole numbers. Prints "daisynet-status LINE", then "daisynet-oled LINE" for the OLED's
// self-check line and each figure line.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "patch_status.h"
#include "semihosting.h"

extern "C" void SysTick_Handler() {}  // start-up's vector table names it; never enabled here

int main() {
  constexpr int kFields = sizeof(daisynet::PatchStatus) / sizeof(std::uint32_t);
  constexpr int kCheckArgs = 3;
  constexpr int kArgs = 2 + kCheckArgs + kFields;
  char line[512];
  char* argv[kArgs];
  if (daisynet::emulator::CommandLine(line, sizeof line, argv, kArgs) != kArgs) {
    std::printf("daisynet-status error: usage: status_harness NAME VERDICT CYCLES EMULATED and "
                "%d PatchStatus fields\n", kFields);
    return 2;
  }
  std::uint32_t fields[kFields];
  for (int i = 0; i < kFields; ++i) {
    fields[i] = static_cast<std::uint32_t>(std::strtoul(argv[2 + kCheckArgs + i], nullptr, 10));
  }
  daisynet::PatchStatus status;
  std::memcpy(&status, fields, sizeof status);
  char status_line[400];
  const daisynet::CheckStatus check{
      argv[2], static_cast<std::uint32_t>(std::strtoul(argv[3], nullptr, 10)),
      static_cast<std::uint32_t>(std::strtoul(argv[4], nullptr, 10))};
  daisynet::FormatStatusLine(status_line, sizeof status_line, argv[1], check, status);
  std::printf("daisynet-status %s\n", status_line);
  char check_line[daisynet::kOledLineBytes];
  daisynet::FormatOledCheckLine(check, check_line, sizeof check_line);
  std::printf("daisynet-oled %s\n", check_line);
  daisynet::OledLines oled;
  daisynet::FormatOledLines(status, oled);
  for (const auto& text : oled) std::printf("daisynet-oled %s\n", text);
  return 0;
}
