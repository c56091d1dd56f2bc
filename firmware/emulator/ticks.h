// Counting instructions on the emulated Cortex-M7 (QEMU mps2-an500 under -icount shift=0, where
// every guest instruction advances the virtual clock by 1 ns): SysTick on the CPU clock, its
// wraps counted by the interrupt, and a loop of known length to calibrate ticks against
// instructions. Shared by the emulator harnesses; each program includes it once (it defines
// SysTick_Handler).
#pragma once

#include <cstdint>

namespace daisynet::emulator {

inline volatile std::uint32_t systick_wraps = 0;

// SysTick registers (ARMv7-M architecture reference manual, B3.3).
struct SysTickRegisters {
  volatile std::uint32_t ctrl;
  volatile std::uint32_t load;
  volatile std::uint32_t val;
  volatile std::uint32_t calib;
};
inline SysTickRegisters& systick = *reinterpret_cast<SysTickRegisters*>(0xE000E010u);
constexpr std::uint32_t kSysTickReload = 0x00FFFFFFu;  // the 24-bit maximum
constexpr std::uint32_t kSysTickEnable = 1u << 0;
constexpr std::uint32_t kSysTickInterrupt = 1u << 1;
constexpr std::uint32_t kSysTickCpuClock = 1u << 2;

inline void StartTicks() {
  systick.load = kSysTickReload;
  systick.val = 0;
  systick.ctrl = kSysTickEnable | kSysTickInterrupt | kSysTickCpuClock;
  // Writing VAL clears it to 0; the first tick reloads it. Until then it reads as a wrap.
  while (systick.val == 0) {
  }
}

// CPU-clock ticks since StartTicks(). SysTick counts down and wraps every 2^24 ticks; the
// interrupt counts wraps, and re-reading until the count is stable covers a wrap in between.
inline std::uint64_t Ticks() {
  std::uint32_t wraps;
  std::uint32_t value;
  do {
    wraps = systick_wraps;
    value = systick.val;
  } while (wraps != systick_wraps);
  return static_cast<std::uint64_t>(wraps) * (kSysTickReload + 1ull) + (kSysTickReload - value);
}

// Executes exactly 2 * iterations instructions (subs + bne per turn).
inline void CountedLoop(std::uint32_t iterations) {
  __asm volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(iterations) : : "cc");
}
inline constexpr std::uint32_t kCalibrationIterations = 1000000;

// Decimal text of a 64-bit count: newlib-nano's printf (as linked on the Daisy) has no %llu.
inline const char* Decimal(std::uint64_t value, char (&text)[21]) {
  char* end = text + sizeof(text) - 1;
  *end = '\0';
  do {
    *--end = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  return end;
}

}  // namespace daisynet::emulator

extern "C" void SysTick_Handler() {
  daisynet::emulator::systick_wraps = daisynet::emulator::systick_wraps + 1;
}
