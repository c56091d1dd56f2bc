// ARM semihosting calls the emulator harnesses make directly (newlib's rdimon handles stdio and
// files; the command line it does not expose).
#pragma once

#include <cstring>

namespace daisynet::emulator {

inline int Semihost(int operation, void* argument) {
  register int r0 __asm("r0") = operation;
  register void* r1 __asm("r1") = argument;
  __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}
constexpr int kSysGetCmdline = 0x15;

// Splits the semihosting command line (QEMU's -semihosting-config arg=...) into at most
// `max_args` space-separated words; returns how many.
inline int CommandLine(char* buffer, int capacity, char** argv, int max_args) {
  struct {
    char* buffer;
    int length;
  } block = {buffer, capacity};
  if (Semihost(kSysGetCmdline, &block) != 0) return 0;
  int argc = 0;
  for (char* word = std::strtok(buffer, " "); word && argc < max_args;
       word = std::strtok(nullptr, " ")) {
    argv[argc++] = word;
  }
  return argc;
}

}  // namespace daisynet::emulator
