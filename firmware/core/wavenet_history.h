// What every engine backend shares: each layer's history of input frames, and how a block of
// new frames finds room after it in a linear buffer.
//
// A layer with kernel K and dilation d reads its input at t, t-d, ..., t-(K-1)d, so it keeps
// (K-1)*d frames of history in front of the new ones.
#pragma once

#include <array>
#include <cstddef>
#include <cstring>

#include "model_header.h"

namespace daisynet {
namespace engine_detail {

constexpr std::size_t HistoryFrames(std::size_t layer) {
  return (model::kLayers[layer].kernel - 1) * model::kLayers[layer].dilation;
}

// Each layer's history in frames, as a table: Reset() reads it at run time, and reading
// model::kLayers there would keep the whole layer table, and with it every header weight
// array, in flash beside the backends' own copies of the weights.
constexpr std::array<std::size_t, model::kNumLayers> HistoryTable() {
  std::array<std::size_t, model::kNumLayers> frames{};
  for (std::size_t i = 0; i < model::kNumLayers; ++i) frames[i] = HistoryFrames(i);
  return frames;
}
inline constexpr std::array<std::size_t, model::kNumLayers> kHistoryFrames = HistoryTable();

// A layer's history plus room for new frames in the backends that rewind their buffers only
// when full: at least one block, and at least the history itself, so copying the history back
// (H frames) happens at most once per H new frames: no more than one value per input channel
// per sample, for at most twice the RAM. A 1x1 layer has no history: its buffer is one block
// and nothing is ever copied.
template <std::size_t kMaxBlock>
constexpr std::size_t BufferFrames(std::size_t layer) {
  const std::size_t history = HistoryFrames(layer);
  return history + (history > kMaxBlock ? history : kMaxBlock);
}

// Room for `block` new frames at `cursor` in a linear history buffer of `capacity` frames,
// `width` elements each, whose newest `history` frames before the cursor are the layer's
// history: when the block would run past the end, that history is copied back to the start
// first (at most once per `history` new frames, see BufferFrames). Returns the block's first
// frame. For buffers of any element type (the fixed-point backends' too).
template <typename T>
inline T* HistoryRoom(T* buffer, std::size_t& cursor, std::size_t block, std::size_t history,
                      std::size_t capacity, std::size_t width) {
  if (cursor + block > capacity) {
    if (history > 0) {
      std::memmove(buffer, buffer + (cursor - history) * width, history * width * sizeof(T));
    }
    cursor = history;
  }
  return buffer + cursor * width;
}

// Back to silence for the linear-history backends: every buffer zero, each layer's cursor just
// past its history.
template <typename Arena>
inline void ClearHistories(Arena& arena, std::size_t (&cursors)[model::kNumLayers]) {
  std::memset(&arena, 0, sizeof(arena));
  for (std::size_t i = 0; i < model::kNumLayers; ++i) cursors[i] = kHistoryFrames[i];
}

}  // namespace engine_detail
}  // namespace daisynet
