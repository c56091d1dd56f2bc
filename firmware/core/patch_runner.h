// The Daisy Patch inference app without the hardware: a bank of models (bank_slot.h), each
// self-checked at start-up (self_check.h; a model that fails stays silent), one heard at a
// time, each input fed from the jack or knob its name says (patch_wiring.h), switches
// crossfaded (bank_player.h). firmware/inference/main.cpp only moves plain arrays between
// DaisyDuino and this class, so everything here is compiled and tested on the host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "bank_player.h"
#include "bank_slot.h"
#include "patch_status.h"
#include "patch_wiring.h"
#include "self_check.h"

namespace daisynet {

// Why a bank cannot play on the Patch (PatchRunner::Init); `daisynet flash` refuses such a
// bank before building, so on a Daisy these only follow a hand-made build.
enum class BankProblem : std::uint8_t {
  kNone,
  kEmpty,
  kTooManyInputs,  // more than daisynet_bank::kMaxSlotInputs
  kUnwiredInput,   // an input name the Patch cannot feed
  kInputsDiffer,   // a model whose input names differ from the first model's
  kNotOneOutput,   // the app plays one output on audio out 1
  kWrongRate,      // a model trained at another sample rate than the Patch runs
  kTooManyModels,  // more than daisynet_bank::kMaxSlots
};

inline const char* BankProblemText(BankProblem problem) {
  switch (problem) {
    case BankProblem::kNone: return "ok";
    case BankProblem::kEmpty: return "no models";
    case BankProblem::kTooManyInputs: return "too many inputs";
    case BankProblem::kUnwiredInput: return "input not on Patch";
    case BankProblem::kInputsDiffer: return "inputs differ";
    case BankProblem::kNotOneOutput: return "not one output";
    case BankProblem::kWrongRate: return "wrong sample rate";
    case BankProblem::kTooManyModels: return "too many models";
  }
  return "?";
}

template <std::size_t kMaxBlock>
class PatchRunner {
 public:
  // A switch crossfades over 10 ms at 48 kHz: quick enough to feel immediate, long enough that
  // the step between two models' outputs becomes a fade rather than a click.
  static constexpr std::size_t kFadeFrames = 480;

  // `slots` (count of them) stay the caller's; sample_rate: the Patch's, Hz. Runs every
  // model's self-check, timed with `cycles()` (a free-running 32-bit cycle count: DWT->CYCCNT
  // on the Daisy), and mutes those that fail. On a problem nothing plays: Process writes
  // silence.
  template <typename CycleCounter>
  BankProblem Init(const daisynet_bank::Slot* const* slots, std::size_t count,
                   float sample_rate, CycleCounter&& cycles) {
    problem_ = Check(slots, count, sample_rate);
    controls_used_ = 0;
    morph_control_ = -1;
    if (problem_ != BankProblem::kNone) return problem_;
    inputs_ = slots[0]->num_inputs;
    for (std::size_t i = 0; i < inputs_; ++i) {
      wiring_[i] = WiringFor(slots[0]->input_names[i]);
      if (wiring_[i].source == InputSource::kControl) controls_used_ |= 1u << wiring_[i].index;
    }
    slots_ = slots;
    count_ = count;
    player_.Init(slots, count, kFadeFrames);
    for (std::size_t s = 0; s < count; ++s) {
      checks_[s] = daisynet_bank::RunSelfCheck(*slots[s], cycles);
      if (checks_[s].verdict == daisynet_bank::CheckVerdict::kFail) player_.Mute(s);
    }
    return problem_;
  }

  // Morphing (bank_player.h): control `control` (0..3, one no model input reads) blends the
  // selected model with the next one of the bank, from 0 (the selected) to 1 (the next); -1
  // turns it off. False for a control out of range, one the models read, or a bank of one.
  bool SetMorph(int control) {
    if (control < 0) {
      morph_control_ = -1;
      player_.SetMorph(false);
      return true;
    }
    if (problem_ != BankProblem::kNone || count_ < 2 ||
        control >= static_cast<int>(kPatchControls) || ((controls_used_ >> control) & 1u)) {
      return false;
    }
    morph_control_ = control;
    player_.SetMorph(true);
    return true;
  }
  int morph_control() const { return morph_control_; }
  // The model blended with slot `slot` while morphing.
  std::size_t neighbour(std::size_t slot) const { return player_.neighbour(slot); }

  // Slot `slot`'s self-check, as the status line and OLED report it.
  const daisynet_bank::CheckResult& check(std::size_t slot) const { return checks_[slot]; }
  CheckStatus check_status(std::size_t slot) const {
    return {daisynet_bank::CheckVerdictText(checks_[slot].verdict),
            checks_[slot].cycles_per_sample, slots_[slot]->check_instructions_per_sample};
  }

  BankProblem problem() const { return problem_; }
  std::size_t size() const { return problem_ == BankProblem::kNone ? count_ : 0; }
  const char* name(std::size_t slot) const { return slots_[slot]->name; }

