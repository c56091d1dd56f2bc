// The datalogger's recorder: audio blocks in (interrupt), host commands in and wire protocol
// frames out (main loop). Specification: WIRE_PROTOCOL.md beside this file.
//
//   live:   idle --start--> recording --stop, frame limit--> draining --END--> idle
//   record: idle --start--> recording --stop, frame limit, store full--> transferring
//           --END--> idle --RESEND--> transferring (the asked-for blocks) --END--> idle
//
// The audio callback turns each block into a DATA payload (the channels the configuration
// selects, audio in its sample format, controls float32) in a slot of a caller-provided store
// (SDRAM on the Daisy). Live, the store is a ring the main loop streams from: if it is full the
// block is dropped and counted as an overrun, and its frame indices are skipped, so the host
// sees exactly where audio is missing. Record, the store fills from the start and nothing but
// STATUS goes out until the recording stops; then every block is sent, as fast as the link
// takes it, and stays in the store so the host can ask for lost blocks again (RESEND) until the
// next recording starts. STATUS frames (and, while a session runs, a repeat of SESSION, so a
// host that joins late or lost it can still start) go out every `status_interval_blocks` audio
// blocks, also while idle as a heartbeat. Every host command is answered by one REPLY.
//
// Concurrency: one interrupt (ProcessBlock) and one main loop (Poll, Receive, Request*), single
// core. They share only 32-bit atomics; a slot is written before its index is published, and
// the configuration changes only while idle, before the state store that publishes it.
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

// What the hardware offers.
struct DeviceConfig {
  std::uint32_t sample_rate;         // Hz
  std::uint16_t block_size;          // frames per audio callback
  std::uint8_t audio_channels;       // inputs sampled every frame, <= wire::kMaxAudioChannels
  std::uint8_t control_channels;     // knobs/CV read once per block, <= wire::kMaxControlChannels
  const char* firmware_version;      // at most 255 bytes
  const char* const* channel_names;  // audio_channels then control_channels names, <= 255 bytes
};

// What the next recording takes (CONFIGURE).
struct RecordingConfig {
  wire::Mode mode;
  wire::SampleFormat format;
  std::uint8_t channel_mask;  // bits 0..3 audio inputs, 4..7 controls
  std::uint64_t max_frames;   // 0: until stopped (record mode: until the store is full)
};
// What the encoder starts with until a host configures something else: live, s24, every
// channel, no frame limit.
inline constexpr RecordingConfig kDefaultRecording{wire::Mode::kLive, wire::SampleFormat::kS24,
                                                   0xFF, 0};

// Where encoded bytes go (the USB CDC transmit queue on the Daisy, the modelled link in the
// emulator).
class ByteSink {
 public:
  // Takes up to `size` bytes without blocking; returns how many it took (0 when busy).
  virtual std::size_t Write(const std::uint8_t* data, std::size_t size) = 0;

 protected:
  ~ByteSink() = default;
};

class Recorder {
 public:
  // Bytes of one stored block: the DATA payload (first frame u64, audio frame-major in the
  // sample format, float32 controls) of the channels `mask` selects.
  static constexpr std::size_t SlotBytes(std::uint16_t block_size, std::uint8_t audio_channels,
                                         std::uint8_t control_channels,
                                         wire::SampleFormat format) {
    return wire::data_layout::kBytes +
           std::size_t{block_size} * audio_channels * wire::SampleBytes(format) +
           sizeof(float) * control_channels;
  }

