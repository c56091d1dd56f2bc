// Plays a model bank (bank_slot.h) one slot at a time. Selecting another slot takes effect at
// the next Process(): the new slot starts from silence (Reset) and the output crossfades
// linearly from the old slot's to the new one's over the fade, both running meanwhile, so a
// switch never jumps; a selection made during a fade waits for its end. No heap: the old
// slot's output goes to a buffer held in the object, kMaxFrames at a time. Select() may run in
// the main loop while Process() runs in the audio interrupt (single core): the two share only
// word-sized atomics. A muted slot (one that failed its self-check) is not run: it plays
// silence, and fades to and from it fade to and from silence.
//
// Morphing (SetMorph): the selected slot and the next one (wrapping) both run all the time
// and the output blends them, share 0 (the selected) .. 1 (the next), set per call and reached
// linearly over it. A switch then dips instead of crossfading: the blend fades to silence over
// half the fade, the new pair starts from silence and fades in over the other half, so no more
// than two slots ever run.
#pragma once

#include <atomic>
#include <cstddef>

#include "bank_slot.h"

namespace daisynet_bank {

template <std::size_t kMaxFrames, std::size_t kMaxOutputs>
class Player {
 public:
  // `slots` (count of them, all with the same inputs and outputs, at most kMaxOutputs) stay
  // the caller's; every slot is initialised and slot 0 plays. False, and nothing plays, when
  // the slots differ or there are none.
  bool Init(const Slot* const* slots, std::size_t count, std::size_t fade_frames) {
    slots_ = nullptr;
    if (count == 0 || count > kMaxSlots || fade_frames == 0 ||
        slots[0]->num_outputs > kMaxOutputs ||
        slots[0]->num_inputs > kMaxSlotInputs) {
      return false;
    }
    for (std::size_t i = 1; i < count; ++i) {
      if (slots[i]->num_inputs != slots[0]->num_inputs ||
          slots[i]->num_outputs != slots[0]->num_outputs) {
        return false;
      }
    }
    for (std::size_t i = 0; i < count; ++i) slots[i]->init();
    slots_ = slots;
    count_ = count;
    fade_frames_ = fade_frames;
    previous_ = 0;
    active_.store(0, std::memory_order_relaxed);
    requested_.store(0, std::memory_order_relaxed);
    fade_done_ = fade_frames;
    for (bool& muted : muted_) muted = false;
    morph_ = false;
    share_ = share_target_ = 0.0f;
    dip_ = Dip::kNone;
    dip_done_ = 0;
    return true;
  }

  // Morph, or not, from the next Process() on (Init turns it off). Turning it off mid-dip
  // lets the switch finish as a crossfade from silence.
  void SetMorph(bool morph) {
    morph_ = morph;
    dip_ = Dip::kNone;
  }
  bool morphing() const { return morph_; }
  // The next slot's share of the blend for the next Process(), 0..1 (clamped).
  void SetMorphShare(float share) {
    share_target_ = share > 1.0f ? 1.0f : (share > 0.0f ? share : 0.0f);
  }
  // The slot blended with the selected one while morphing.
  std::size_t neighbour(std::size_t slot) const { return count_ == 0 ? 0 : (slot + 1) % count_; }

  // Silences `slot` from the next Process() on (Init clears every mute).
  void Mute(std::size_t slot) {
    if (slot < kMaxSlots) muted_[slot] = true;
  }
  bool muted(std::size_t slot) const { return slot < kMaxSlots && muted_[slot]; }

  // Asks for slot `slot` from the next Process() (after the fade in progress, if any); false
  // for a slot the bank does not have.
  bool Select(std::size_t slot) {
    if (slots_ == nullptr || slot >= count_) return false;
    requested_.store(slot, std::memory_order_relaxed);
    return true;
  }

  std::size_t requested() const { return requested_.load(std::memory_order_relaxed); }
  // The slot heard: the new one from the start of its fade.
  std::size_t active() const { return active_.load(std::memory_order_relaxed); }
  bool fading() const { return morph_ ? dip_ != Dip::kNone : fade_done_ < fade_frames_; }

  // As a slot's process(): inputs[c][i], out[i * outputs + o].
  void Process(const float* const* inputs, float* out, std::size_t frames) {
    if (slots_ == nullptr) return;
    const float* chunk[kMaxSlotInputs];
    for (std::size_t first = 0; first < frames; first += kMaxFrames) {
      for (std::size_t c = 0; c < slots_[0]->num_inputs; ++c) chunk[c] = inputs[c] + first;
      ProcessChunk(chunk, out + first * slots_[0]->num_outputs,
                   frames - first < kMaxFrames ? frames - first : kMaxFrames);
    }
  }

