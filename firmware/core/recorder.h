// The datalogger's recorder: audio blocks in (interrupt), wire protocol frames out (main loop).
//
//   idle --RequestStart--> recording --RequestStop / max frames--> draining --END sent--> idle
//
// While recording, the audio callback copies each block (non-interleaved audio in, per-block
// control values) into a ring of slots in a caller-provided buffer (SDRAM on the Daisy: 32 MB
// absorb ~40 s of USB stalls at 0.8 MB/s), and the main loop streams the oldest slot as a DATA
// frame through a non-blocking ByteSink. If the ring is full the block is dropped and counted as
// an overrun; its frame indices are skipped, so the host sees exactly where audio is missing.
// Draining sends what is left, then END. STATUS frames (and, while recording, a repeat of the
// SESSION frame, so a host that joins late or lost it can still start) go out every
// `status_interval_blocks` audio blocks, also while idle as a heartbeat.
//
// Concurrency: one interrupt (ProcessBlock) and one main loop (Poll, Request*), single core.
// They share only 32-bit atomics; a slot is written before its index is published.
// Portable: standard headers only, no heap, no exceptions.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "wire_protocol.h"

namespace daisynet {

static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "ring indices must be lock-free");
static_assert(std::atomic<std::uint8_t>::is_always_lock_free, "state must be lock-free");

struct SessionConfig {
  std::uint32_t sample_rate;         // Hz
  std::uint16_t block_size;          // frames per audio callback
  std::uint8_t audio_channels;       // sampled every frame
  std::uint8_t control_channels;     // read once per block (knobs/CV)
  const char* firmware_version;      // at most 255 bytes
  const char* const* channel_names;  // audio_channels then control_channels names, <= 255 bytes
};

// Where encoded bytes go (USB CDC on the Daisy, a pseudo-terminal in the emulator).
class ByteSink {
 public:
  // Takes up to `size` bytes without blocking; returns how many it took (0 when busy).
  virtual std::size_t Write(const std::uint8_t* data, std::size_t size) = 0;

 protected:
  ~ByteSink() = default;
};

class Recorder {
 public:
  // Bytes of one ring slot: the DATA payload (first frame u64, audio frame-major, controls).
  static constexpr std::size_t SlotBytes(const SessionConfig& config) {
    return 8 + sizeof(float) * (static_cast<std::size_t>(config.block_size) *
                                    config.audio_channels + config.control_channels);
  }

  // `buffer` (8-byte aligned) holds the ring; it need not be zeroed. Returns false when the
  // config cannot be framed (a block larger than a frame payload, a name over 255 bytes, a
  // session description over kMaxPayloadBytes) or the buffer holds fewer than two slots.
  bool Init(const SessionConfig& config, std::uint8_t* buffer, std::size_t buffer_bytes,
            std::uint32_t status_interval_blocks) {
    config_ = config;
    slot_bytes_ = SlotBytes(config);
    session_bytes_ = BuildSessionPayload(session_payload_);
    if (slot_bytes_ > wire::kMaxPayloadBytes || session_bytes_ == 0 || buffer == nullptr ||
        config.block_size == 0) {
      return false;
    }
    ring_ = buffer;
    slot_count_ = static_cast<std::uint32_t>(buffer_bytes / slot_bytes_);
    status_interval_blocks_ = status_interval_blocks == 0 ? 1 : status_interval_blocks;
    state_.store(static_cast<std::uint8_t>(wire::RecorderState::kIdle));
    return slot_count_ >= 2;
  }

  // Main loop. Idle: start a session that stops itself after `max_frames` (0: never).
  void RequestStart(std::uint64_t max_frames) {
    if (state() != wire::RecorderState::kIdle) return;
    write_count_.store(0);
    read_count_.store(0);
    recorded_blocks_.store(0);
    overrun_blocks_.store(0);
    max_blocks_ = static_cast<std::uint32_t>((max_frames + config_.block_size - 1) /
                                             config_.block_size);
    sent_blocks_ = 0;
    ++session_id_;
    session_due_ = true;
    state_.store(static_cast<std::uint8_t>(wire::RecorderState::kRecording),
                 std::memory_order_release);
  }