  // `store` holds the recorded blocks; it need not be zeroed. Returns false when the device
  // cannot be described in one frame, has more channels than the mask can name, or the store
  // holds fewer than two blocks of the largest configuration.
  bool Init(const DeviceConfig& device, std::uint8_t* store, std::size_t store_bytes,
            std::uint32_t status_interval_blocks) {
    device_ = device;
    store_ = store;
    store_bytes_ = store_bytes;
    status_interval_blocks_ = status_interval_blocks == 0 ? 1 : status_interval_blocks;
    if (store == nullptr || device.block_size == 0 ||
        device.audio_channels > wire::kMaxAudioChannels ||
        device.control_channels > wire::kMaxControlChannels ||
        SlotBytes(device.block_size, device.audio_channels, device.control_channels,
                  wire::SampleFormat::kF32) > wire::kMaxPayloadBytes ||
        store_bytes / SlotBytes(device.block_size, device.audio_channels,
                                device.control_channels, wire::SampleFormat::kF32) < 2 ||
        BuildCapabilities() == 0) {
      return false;
    }
    ApplyConfig(kDefaultRecording);
    status_due_ = true;  // announce ourselves as soon as the loop runs
    state_.store(static_cast<std::uint8_t>(wire::RecorderState::kIdle));
    return session_bytes_ != 0;
  }

  // Main loop (encoder or START). Idle: start a session with the current configuration.
  bool RequestStart() {
    if (state() != wire::RecorderState::kIdle) return false;
    write_count_.store(0);
    read_count_.store(0);
    recorded_blocks_.store(0);
    overrun_blocks_.store(0);
    sent_blocks_ = 0;
    resend_range_count_ = 0;
    const std::uint64_t limit_blocks =
        (config_.max_frames + device_.block_size - 1) / device_.block_size;
    max_blocks_ = static_cast<std::uint32_t>(limit_blocks > 0xFFFFFFFFu ? 0 : limit_blocks);
    limit_reason_ = wire::EndReason::kDurationReached;
    if (config_.mode == wire::Mode::kRecord && (max_blocks_ == 0 || max_blocks_ > slot_count_)) {
      max_blocks_ = slot_count_;
      limit_reason_ = wire::EndReason::kStoreFull;
    }
    ++session_id_;
    session_due_ = true;
    state_.store(static_cast<std::uint8_t>(wire::RecorderState::kRecording),
                 std::memory_order_release);
    return true;
  }

  // Main loop or interrupt. Recording: stop taking audio; live sends what is buffered, record
  // transfers the store; both end with END.
  bool RequestStop(wire::EndReason reason) {
    auto expected = static_cast<std::uint8_t>(wire::RecorderState::kRecording);
    const auto next = config_.mode == wire::Mode::kLive ? wire::RecorderState::kDraining
                                                        : wire::RecorderState::kTransferring;
    if (!state_.compare_exchange_strong(expected, static_cast<std::uint8_t>(next))) return false;
    end_reason_.store(static_cast<std::uint8_t>(reason));
    return true;
  }

