// The inference app's core (firmware/core/patch_runner.h) over a model bank on the emulated
// Cortex-M7: the model part of the audio callback, block after block of 48 frames, with one
// encoder switch and, if asked, morphing; every block timed with SysTick. Linked with a bank's
// slot objects by host_sim/m7.py (build_bank_firmware; M7Bank.play).
//
// Command line: patch_harness BLOCKS SWITCH_BLOCK SWITCH_TO MORPH_CONTROL
//   the encoder selects slot SWITCH_TO before block SWITCH_BLOCK; MORPH_CONTROL 0..3 morphs
//   with that control held at 0.5 (-1: no morphing). Audio in 1 is the self-check's noise
//   (-1..1), knobs 1..3 are held at 0.3, 0.8, 0.1.
// Prints "daisynet-m7-patch problem=N blocks=N max_block_ticks=N total_ticks=N
// calibration_ticks=N calibration_instructions=N".
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "bank_slots.h"
#include "patch_runner.h"
#include "semihosting.h"
#include "ticks.h"

namespace {

using namespace daisynet::emulator;

constexpr std::size_t kBlock = 48;  // DaisyDuino's default audio block, as the app's
daisynet::PatchRunner<kBlock> runner;
float jacks[daisynet::kPatchAudioInputs][kBlock];
float out[kBlock];

int Fail(const char* message) {
  std::printf("daisynet-m7-patch error: %s\n", message);
  return 2;
}

}  // namespace

int main() {
  char line[256];
  char* argv[5];
  if (CommandLine(line, sizeof line, argv, 5) != 5) {
    return Fail("usage: patch_harness BLOCKS SWITCH_BLOCK SWITCH_TO MORPH_CONTROL");
  }
  const std::size_t blocks = std::strtoul(argv[1], nullptr, 10);
  const std::size_t switch_block = std::strtoul(argv[2], nullptr, 10);
  const std::size_t switch_to = std::strtoul(argv[3], nullptr, 10);
  const int morph = std::atoi(argv[4]);
  const daisynet::BankProblem problem = runner.Init(
      daisynet_bank::kSlots, daisynet_bank::kBankSize, 48000.0f, [] { return std::uint32_t{0}; });
  if (problem == daisynet::BankProblem::kNone && morph >= 0 && !runner.SetMorph(morph)) {
    return Fail("the runner refused MORPH_CONTROL");
  }
  const float controls[daisynet::kPatchControls] = {0.3f, 0.8f, 0.1f, 0.5f};
  const float* inputs[daisynet::kPatchAudioInputs] = {jacks[0], jacks[1], jacks[2], jacks[3]};
  std::uint32_t state = daisynet_bank::kCheckSeed;

  StartTicks();
  const std::uint64_t calibration_start = Ticks();
  CountedLoop(kCalibrationIterations);
  const std::uint64_t calibration_ticks = Ticks() - calibration_start;
  std::uint64_t total = 0;
  std::uint64_t slowest = 0;
  for (std::size_t block = 0; block < blocks; ++block) {
    for (std::size_t f = 0; f < kBlock; ++f) {
      state = daisynet_bank::CheckNext(state);
      jacks[0][f] = daisynet_bank::CheckValue(state, true);
    }
    if (block == switch_block && !runner.Select(switch_to)) return Fail("no such SWITCH_TO");
    const std::uint64_t start = Ticks();
    runner.Process(inputs, controls, out, kBlock);
    const std::uint64_t ticks = Ticks() - start;
    total += ticks;
    if (ticks > slowest) slowest = ticks;
  }
  char slowest_text[21];
  char total_text[21];
  char calibration_text[21];
  std::printf("daisynet-m7-patch problem=%d blocks=%lu max_block_ticks=%s total_ticks=%s "
              "calibration_ticks=%s calibration_instructions=%lu\n",
              static_cast<int>(problem), static_cast<unsigned long>(blocks),
              Decimal(slowest, slowest_text), Decimal(total, total_text),
              Decimal(calibration_ticks, calibration_text),
              static_cast<unsigned long>(2 * kCalibrationIterations));
  return 0;
}