  // Main loop or interrupt. Recording: stop taking audio, send what is buffered, then END.
  void RequestStop(wire::EndReason reason) {
    auto expected = static_cast<std::uint8_t>(wire::RecorderState::kRecording);
    if (state_.compare_exchange_strong(expected,
                                       static_cast<std::uint8_t>(wire::RecorderState::kDraining))) {
      end_reason_.store(static_cast<std::uint8_t>(reason));
    }
  }

  // Audio interrupt: one block of config.block_size frames. `audio[c]` points at channel c's
  // samples; `controls` holds control_channels values read once for this block.
  void ProcessBlock(const float* const* audio, const float* controls) {
    blocks_seen_.store(blocks_seen_.load(std::memory_order_relaxed) + 1,
                       std::memory_order_relaxed);
    if (state() != wire::RecorderState::kRecording) return;
    const std::uint32_t recorded = recorded_blocks_.load(std::memory_order_relaxed);
    const std::uint32_t written = write_count_.load(std::memory_order_relaxed);
    if (written - read_count_.load(std::memory_order_acquire) >= slot_count_) {
      overrun_blocks_.store(overrun_blocks_.load(std::memory_order_relaxed) + 1,
                            std::memory_order_relaxed);
    } else {
      std::uint8_t* slot = ring_ + static_cast<std::size_t>(written % slot_count_) * slot_bytes_;
      wire::PutU64(slot, static_cast<std::uint64_t>(recorded) * config_.block_size);
      auto* samples = reinterpret_cast<float*>(slot + 8);
      for (std::size_t frame = 0; frame < config_.block_size; ++frame) {
        for (std::size_t channel = 0; channel < config_.audio_channels; ++channel) {
          *samples++ = audio[channel][frame];
        }
      }
      std::memcpy(samples, controls, sizeof(float) * config_.control_channels);
      write_count_.store(written + 1, std::memory_order_release);
    }
    recorded_blocks_.store(recorded + 1, std::memory_order_release);
    if (max_blocks_ != 0 && recorded + 1 >= max_blocks_) {
      RequestStop(wire::EndReason::kDurationReached);
    }
  }

  // Main loop: hand the sink as many bytes as it takes. Never blocks.
  void Poll(ByteSink& sink) {
    for (;;) {
      if (tx_sent_ < tx_size_) {
        tx_sent_ += sink.Write(tx_ + tx_sent_, tx_size_ - tx_sent_);
        if (tx_sent_ < tx_size_) return;
      }
      if (!EncodeNextFrame()) return;
    }
  }

  wire::RecorderState state() const {
    return static_cast<wire::RecorderState>(state_.load(std::memory_order_acquire));
  }
  std::uint32_t overrun_blocks() const { return overrun_blocks_.load(); }
  std::uint32_t frames_on_wire() const { return sequence_; }
  // The sink has taken the whole last frame (nothing half-sent).
  bool tx_idle() const { return tx_sent_ == tx_size_; }
  std::uint32_t free_slots() const {
    return slot_count_ - (write_count_.load() - read_count_.load());
  }

 private:
  std::size_t BuildSessionPayload(std::uint8_t* out) const {
    std::size_t size = 0;
    auto put_text = [&](const char* text) {
      const std::size_t length = text == nullptr ? 0 : std::strlen(text);
      if (length > 255 || size + 1 + length > wire::kMaxPayloadBytes) return false;
      out[size++] = static_cast<std::uint8_t>(length);
      std::memcpy(out + size, text, length);
      size += length;
      return true;
    };
    size = 4;  // session id, filled in when sent
    wire::PutU32(out + size, config_.sample_rate);
    wire::PutU16(out + size + 4, config_.block_size);
    out[size + 6] = config_.audio_channels;
    out[size + 7] = config_.control_channels;
    size += 8;
    if (!put_text(config_.firmware_version)) return 0;
    for (std::size_t i = 0; i < std::size_t{config_.audio_channels} + config_.control_channels;
         ++i) {
      if (!put_text(config_.channel_names[i])) return 0;
    }
    return size;
  }