 private:
  void ProcessChunk(const float* const* inputs, float* out, std::size_t frames) {
    if (morph_) {
      MorphChunk(inputs, out, frames);
      return;
    }
    std::size_t active = active_.load(std::memory_order_relaxed);
    const std::size_t requested = requested_.load(std::memory_order_relaxed);
    if (!fading() && requested != active) {
      previous_ = active;
      active = requested;
      active_.store(active, std::memory_order_relaxed);
      slots_[active]->reset();
      fade_done_ = 0;
    }
    const std::size_t outputs = slots_[active]->num_outputs;
    Run(active, inputs, out, frames);
    if (!fading()) return;
    Run(previous_, inputs, faded_, frames);
    for (std::size_t f = 0; f < frames; ++f) {
      if (fade_done_ < fade_frames_) ++fade_done_;
      // The new slot's share, 1 / fade .. 1 over the fade's frames.
      const float share = static_cast<float>(fade_done_) / static_cast<float>(fade_frames_);
      for (std::size_t o = 0; o < outputs; ++o) {
        const float old = faded_[f * outputs + o];
        out[f * outputs + o] = old + share * (out[f * outputs + o] - old);
      }
    }
  }

  void MorphChunk(const float* const* inputs, float* out, std::size_t frames) {
    const std::size_t half = fade_frames_ / 2 > 0 ? fade_frames_ / 2 : 1;
    std::size_t active = active_.load(std::memory_order_relaxed);
    const std::size_t requested = requested_.load(std::memory_order_relaxed);
    if (dip_ == Dip::kNone && requested != active) {
      dip_ = Dip::kOut;
      dip_done_ = 0;
    }
    if (dip_ == Dip::kOut && dip_done_ >= half) {  // silent now: change the pair
      previous_ = active;
      active = requested;
      active_.store(active, std::memory_order_relaxed);
      slots_[active]->reset();
      slots_[neighbour(active)]->reset();
      dip_ = Dip::kIn;
      dip_done_ = 0;
    }
    const std::size_t next = neighbour(active);
    const std::size_t outputs = slots_[active]->num_outputs;
    Run(active, inputs, out, frames);
    if (next != active) Run(next, inputs, faded_, frames);
    const float start = share_;
    const float step = (share_target_ - share_) / static_cast<float>(frames);
    for (std::size_t f = 0; f < frames; ++f) {
      const float share = next != active ? start + step * static_cast<float>(f + 1) : 0.0f;
      float gain = 1.0f;
      if (dip_ != Dip::kNone) {
        if (dip_done_ < half) ++dip_done_;
        const float done = static_cast<float>(dip_done_) / static_cast<float>(half);
        gain = dip_ == Dip::kOut ? 1.0f - done : done;
      }
      for (std::size_t o = 0; o < outputs; ++o) {
        const float own = out[f * outputs + o];
        const float blend = next != active ? own + share * (faded_[f * outputs + o] - own) : own;
        out[f * outputs + o] = gain * blend;
      }
    }
    share_ = share_target_;
    if (dip_ == Dip::kIn && dip_done_ >= half) dip_ = Dip::kNone;
  }

  void Run(std::size_t slot, const float* const* inputs, float* out, std::size_t frames) {
    if (muted_[slot]) {
      for (std::size_t i = 0; i < frames * slots_[slot]->num_outputs; ++i) out[i] = 0.0f;
    } else {
      slots_[slot]->process(inputs, out, frames);
    }
  }

  const Slot* const* slots_ = nullptr;
  std::size_t count_ = 0;
  std::size_t fade_frames_ = 1;
  std::atomic<std::size_t> active_{0};
  std::size_t previous_ = 0;
  std::atomic<std::size_t> requested_{0};
  std::size_t fade_done_ = 1;  // frames of the fade played; fade_frames_ when not fading
  bool muted_[kMaxSlots] = {};
  enum class Dip : unsigned char { kNone, kOut, kIn };  // a switch while morphing
  bool morph_ = false;
  float share_ = 0.0f;         // the next slot's share at the end of the last call
  float share_target_ = 0.0f;  // and at the end of the next one
  Dip dip_ = Dip::kNone;
  std::size_t dip_done_ = 0;  // frames of the dip's current half played
  float faded_[kMaxFrames * kMaxOutputs] = {};
};

}  // namespace daisynet_bank
