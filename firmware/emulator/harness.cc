// Runs the firmware inference core on QEMU's emulated Cortex-M7 (mps2-an500) and reports what
// it costs. Driven by host_sim/m7.py; I/O goes through ARM semihosting to the host's files.
//
// Command line (semihosting SYS_GET_CMDLINE): harness INPUT OUTPUT BLOCK FRAMES SLOT
//   INPUT   FRAMES x kNumInputs float32, channel-major (all of input 0, then input 1, ...)
//   OUTPUT  written as FRAMES x kNumOutputs float32, frame-major
//   BLOCK   frames per Process() call, 1..kMaxBlock, as the Daisy's audio block
//   SLOT    the bank's model to run (0 in an image of one model)
// or: harness --self-check SLOT, the slot's boot self-check (a bank's image only), which
// prints "daisynet-m7-check verdict=N check_ticks=... max_error_bits=0x..." instead.
// The whole input is read into RAM first, so the timed loop holds only Process() calls.
// Time is counted with SysTick on the CPU clock: under `qemu -icount shift=0` every guest
// instruction advances the virtual clock by 1 ns, so ticks convert exactly to instructions.
// A calibration loop of known length measures that conversion on every run.
// Last line printed: "daisynet-m7 key=value ..." for the host to parse.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "engine_unit.h"
#include "semihosting.h"
#include "ticks.h"

namespace {

using namespace daisynet::emulator;

volatile std::uint32_t allocations = 0;

int Fail(const char* message) {
  std::printf("daisynet-m7 error: %s\n", message);
  return 2;
}

}  // namespace

extern "C" {

// Every allocator entry point is wrapped at link time; the count proves the audio path
// allocates nothing (reading files before the timed loop does allocate, so only the loop counts).
void* __real_malloc(std::size_t size);
void* __real_calloc(std::size_t count, std::size_t size);
void* __real_realloc(void* pointer, std::size_t size);
void* __wrap_malloc(std::size_t size) {
  allocations = allocations + 1;
  return __real_malloc(size);
}
void* __wrap_calloc(std::size_t count, std::size_t size) {
  allocations = allocations + 1;
  return __real_calloc(count, size);
}
void* __wrap_realloc(void* pointer, std::size_t size) {
  allocations = allocations + 1;
  return __real_realloc(pointer, size);
}
}

namespace {

std::uint32_t TicksLow() { return static_cast<std::uint32_t>(Ticks()); }

// The slot's self-check with SysTick ticks as its cycle count; the calibration loop gives the
// host the ticks per instruction, as for a run.
int SelfCheck(std::size_t slot) {
  if (!EngineSelect(slot)) return Fail("no such SLOT");
  EngineInit();
  StartTicks();
  const std::uint64_t calibration_start = Ticks();
  CountedLoop(kCalibrationIterations);
  const std::uint64_t calibration_ticks = Ticks() - calibration_start;
  int verdict = 0;
  std::uint32_t ticks_per_sample = 0;
  float max_error = 0.0f;
  if (!EngineSelfCheck(TicksLow, &verdict, &ticks_per_sample, &max_error)) {
    return Fail("an image of one model has no self-check: build a bank");
  }
  std::uint32_t error_bits;
  std::memcpy(&error_bits, &max_error, sizeof error_bits);  // newlib-nano prints no floats
  char calibration_text[21];
  std::printf("daisynet-m7-check verdict=%d ticks_per_sample=%lu calibration_ticks=%s "
              "calibration_instructions=%lu max_error_bits=%lu\n",
              verdict, static_cast<unsigned long>(ticks_per_sample),
              Decimal(calibration_ticks, calibration_text),
              static_cast<unsigned long>(2 * kCalibrationIterations),
              static_cast<unsigned long>(error_bits));
  return 0;
}

}  // namespace

int main() {
  char line[512];
  char* argv[6];
  const int words = CommandLine(line, sizeof(line), argv, 6);
  if (words == 3 && std::strcmp(argv[1], "--self-check") == 0) {
    return SelfCheck(std::strtoul(argv[2], nullptr, 10));
  }
  if (words != 6) return Fail("usage: harness INPUT OUTPUT BLOCK FRAMES SLOT");
  const std::size_t block = std::strtoul(argv[3], nullptr, 10);
  const std::size_t frames = std::strtoul(argv[4], nullptr, 10);
  if (block < 1 || block > kMaxBlock) return Fail("BLOCK must be 1..64");
  if (!EngineSelect(std::strtoul(argv[5], nullptr, 10))) return Fail("no such SLOT");
  const std::size_t inputs = EngineInputs();
  const std::size_t outputs = EngineOutputs();
  auto* input = static_cast<float*>(std::malloc(frames * inputs * sizeof(float)));
  auto* output = static_cast<float*>(std::malloc(frames * outputs * sizeof(float)));
  if (!input || !output) return Fail("input too long for the emulated RAM");
  std::FILE* in_file = std::fopen(argv[1], "rb");
  if (!in_file) return Fail("cannot open INPUT");
  const std::size_t got = std::fread(input, sizeof(float), frames * inputs, in_file);
  std::fclose(in_file);
  if (got != frames * inputs) return Fail("INPUT is shorter than FRAMES");

  EngineInit();
  StartTicks();
  const std::uint64_t calibration_start = Ticks();
  CountedLoop(kCalibrationIterations);
  const std::uint64_t calibration_ticks = Ticks() - calibration_start;

  const std::uint32_t allocations_before = allocations;
  const std::uint64_t start = Ticks();
  for (std::size_t done = 0; done < frames; done += block) {
    const std::size_t count = frames - done < block ? frames - done : block;
    EngineProcessPlanar(input, frames, done, output + done * outputs, count);
  }
  const std::uint64_t process_ticks = Ticks() - start;
  const std::uint32_t audio_path_allocations = allocations - allocations_before;

  std::FILE* out_file = std::fopen(argv[2], "wb");
  if (!out_file) return Fail("cannot open OUTPUT");
  const std::size_t put = std::fwrite(output, sizeof(float), frames * outputs, out_file);
  std::fclose(out_file);
  if (put != frames * outputs) return Fail("could not write OUTPUT");

  char process_text[21];
  char calibration_text[21];
  std::printf(
      "daisynet-m7 frames=%lu block=%lu process_ticks=%s calibration_ticks=%s "
      "calibration_instructions=%lu non_finite=%lu allocations=%lu engine_bytes=%lu\n",
      static_cast<unsigned long>(frames), static_cast<unsigned long>(block),
      Decimal(process_ticks, process_text), Decimal(calibration_ticks, calibration_text),
      static_cast<unsigned long>(2 * kCalibrationIterations),
      static_cast<unsigned long>(EngineNonFiniteOutputs()),
      static_cast<unsigned long>(audio_path_allocations),
      static_cast<unsigned long>(EngineBytes()));
  return 0;
}