  // Counters shared by STATUS and END: first byte is the state (STATUS) or reason (END).
  static constexpr std::size_t kCountersBytes = 29;
  void PutCounters(std::uint8_t* out, std::uint8_t first) const {
    out[0] = first;
    wire::PutU32(out + 1, session_id_);
    wire::PutU64(out + 5, static_cast<std::uint64_t>(recorded_blocks_.load()) * config_.block_size);
    wire::PutU64(out + 13, static_cast<std::uint64_t>(sent_blocks_) * config_.block_size);
    wire::PutU32(out + 21, overrun_blocks_.load());
    wire::PutU32(out + 25, write_count_.load() - read_count_.load());
  }

  void Encode(wire::FrameType type, const std::uint8_t* payload, std::size_t size) {
    const wire::PayloadPart part{payload, size};
    tx_size_ = wire::EncodeFrame(type, sequence_++, &part, 1, tx_);
    tx_sent_ = 0;
  }

  bool EncodeNextFrame() {
    const wire::RecorderState now = state();
    const std::uint32_t seen = blocks_seen_.load(std::memory_order_relaxed);
    if (seen - last_status_block_ >= status_interval_blocks_) {
      last_status_block_ = seen;
      session_due_ = session_due_ || now == wire::RecorderState::kRecording;
      status_due_ = true;
    }
    if (session_due_ && now != wire::RecorderState::kIdle) {
      session_due_ = false;
      wire::PutU32(session_payload_, session_id_);
      Encode(wire::FrameType::kSession, session_payload_, session_bytes_);
      return true;
    }
    if (status_due_) {
      status_due_ = false;
      std::uint8_t counters[kCountersBytes];
      PutCounters(counters, static_cast<std::uint8_t>(now));
      Encode(wire::FrameType::kStatus, counters, sizeof counters);
      return true;
    }
    const std::uint32_t read = read_count_.load(std::memory_order_relaxed);
    if (write_count_.load(std::memory_order_acquire) != read) {
      Encode(wire::FrameType::kData,
             ring_ + static_cast<std::size_t>(read % slot_count_) * slot_bytes_, slot_bytes_);
      read_count_.store(read + 1, std::memory_order_release);
      ++sent_blocks_;
      return true;
    }
    if (now == wire::RecorderState::kDraining) {
      std::uint8_t counters[kCountersBytes];
      PutCounters(counters, end_reason_.load());
      Encode(wire::FrameType::kEnd, counters, sizeof counters);
      state_.store(static_cast<std::uint8_t>(wire::RecorderState::kIdle),
                   std::memory_order_release);
      return true;
    }
    return false;
  }

  SessionConfig config_{};
  std::uint8_t* ring_ = nullptr;
  std::size_t slot_bytes_ = 0;
  std::uint32_t slot_count_ = 0;
  std::uint32_t status_interval_blocks_ = 1;
  // Written by the interrupt, read by the main loop (or the reverse for read_count_).
  std::atomic<std::uint8_t> state_{0};
  std::atomic<std::uint8_t> end_reason_{0};
  std::atomic<std::uint32_t> write_count_{0};
  std::atomic<std::uint32_t> read_count_{0};
  std::atomic<std::uint32_t> recorded_blocks_{0};
  std::atomic<std::uint32_t> overrun_blocks_{0};
  std::atomic<std::uint32_t> blocks_seen_{0};
  // Main loop only.
  std::uint32_t max_blocks_ = 0;
  std::uint32_t sent_blocks_ = 0;
  std::uint32_t session_id_ = 0;
  std::uint32_t sequence_ = 0;
  std::uint32_t last_status_block_ = 0;
  bool session_due_ = false;
  bool status_due_ = true;  // announce ourselves as soon as the loop runs
  std::uint8_t session_payload_[wire::kMaxPayloadBytes] = {};
  std::size_t session_bytes_ = 0;
  std::uint8_t tx_[wire::kMaxEncodedFrameBytes] = {};
  std::size_t tx_size_ = 0;
  std::size_t tx_sent_ = 0;
};

}  // namespace daisynet
