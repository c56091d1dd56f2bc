// The GRU engines' fast activations (firmware/core/gru_activations.h) on the emulated
// Cortex-M7, built with the Daisy's flags, so tests can hold them bit for bit to
// host_sim/activations.py there too. Driven by host_sim/m7.py (activations_on_m7).
//
// Command line: activations_harness INPUT OUTPUT COUNT. INPUT holds COUNT float32; OUTPUT gets
// FastTanh of each, then FastSigmoid of each. Prints "daisynet-activations count=COUNT".
#include <cstddef>
#include <cstdio>
#include <cstdlib>

#include "gru_activations.h"
#include "semihosting.h"

extern "C" void SysTick_Handler() {}  // start-up's vector table names it; never enabled here

// Out of line, so each is one function to read in the disassembly (its instruction count).
__attribute__((noinline)) float Tanh(float x) { return daisynet::gru::FastTanh(x); }
__attribute__((noinline)) float Sigmoid(float x) { return daisynet::gru::FastSigmoid(x); }

int main() {
  char line[512];
  char* argv[4];
  if (daisynet::emulator::CommandLine(line, sizeof line, argv, 4) != 4) {
    std::printf("daisynet-activations error: usage: activations_harness INPUT OUTPUT COUNT\n");
    return 2;
  }
  const std::size_t count = std::strtoul(argv[3], nullptr, 10);
  auto* values = static_cast<float*>(std::malloc(3 * count * sizeof(float)));
  if (!values) return 2;
  std::FILE* in = std::fopen(argv[1], "rb");
  if (!in || std::fread(values, sizeof(float), count, in) != count) return 2;
  std::fclose(in);
  for (std::size_t i = 0; i < count; ++i) {
    values[count + i] = Tanh(values[i]);
    values[2 * count + i] = Sigmoid(values[i]);
  }
  std::FILE* out = std::fopen(argv[2], "wb");
  if (!out || std::fwrite(values + count, sizeof(float), 2 * count, out) != 2 * count) return 2;
  std::fclose(out);
  std::printf("daisynet-activations count=%lu\n", static_cast<unsigned long>(count));
  return 0;
}
