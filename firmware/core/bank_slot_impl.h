// One slot of a model bank (bank_slot.h): the engine of the model_defn.h that
// DAISYNET_MODEL_HEADER names. A slot's translation unit is
//
//   #define daisynet daisynet_slot_0              // this slot's own copy of the engine
//   #define DAISYNET_MODEL_HEADER "slot_0_model_defn.h"
//   #include "bank_slot_impl.h"
//   DAISYNET_BANK_SLOT(kSlot0, 48)                 // const daisynet_bank::Slot kSlot0
//
// and nothing else, so every name the engine and its header declare is in that slot's
// namespace (a model's engine is a template over its header's constants: two slots'
// instances would otherwise share a name and break the one-definition rule).
#pragma once

#include <cstddef>
#include <cstdint>

#include "bank_slot.h"
#include "model_engine.h"

// Where the slot's engine goes: a build may define it as a section attribute (the Daisy app
// puts every engine in DTCM).
#ifndef DAISYNET_BANK_ENGINE_PLACEMENT
#define DAISYNET_BANK_ENGINE_PLACEMENT
#endif

// Defines the constant daisynet_bank::Slot `slot`: this translation unit's model, its engine
// computing blocks of at most max_block frames.
#define DAISYNET_BANK_SLOT(slot, max_block)                                                  \
  namespace {                                                                               \
  DAISYNET_BANK_ENGINE_PLACEMENT daisynet::ModelEngine<max_block> bank_slot_engine;         \
  }                                                                                         \
  namespace daisynet_bank {                                                                 \
  extern const Slot slot;                                                                   \
  const Slot slot = {                                                                       \
      [] { bank_slot_engine.Init(); },                                                      \
      [] { bank_slot_engine.Reset(); },                                                     \
      [](const float* const* inputs, float* out, std::size_t frames) {                      \
        bank_slot_engine.Process(inputs, out, frames);                                      \
      },                                                                                    \
      []() -> std::uint32_t { return bank_slot_engine.non_finite_outputs(); },              \
      daisynet::model::kModelName,                                                          \
      daisynet::model::kWeightsSha256,                                                      \
      daisynet::model::kNumInputs,                                                          \
      daisynet::model::kInputNames,                                                         \
      daisynet::model::kNumOutputs,                                                         \
      daisynet::model::kSampleRate,                                                         \
      sizeof(bank_slot_engine),                                                             \
      daisynet::model::kSelfCheckOutputs,                                                   \
      daisynet::model::kSelfCheckFrames,                                                    \
      daisynet::model::kSelfCheckStride,                                                    \
      daisynet::model::kSelfCheckTolerance,                                                 \
      daisynet::model::kSelfCheckInstructionsPerSample,                                     \
  };                                                                                        \
  }