  // Audio interrupt: one block of block_size frames. `audio[c]` points at device audio channel
  // c's samples, `controls[c]` is device control c, read once for this block.
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
      FillSlot(Slot(written), static_cast<std::uint64_t>(recorded) * device_.block_size, audio,
               controls);
      write_count_.store(written + 1, std::memory_order_release);
    }
    recorded_blocks_.store(recorded + 1, std::memory_order_release);
    if (max_blocks_ != 0 && recorded + 1 >= max_blocks_) RequestStop(limit_reason_);
  }

  // Main loop: one byte the host sent. Read only while ready_for_command(): each command's
  // REPLY waits in a single slot until Poll has encoded it.
  void Receive(std::uint8_t byte) {
    wire::Command command{};
    const char* error = "";
    switch (receiver_.Take(byte, command, error)) {
      case wire::CommandReceiver::Result::kNone: return;
      case wire::CommandReceiver::Result::kBadFrame:
        Reply(command, wire::ReplyCode::kBadFrame, error);
        return;
      case wire::CommandReceiver::Result::kCommand: Handle(command); return;
    }
  }
  bool ready_for_command() const { return !reply_due_; }

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
  const RecordingConfig& config() const { return config_; }
  std::uint32_t session_id() const { return session_id_; }
  std::uint32_t overrun_blocks() const { return overrun_blocks_.load(); }
  std::uint32_t frames_on_wire() const { return sequence_; }
  // Blocks of the current configuration the store holds (record mode: the longest take).
  std::uint32_t capacity_blocks() const { return slot_count_; }
  // The sink has taken the whole last frame (nothing half-sent).
  bool tx_idle() const { return tx_sent_ == tx_size_; }

 private:
  static constexpr std::size_t kCountersBytes = wire::counters_layout::kBytes;
  static constexpr std::size_t kReplyFixedBytes = wire::reply_layout::kBytes;
  static constexpr std::size_t kDescriptionBytes = 512;  // SESSION, capabilities: names fit

  std::uint8_t* Slot(std::uint32_t index) const {
    return store_ + static_cast<std::size_t>(index % slot_count_) * slot_bytes_;
  }

  void FillSlot(std::uint8_t* slot, std::uint64_t first_frame, const float* const* audio,
                const float* controls) const {
    wire::PutU64(slot + wire::data_layout::kFirstFrame.offset, first_frame);
    std::uint8_t* out = slot + wire::data_layout::kBytes;
    const std::size_t sample_bytes = wire::SampleBytes(config_.format);
    for (std::size_t frame = 0; frame < device_.block_size; ++frame) {
      for (std::uint8_t i = 0; i < audio_count_; ++i) {
        wire::PutSample(out, audio[audio_index_[i]][frame], config_.format);
        out += sample_bytes;
      }
    }
    for (std::uint8_t i = 0; i < control_count_; ++i) {
      std::memcpy(out, &controls[control_index_[i]], sizeof(float));
      out += sizeof(float);
    }
  }

  void Handle(const wire::Command& command) {
    const auto type = static_cast<wire::CommandType>(command.type);
    const bool idle = state() == wire::RecorderState::kIdle;
    switch (type) {
      case wire::CommandType::kHello:
        if (command.size != 0) {
          return Reply(command, wire::ReplyCode::kBadArguments, "HELLO takes no payload");
        }
        return Reply(command, wire::ReplyCode::kOk, "", capabilities_, BuildCapabilities());
      case wire::CommandType::kConfigure: return Configure(command, idle);
      case wire::CommandType::kStart:
        if (command.size != 0) {
          return Reply(command, wire::ReplyCode::kBadArguments, "START takes no payload");
        }
        if (!RequestStart()) {
          return Reply(command, wire::ReplyCode::kBusy, "already recording or transferring");
        }
        return Reply(command, wire::ReplyCode::kOk, "");
      case wire::CommandType::kStop:
        if (!RequestStop(wire::EndReason::kHostStopped)) {
          return Reply(command, wire::ReplyCode::kBusy, "not recording");
        }
        return Reply(command, wire::ReplyCode::kOk, "");
      case wire::CommandType::kResend: return Resend(command, idle);
    }
    Reply(command, wire::ReplyCode::kUnknownCommand, "unknown command");
  }

  void Configure(const wire::Command& command, bool idle) {
    namespace at = wire::configure_layout;
    static_assert(at::kBytes == 11, "the CONFIGURE error message names the size");
    if (command.size != at::kBytes) {
      return Reply(command, wire::ReplyCode::kBadArguments, "CONFIGURE takes 11 bytes");
    }
    if (!idle) return Reply(command, wire::ReplyCode::kBusy, "busy: stop the recording first");
    const std::uint8_t* in = command.payload;
    const std::uint8_t mode = in[at::kMode.offset];
    const std::uint8_t format = in[at::kSampleFormat.offset];
    RecordingConfig next{};
    next.mode = static_cast<wire::Mode>(mode);
    next.format = static_cast<wire::SampleFormat>(format);
    next.channel_mask = in[at::kChannelMask.offset];
    next.max_frames = wire::GetU64(in + at::kMaxFrames.offset);
    const std::uint8_t device_mask = static_cast<std::uint8_t>(
        ((1u << device_.audio_channels) - 1) |
        (((1u << device_.control_channels) - 1) << wire::kAudioMaskBits));
    if (mode != static_cast<std::uint8_t>(wire::Mode::kLive) &&
        mode != static_cast<std::uint8_t>(wire::Mode::kRecord)) {
      return Reply(command, wire::ReplyCode::kBadArguments, "mode must be 1 (live) or 2 (record)");
    }
    if (format < static_cast<std::uint8_t>(wire::SampleFormat::kS24) ||
        format > static_cast<std::uint8_t>(wire::SampleFormat::kF32)) {
      return Reply(command, wire::ReplyCode::kBadArguments,
                   "format must be 1 (s24), 2 (s16) or 3 (f32)");
    }
    if (next.channel_mask == 0 || (next.channel_mask & ~device_mask) != 0) {
      return Reply(command, wire::ReplyCode::kBadArguments,
                   "channel mask names no channel or one the device lacks");
    }
    const RecordingConfig previous = config_;
    ApplyConfig(next);
    if (next.mode == wire::Mode::kRecord &&
        next.max_frames > std::uint64_t{slot_count_} * device_.block_size) {
      ApplyConfig(previous);
      return Reply(command, wire::ReplyCode::kBadArguments, "more frames than the store holds");
    }
    // The stored blocks have the old layout: none of them can be resent any more.
    write_count_.store(0);
    read_count_.store(0);
    Reply(command, wire::ReplyCode::kOk, "");
  }

  void Resend(const wire::Command& command, bool idle) {
    namespace at = wire::resend_layout;
    namespace range_at = wire::resend_range_layout;
    const std::uint8_t* in = command.payload;
    const std::uint8_t ranges = command.size < at::kBytes ? 0 : in[at::kRangeCount.offset];
    if (ranges == 0 || ranges > wire::kMaxResendRanges ||
        command.size != at::kBytes + range_at::kBytes * ranges) {
      return Reply(command, wire::ReplyCode::kBadArguments,
                   "RESEND takes a session id and 1..32 ranges");
    }
    if (config_.mode != wire::Mode::kRecord || session_id_ == 0 ||
        wire::GetU32(in + at::kSessionId.offset) != session_id_) {
      return Reply(command, wire::ReplyCode::kBadArguments, "that session is not in the store");
    }
    if (!idle) return Reply(command, wire::ReplyCode::kBusy, "busy: wait for END");
    const std::uint32_t stored = write_count_.load();
    for (std::uint8_t i = 0; i < ranges; ++i) {
      const std::uint8_t* range = in + at::kBytes + range_at::kBytes * i;
      const std::uint32_t first = wire::GetU32(range + range_at::kFirstBlock.offset);
      const std::uint32_t count = wire::GetU32(range + range_at::kBlockCount.offset);
      if (count == 0 || first >= stored || count > stored - first) {
        resend_range_count_ = 0;
        return Reply(command, wire::ReplyCode::kBadArguments, "range outside the stored blocks");
      }
      resend_ranges_[i] = {first, count};
    }
    resend_range_count_ = ranges;
    resend_range_ = 0;
    resend_block_ = resend_ranges_[0].first;
    end_reason_.store(static_cast<std::uint8_t>(wire::EndReason::kResendDone));
    state_.store(static_cast<std::uint8_t>(wire::RecorderState::kTransferring),
                 std::memory_order_release);
    Reply(command, wire::ReplyCode::kOk, "");
  }

  void Reply(const wire::Command& command, wire::ReplyCode code, const char* text,
             const std::uint8_t* body = nullptr, std::size_t body_bytes = 0) {
    namespace at = wire::reply_layout;
    const std::size_t length = std::strlen(text);
    reply_[at::kCommand.offset] = command.type;
    wire::PutU32(reply_ + at::kCommandSequence.offset, command.sequence);
    reply_[at::kCode.offset] = static_cast<std::uint8_t>(code);
    reply_[at::kMessageLength.offset] = static_cast<std::uint8_t>(length);
    std::memcpy(reply_ + kReplyFixedBytes, text, length);
    if (body_bytes != 0) std::memcpy(reply_ + kReplyFixedBytes + length, body, body_bytes);
    reply_bytes_ = kReplyFixedBytes + length + body_bytes;
    reply_due_ = true;
  }

  // Selects the channels, sample format and slot size. Idle only.
  void ApplyConfig(const RecordingConfig& config) {
    config_ = config;
    audio_count_ = control_count_ = 0;
    for (std::uint8_t c = 0; c < device_.audio_channels; ++c) {
      if (config.channel_mask & (1u << c)) audio_index_[audio_count_++] = c;
    }
    for (std::uint8_t c = 0; c < device_.control_channels; ++c) {
      if (config.channel_mask & (1u << (wire::kAudioMaskBits + c))) {
        control_index_[control_count_++] = c;
      }
    }
    slot_bytes_ = SlotBytes(device_.block_size, audio_count_, control_count_, config.format);
    slot_count_ = static_cast<std::uint32_t>(store_bytes_ / slot_bytes_);
    session_bytes_ = BuildSession();
  }

  // Appends a length-prefixed text; false if it does not fit.
  static bool PutText(std::uint8_t* out, std::size_t& size, const char* text) {
    const std::size_t length = text == nullptr ? 0 : std::strlen(text);
    if (length > 255 || size + 1 + length > kDescriptionBytes) return false;
    out[size++] = static_cast<std::uint8_t>(length);
    std::memcpy(out + size, text, length);
    size += length;
    return true;
  }

  // HELLO's REPLY body: what the device offers, its state and current configuration.
  std::size_t BuildCapabilities() {
    namespace at = wire::capabilities_layout;
    std::uint8_t* out = capabilities_;
    wire::PutU32(out + at::kSampleRate.offset, device_.sample_rate);
    wire::PutU16(out + at::kBlockSize.offset, device_.block_size);
    out[at::kAudioChannels.offset] = device_.audio_channels;
    out[at::kControlChannels.offset] = device_.control_channels;
    out[at::kFormats.offset] = 0x07;  // bit (format - 1) for s24, s16, f32
    wire::PutU64(out + at::kStoreBytes.offset, store_bytes_);
    out[at::kState.offset] = static_cast<std::uint8_t>(state());
    out[at::kMode.offset] = static_cast<std::uint8_t>(config_.mode);
    out[at::kSampleFormat.offset] = static_cast<std::uint8_t>(config_.format);
    out[at::kChannelMask.offset] = config_.channel_mask;
    wire::PutU64(out + at::kMaxFrames.offset, config_.max_frames);
    std::size_t size = at::kBytes;
    if (!PutText(out, size, device_.firmware_version)) return 0;
    for (std::size_t i = 0; i < std::size_t{device_.audio_channels} + device_.control_channels;
         ++i) {
      if (!PutText(out, size, device_.channel_names[i])) return 0;
    }
    return size;
  }

  // SESSION payload of the current configuration; the session id is filled in when sent.
  std::size_t BuildSession() {
    namespace at = wire::session_layout;
    std::uint8_t* out = session_payload_;
    wire::PutU32(out + at::kSampleRate.offset, device_.sample_rate);
    wire::PutU16(out + at::kBlockSize.offset, device_.block_size);
    out[at::kMode.offset] = static_cast<std::uint8_t>(config_.mode);
    out[at::kSampleFormat.offset] = static_cast<std::uint8_t>(config_.format);
    const float scale = 1.0f / wire::InverseScale(config_.format);
    std::memcpy(out + at::kScale.offset, &scale, sizeof scale);
    out[at::kChannelMask.offset] = config_.channel_mask;
    out[at::kAudioChannels.offset] = audio_count_;
    out[at::kControlChannels.offset] = control_count_;
    wire::PutU64(out + at::kMaxFrames.offset, config_.max_frames);
    std::size_t size = at::kBytes;
    if (!PutText(out, size, device_.firmware_version)) return 0;
    for (std::uint8_t i = 0; i < audio_count_; ++i) {
      if (!PutText(out, size, device_.channel_names[audio_index_[i]])) return 0;
    }
    for (std::uint8_t i = 0; i < control_count_; ++i) {
      if (!PutText(out, size, device_.channel_names[device_.audio_channels + control_index_[i]])) {
        return 0;
      }
    }
    return size;
  }

  // Counters shared by STATUS and END: first byte is the state (STATUS) or reason (END).
  void PutCounters(std::uint8_t* out, std::uint8_t first) const {
    namespace at = wire::counters_layout;
    out[at::kCode.offset] = first;
    wire::PutU32(out + at::kSessionId.offset, session_id_);
    wire::PutU64(out + at::kFramesRecorded.offset,
                 static_cast<std::uint64_t>(recorded_blocks_.load()) * device_.block_size);
    wire::PutU64(out + at::kFramesSent.offset,
                 static_cast<std::uint64_t>(sent_blocks_) * device_.block_size);
    wire::PutU32(out + at::kOverrunBlocks.offset, overrun_blocks_.load());
    wire::PutU32(out + at::kBufferedBlocks.offset, write_count_.load() - read_count_.load());
  }

  void Encode(std::uint8_t type, const std::uint8_t* payload, std::size_t size) {
    const wire::PayloadPart part{payload, size};
    tx_size_ = wire::EncodeFrame(static_cast<wire::FrameType>(type), sequence_++, &part, 1, tx_);
    tx_sent_ = 0;
  }

  void EncodeData(std::uint32_t block) {
    Encode(static_cast<std::uint8_t>(wire::FrameType::kData), Slot(block), slot_bytes_);
    ++sent_blocks_;
  }

  // The next block of a transfer (or of the RESEND ranges); false when all are sent.
  bool EncodeTransferBlock() {
    if (resend_range_count_ != 0) {
      if (resend_range_ == resend_range_count_) return false;
      EncodeData(resend_block_++);
      const ResendRange& range = resend_ranges_[resend_range_];
      if (resend_block_ == range.first + range.count && ++resend_range_ < resend_range_count_) {
        resend_block_ = resend_ranges_[resend_range_].first;
      }
      return true;
    }
    const std::uint32_t read = read_count_.load(std::memory_order_relaxed);
    if (read == write_count_.load(std::memory_order_acquire)) return false;
    EncodeData(read);
    read_count_.store(read + 1, std::memory_order_release);
    return true;
  }

  bool EncodeNextFrame() {
    const wire::RecorderState now = state();
    if (reply_due_) {
      reply_due_ = false;
      Encode(static_cast<std::uint8_t>(wire::FrameType::kReply), reply_, reply_bytes_);
      return true;
    }
    const std::uint32_t seen = blocks_seen_.load(std::memory_order_relaxed);
    if (seen - last_status_block_ >= status_interval_blocks_) {
      last_status_block_ = seen;
      // A RESEND repeats no SESSION: the host has it from the transfer.
      session_due_ =
          session_due_ || (now != wire::RecorderState::kIdle && resend_range_count_ == 0);
      status_due_ = true;
    }
    if (session_due_ && now != wire::RecorderState::kIdle) {
      session_due_ = false;
      wire::PutU32(session_payload_ + wire::session_layout::kSessionId.offset, session_id_);
      Encode(static_cast<std::uint8_t>(wire::FrameType::kSession), session_payload_,
             session_bytes_);
      return true;
    }
    if (status_due_) {
      status_due_ = false;
      std::uint8_t counters[kCountersBytes];
      PutCounters(counters, static_cast<std::uint8_t>(now));
      Encode(static_cast<std::uint8_t>(wire::FrameType::kStatus), counters, sizeof counters);
      return true;
    }
    const bool streaming = config_.mode == wire::Mode::kLive &&
                           (now == wire::RecorderState::kRecording ||
                            now == wire::RecorderState::kDraining);
    if ((streaming || now == wire::RecorderState::kTransferring) && EncodeTransferBlock()) {
      return true;
    }
    if (now == wire::RecorderState::kDraining || now == wire::RecorderState::kTransferring) {
      std::uint8_t counters[kCountersBytes];
      PutCounters(counters, end_reason_.load());
      Encode(static_cast<std::uint8_t>(wire::FrameType::kEnd), counters, sizeof counters);
      resend_range_count_ = 0;
      // Record mode keeps its blocks for RESEND: the transfer rereads them from the start.
      if (config_.mode == wire::Mode::kRecord) read_count_.store(0);
      state_.store(static_cast<std::uint8_t>(wire::RecorderState::kIdle),
                   std::memory_order_release);
      return true;
    }
    return false;
  }

  struct ResendRange {
    std::uint32_t first;
    std::uint32_t count;
  };

  DeviceConfig device_{};
  RecordingConfig config_{};
  std::uint8_t* store_ = nullptr;
  std::size_t store_bytes_ = 0;
  std::size_t slot_bytes_ = 0;
  std::uint32_t slot_count_ = 0;
  std::uint8_t audio_index_[wire::kMaxAudioChannels] = {};  // device channel of each recorded one
  std::uint8_t control_index_[wire::kMaxControlChannels] = {};
  std::uint8_t audio_count_ = 0;
  std::uint8_t control_count_ = 0;
  // Every member starts zeroed (set in Init): a non-zero default would put the whole object,
  // frame buffers included, in .data, whose initial image costs as much internal flash.
  std::uint32_t status_interval_blocks_ = 0;
  // Written by the interrupt, read by the main loop (or the reverse for read_count_).
  std::atomic<std::uint8_t> state_{0};
  std::atomic<std::uint8_t> end_reason_{0};
  std::atomic<std::uint32_t> write_count_{0};
  std::atomic<std::uint32_t> read_count_{0};
  std::atomic<std::uint32_t> recorded_blocks_{0};
  std::atomic<std::uint32_t> overrun_blocks_{0};
  std::atomic<std::uint32_t> blocks_seen_{0};
  // Set while idle, read by the interrupt while recording.
  std::uint32_t max_blocks_ = 0;  // 0: no limit
  wire::EndReason limit_reason_{};  // set by RequestStart
  // Main loop only.
  std::uint32_t sent_blocks_ = 0;
  std::uint32_t session_id_ = 0;
  std::uint32_t sequence_ = 0;
  std::uint32_t last_status_block_ = 0;
  bool session_due_ = false;
  bool status_due_ = false;
  ResendRange resend_ranges_[wire::kMaxResendRanges] = {};
  std::uint8_t resend_range_count_ = 0;  // non-zero while a RESEND is being served
  std::uint8_t resend_range_ = 0;
  std::uint32_t resend_block_ = 0;
  wire::CommandReceiver receiver_;
  bool reply_due_ = false;
  std::uint8_t reply_[kReplyFixedBytes + 255 + kDescriptionBytes] = {};
  std::size_t reply_bytes_ = 0;
  std::uint8_t capabilities_[kDescriptionBytes] = {};
  std::uint8_t session_payload_[kDescriptionBytes] = {};
  std::size_t session_bytes_ = 0;
  std::uint8_t tx_[wire::kMaxEncodedFrameBytes] = {};
  std::size_t tx_size_ = 0;
  std::size_t tx_sent_ = 0;
};

}  // namespace daisynet