  // Asks for `slot` from the next block (after a fade in progress); false if there is none.
  bool Select(std::size_t slot) { return problem_ == BankProblem::kNone && player_.Select(slot); }
  // The slot asked for last, and the one heard (the new one from the start of its fade).
  std::size_t requested() const { return player_.requested(); }
  std::size_t active() const { return player_.active(); }

  // audio_in[j][i]: frame i of audio input j (4 jacks); controls[c]: control c (0..1) for this
  // audio block. Writes `frames` outputs to out; longer blocks than kMaxBlock are split.
  void Process(const float* const* audio_in, const float* controls, float* out,
               std::size_t frames) {
    if (problem_ != BankProblem::kNone) {
      std::memset(out, 0, frames * sizeof(float));
      return;
    }
    for (std::size_t done = 0; done < frames; done += kMaxBlock) {
      const std::size_t count = frames - done < kMaxBlock ? frames - done : kMaxBlock;
      for (std::size_t c = 0; c < kPatchControls; ++c) {
        if ((controls_used_ >> c) & 1u) {
          for (std::size_t f = 0; f < count; ++f) held_controls_[c][f] = controls[c];
        }
      }
      if (morph_control_ >= 0) player_.SetMorphShare(controls[morph_control_]);
      const float* channels[daisynet_bank::kMaxSlotInputs];
      for (std::size_t i = 0; i < inputs_; ++i) {
        channels[i] = wiring_[i].source == InputSource::kAudio ? audio_in[wiring_[i].index] + done
                                                               : held_controls_[wiring_[i].index];
      }
      player_.Process(channels, out + done, count);
    }
  }

  // The inference app's audio callback, from the knob values on: the model on out[0], the dry
  // input 1 on out[1], silence on out[2..3]. `cycles()` reads a free-running 32-bit count of
  // core cycles (DWT->CYCCNT on the Daisy); the callback's and the model's cycles go to `meter`.
  template <typename CycleCounter>
  void RunCallback(const float* const* audio_in, float* const* out, const float* controls,
                   std::size_t frames, CycleCounter&& cycles, CpuMeter& meter) {
    const std::uint32_t start = cycles();
    const std::uint32_t model_start = cycles();
    Process(audio_in, controls, out[0], frames);
    const std::uint32_t model_cycles = cycles() - model_start;
    for (std::size_t i = 0; i < frames; ++i) {
      out[1][i] = audio_in[0][i];
      out[2][i] = 0.0f;
      out[3][i] = 0.0f;
    }
    meter.Add(model_cycles, cycles() - start, frames);
  }

  // Outputs silenced as NaN/inf by every model since start-up (a switch's reset clears the
  // count of the model switched to).
  std::uint32_t non_finite_outputs() const {
    std::uint32_t total = 0;
    for (std::size_t s = 0; s < size(); ++s) total += slots_[s]->non_finite_outputs();
    return total;
  }

 private:
  static BankProblem Check(const daisynet_bank::Slot* const* slots, std::size_t count,
                           float sample_rate) {
    if (count == 0) return BankProblem::kEmpty;
    if (count > daisynet_bank::kMaxSlots) return BankProblem::kTooManyModels;
    const daisynet_bank::Slot& first = *slots[0];
    if (first.num_inputs > daisynet_bank::kMaxSlotInputs) return BankProblem::kTooManyInputs;
    for (std::size_t i = 0; i < first.num_inputs; ++i) {
      if (WiringFor(first.input_names[i]).source == InputSource::kUnknown) {
        return BankProblem::kUnwiredInput;
      }
    }
    for (std::size_t s = 0; s < count; ++s) {
      if (slots[s]->num_outputs != 1) return BankProblem::kNotOneOutput;
      if (slots[s]->sample_rate != sample_rate) return BankProblem::kWrongRate;
      if (slots[s]->num_inputs != first.num_inputs) return BankProblem::kInputsDiffer;
      for (std::size_t i = 0; i < first.num_inputs; ++i) {
        if (std::strcmp(slots[s]->input_names[i], first.input_names[i]) != 0) {
          return BankProblem::kInputsDiffer;
        }
      }
    }
    return BankProblem::kNone;
  }

  daisynet_bank::Player<kMaxBlock, 1> player_;
  daisynet_bank::CheckResult checks_[daisynet_bank::kMaxSlots] = {};
  const daisynet_bank::Slot* const* slots_ = nullptr;
  std::size_t count_ = 0;
  std::size_t inputs_ = 0;
  BankProblem problem_ = BankProblem::kEmpty;
  std::uint32_t controls_used_ = 0;  // bit c: some input reads control c
  int morph_control_ = -1;           // the control that blends neighbours, -1: none
  InputWiring wiring_[daisynet_bank::kMaxSlotInputs] = {};
  // Each used control's value repeated over the block.
  float held_controls_[kPatchControls][kMaxBlock] = {};
};

}  // namespace daisynet
