// daisynet wire protocol, version 2: how the datalogger and `daisynet capture` talk over USB
// serial. firmware/core/WIRE_PROTOCOL.md is the specification; tools/capture/wire.py is the host
// side.
//
// A frame is header + payload + CRC-32, COBS-encoded and followed by one 0x00 delimiter, so a
// receiver that joins mid-stream or loses bytes resynchronises at the next 0x00. Both
// directions use the same framing: the device sends SESSION/DATA/STATUS/END/REPLY, the host
// sends commands (HELLO, CONFIGURE, START, STOP, RESEND). Everything is little-endian (the
// Cortex-M7 and every host we target are, so float payloads are plain memcpy).
//
// Portable: standard headers only, no heap, no exceptions. Builders write into caller buffers.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace daisynet {
namespace wire {

constexpr std::uint16_t kMagic = 0x4E44;  // bytes 'D' 'N' on the wire
constexpr std::uint8_t kProtocolVersion = 2;

// --- layouts ---------------------------------------------------------------------------------
// Where each fixed field of the frame header and of every payload sits: byte offset and size,
// little-endian. These are the one statement of the layouts: the recorder reads and writes
// through them, and tests/tools/capture/test_layouts.py pins the host's tables
// (tools/capture/wire.py) to every name, offset and size here. Texts (the firmware version,
// channel names) follow a fixed part as u8 length + UTF-8.
struct Field {
  std::size_t offset;
  std::size_t size;
};

namespace header_layout {  // every frame, before its payload
constexpr Field kMagic{0, 2};
constexpr Field kVersion{2, 1};
constexpr Field kType{3, 1};
constexpr Field kSequence{4, 4};
constexpr std::size_t kBytes = 8;
}  // namespace header_layout

namespace counters_layout {  // STATUS and END
constexpr Field kCode{0, 1};  // STATUS: the RecorderState; END: the EndReason
constexpr Field kSessionId{1, 4};
constexpr Field kFramesRecorded{5, 8};
constexpr Field kFramesSent{13, 8};
constexpr Field kOverrunBlocks{21, 4};
constexpr Field kBufferedBlocks{25, 4};
constexpr std::size_t kBytes = 29;
}  // namespace counters_layout

namespace session_layout {  // SESSION; texts follow: firmware version, audio then control names
constexpr Field kSessionId{0, 4};
constexpr Field kSampleRate{4, 4};
constexpr Field kBlockSize{8, 2};
constexpr Field kMode{10, 1};
constexpr Field kSampleFormat{11, 1};
constexpr Field kScale{12, 4};  // float32: value = integer * scale
constexpr Field kChannelMask{16, 1};
constexpr Field kAudioChannels{17, 1};
constexpr Field kControlChannels{18, 1};
constexpr Field kMaxFrames{19, 8};  // 0: until stopped
constexpr std::size_t kBytes = 27;
}  // namespace session_layout

// HELLO's REPLY body: what the device offers, then its state and current configuration; texts
// follow: firmware version, every audio then control channel name.
namespace capabilities_layout {
constexpr Field kSampleRate{0, 4};
constexpr Field kBlockSize{4, 2};
constexpr Field kAudioChannels{6, 1};
constexpr Field kControlChannels{7, 1};
constexpr Field kFormats{8, 1};  // bit (format - 1) for every SampleFormat offered
constexpr Field kStoreBytes{9, 8};
constexpr Field kState{17, 1};
constexpr Field kMode{18, 1};
constexpr Field kSampleFormat{19, 1};
constexpr Field kChannelMask{20, 1};
constexpr Field kMaxFrames{21, 8};
constexpr std::size_t kBytes = 29;
}  // namespace capabilities_layout

namespace reply_layout {  // REPLY; the message (kMessageLength bytes) and any body follow
constexpr Field kCommand{0, 1};  // the CommandType answered, 0 when the frame was too damaged
constexpr Field kCommandSequence{1, 4};
constexpr Field kCode{5, 1};  // ReplyCode
constexpr Field kMessageLength{6, 1};
constexpr std::size_t kBytes = 7;
}  // namespace reply_layout

namespace configure_layout {  // CONFIGURE
constexpr Field kMode{0, 1};
constexpr Field kSampleFormat{1, 1};
constexpr Field kChannelMask{2, 1};
constexpr Field kMaxFrames{3, 8};
constexpr std::size_t kBytes = 11;
}  // namespace configure_layout

namespace data_layout {  // DATA; the block's audio (frame-major) and float32 controls follow
constexpr Field kFirstFrame{0, 8};
constexpr std::size_t kBytes = 8;
}  // namespace data_layout

namespace resend_layout {  // RESEND; kRangeCount resend_range_layout ranges follow
constexpr Field kSessionId{0, 4};
constexpr Field kRangeCount{4, 1};
constexpr std::size_t kBytes = 5;
}  // namespace resend_layout

namespace resend_range_layout {  // one range of stored blocks to send again
constexpr Field kFirstBlock{0, 4};
constexpr Field kBlockCount{4, 4};
constexpr std::size_t kBytes = 8;
}  // namespace resend_range_layout

constexpr std::size_t kHeaderBytes = header_layout::kBytes;
constexpr std::size_t kCrcBytes = 4;
constexpr std::uint8_t kDelimiter = 0x00;
// Largest payload a frame may carry; receivers discard anything longer as garbage.
constexpr std::size_t kMaxPayloadBytes = 4096;
constexpr std::size_t kMaxFrameBytes = kHeaderBytes + kMaxPayloadBytes + kCrcBytes;
// COBS adds one code byte per 254 data bytes (plus one), then the delimiter follows.
constexpr std::size_t MaxEncodedBytes(std::size_t decoded) { return decoded + decoded / 254 + 2; }
constexpr std::size_t kMaxEncodedFrameBytes = MaxEncodedBytes(kMaxFrameBytes);

// Device to host.
enum class FrameType : std::uint8_t {
  kSession = 1,  // what the recording is: mode, sample format, channel names
  kData = 2,     // one audio block: first frame index, samples, per-block controls
  kStatus = 3,   // heartbeat and counters, also while idle
  kEnd = 4,      // a recording or a transfer is over: why, and totals
  kReply = 5,    // the answer to one host command: ok or an error code and text
};

// Host to device.
enum class CommandType : std::uint8_t {
  kHello = 16,      // who are you: the REPLY carries the device's capabilities
  kConfigure = 17,  // mode, sample format, channel mask, frame limit of the next recording
  kStart = 18,      // start recording with the current configuration
  kStop = 19,       // stop recording (live: send what is buffered; record: start the transfer)
  kResend = 20,     // record mode: send these stored blocks again
};

enum class ReplyCode : std::uint8_t {
  kOk = 0,
  kBadFrame = 1,        // bad COBS, CRC, length, magic or version
  kUnknownCommand = 2,  // a frame type the device does not take
  kBadArguments = 3,    // payload length or values out of range
  kBusy = 4,            // not possible in the recorder's current state
};

enum class EndReason : std::uint8_t {
  kStopped = 1,          // the encoder was pressed again
  kDurationReached = 2,  // the requested number of frames was recorded
  kInputEnded = 3,       // emulated device: its input file ran out
  kHostStopped = 4,      // a STOP command
  kStoreFull = 5,        // record mode: the SDRAM store is full
  kResendDone = 6,       // the blocks a RESEND asked for have all been sent
};

enum class RecorderState : std::uint8_t {
  kIdle = 0,
  kRecording = 1,     // live: streaming; record: filling the store, nothing sent but STATUS
  kDraining = 2,      // live: sending what is still buffered, then END
  kTransferring = 3,  // record: sending the store, then END
};

enum class Mode : std::uint8_t {
  kLive = 1,    // DATA frames stream while recording; the ring absorbs USB stalls
  kRecord = 2,  // record into the store first, transfer after: any rate the link gives
};

// How DATA frames carry audio samples. Controls are always float32.
enum class SampleFormat : std::uint8_t {
  kS24 = 1,  // 3-byte little-endian two's complement, value = integer * 2^-22 (full scale +-2)
  kS16 = 2,  // 2-byte little-endian two's complement, value = integer * 2^-14 (full scale +-2)
  kF32 = 3,  // IEEE float32 as the audio callback delivered it
};

constexpr std::size_t SampleBytes(SampleFormat format) {
  return format == SampleFormat::kS24 ? 3 : format == SampleFormat::kS16 ? 2 : 4;
}

// log2 of the scale (value = integer * 2^exponent). The Daisy Patch's codec is 24-bit and
// DaisyDuino hands the callback s24 * 2^-23 / postgain (0.5) = s24 * 2^-22, so s24 at 2^-22 is
// lossless for real Patch audio; s16 keeps the same +-2.0 full scale, 16 bits coarser.
constexpr int ScaleExponent(SampleFormat format) {
  return format == SampleFormat::kS24 ? -22 : format == SampleFormat::kS16 ? -14 : 0;
}

// 1 / scale: 2^22 (s24) or 2^14 (s16). A power of two, so value * InverseScale is exact.
constexpr float InverseScale(SampleFormat format) {
  return format == SampleFormat::kS24 ? 4194304.0f : format == SampleFormat::kS16 ? 16384.0f : 1.0f;
}

// The one float -> integer rule, reproduced by tools/capture/wire.py (quantize): scale by a
// power of two (exact, or +-inf beyond float range), NaN -> 0, saturate to the format's range
// (never wrap around), then round to nearest with ties to even (IEEE default rounding, as
// std::nearbyint and numpy.rint do).
inline std::int32_t QuantizeSample(float value, SampleFormat format) {
  const bool s24 = format == SampleFormat::kS24;
  const float highest = s24 ? 8388607.0f : 32767.0f;
  const float lowest = s24 ? -8388608.0f : -32768.0f;
  const float scaled = value * InverseScale(format);
  if (std::isnan(scaled)) return 0;
  if (scaled >= highest) return static_cast<std::int32_t>(highest);
  if (scaled <= lowest) return static_cast<std::int32_t>(lowest);
  return static_cast<std::int32_t>(std::nearbyint(scaled));
}

// Writes one sample in `format` at `out` (SampleBytes(format) bytes, little-endian).
inline void PutSample(std::uint8_t* out, float value, SampleFormat format) {
  if (format == SampleFormat::kF32) {
    std::memcpy(out, &value, sizeof value);
    return;
  }
  const auto integer = static_cast<std::uint32_t>(QuantizeSample(value, format));
  for (std::size_t i = 0; i < SampleBytes(format); ++i) {
    out[i] = static_cast<std::uint8_t>(integer >> (8 * i));
  }
}

// Channel mask (CONFIGURE, SESSION): bit i selects the device's audio input i + 1 (bits 0..3),
// bit 4 + i its control i + 1 (knob/CV, bits 4..7).
constexpr std::uint8_t kAudioMaskBits = 4;
constexpr std::uint8_t kMaxAudioChannels = 4;
constexpr std::uint8_t kMaxControlChannels = 4;

// CRC-32 as IEEE 802.3, zlib and Python's zlib.crc32 compute it (reflected polynomial
// 0xEDB88320, initial value and final XOR 0xFFFFFFFF). A 1 KiB table: about 8 cycles per byte
// on the Cortex-M7, ~1% of the CPU at the datalogger's 0.8 MB/s.
namespace detail {
constexpr std::array<std::uint32_t, 256> MakeCrcTable() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t n = 0; n < 256; ++n) {
    std::uint32_t c = n;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1U) ? 0xEDB88320U ^ (c >> 1) : c >> 1;
    table[n] = c;
  }
  return table;
}
inline constexpr std::array<std::uint32_t, 256> kCrcTable = MakeCrcTable();
}  // namespace detail

// Running CRC: start with crc = 0, feed chunks, the return value is the CRC of all of them.
inline std::uint32_t Crc32(std::uint32_t crc, const std::uint8_t* data, std::size_t size) {
  crc = ~crc;
  for (std::size_t i = 0; i < size; ++i) {
    crc = detail::kCrcTable[(crc ^ data[i]) & 0xFFU] ^ (crc >> 8);
  }
  return ~crc;
}

// Streaming COBS encoder into a caller buffer of at least MaxEncodedBytes(total input) bytes.
// Add() as many chunks as the frame has, then Finish() appends the delimiter and returns the
// encoded size. One pass, no copy of the input.
class CobsWriter {
 public:
  explicit CobsWriter(std::uint8_t* out) : out_(out), code_at_(0), size_(1), code_(1) {}

  void Add(const std::uint8_t* data, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) {
      if (data[i] != 0) {
        out_[size_++] = data[i];
        ++code_;
      }
      if (data[i] == 0 || code_ == 0xFF) {
        out_[code_at_] = code_;
        code_at_ = size_++;
        code_ = 1;
      }
    }
  }

  std::size_t Finish() {
    out_[code_at_] = code_;
    out_[size_++] = kDelimiter;
    return size_;
  }

 private:
  std::uint8_t* out_;
  std::size_t code_at_;  // where the pending code byte goes
  std::size_t size_;     // bytes written so far, including the pending code byte's slot
  std::uint8_t code_;    // 1 + non-zero bytes since the pending code byte
};

inline void PutU16(std::uint8_t* out, std::uint16_t value) {
  out[0] = static_cast<std::uint8_t>(value);
  out[1] = static_cast<std::uint8_t>(value >> 8);
}

inline void PutU32(std::uint8_t* out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<std::uint8_t>(value >> (8 * i));
}

inline void PutU64(std::uint8_t* out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(value >> (8 * i));
}

// Encodes one frame whose payload is the concatenation of `parts` (so a DATA frame goes
// straight from the recording buffer to the wire). `out` must hold kMaxEncodedFrameBytes.
// Returns the encoded size including the delimiter, or 0 if the payload is too long.
struct PayloadPart {
  const std::uint8_t* data;
  std::size_t size;
};

inline std::size_t EncodeFrame(FrameType type, std::uint32_t sequence, const PayloadPart* parts,
                               std::size_t part_count, std::uint8_t* out) {
  std::size_t payload = 0;
  for (std::size_t i = 0; i < part_count; ++i) payload += parts[i].size;
  if (payload > kMaxPayloadBytes) return 0;
  std::uint8_t header[kHeaderBytes];
  PutU16(header + header_layout::kMagic.offset, kMagic);
  header[header_layout::kVersion.offset] = kProtocolVersion;
  header[header_layout::kType.offset] = static_cast<std::uint8_t>(type);
  PutU32(header + header_layout::kSequence.offset, sequence);
  std::uint32_t crc = Crc32(0, header, sizeof header);
  CobsWriter cobs(out);
  cobs.Add(header, sizeof header);
  for (std::size_t i = 0; i < part_count; ++i) {
    crc = Crc32(crc, parts[i].data, parts[i].size);
    cobs.Add(parts[i].data, parts[i].size);
  }
  std::uint8_t crc_bytes[kCrcBytes];
  PutU32(crc_bytes, crc);
  cobs.Add(crc_bytes, sizeof crc_bytes);
  return cobs.Finish();
}

// --- host commands, received by the device -----------------------------------------------

// RESEND carries at most this many (first block, block count) ranges.
constexpr std::size_t kMaxResendRanges = 32;
// The longest command payload: RESEND with every range.
constexpr std::size_t kMaxCommandPayloadBytes =
    resend_layout::kBytes + resend_range_layout::kBytes * kMaxResendRanges;
constexpr std::size_t kMaxCommandFrameBytes = kHeaderBytes + kMaxCommandPayloadBytes + kCrcBytes;

inline std::uint16_t GetU16(const std::uint8_t* in) {
  return static_cast<std::uint16_t>(in[0] | (in[1] << 8));
}

inline std::uint32_t GetU32(const std::uint8_t* in) {
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i) value = (value << 8) | in[i];
  return value;
}

inline std::uint64_t GetU64(const std::uint8_t* in) {
  return (static_cast<std::uint64_t>(GetU32(in + 4)) << 32) | GetU32(in);
}

struct Command {
  std::uint8_t type;  // a CommandType value, or 0 when the frame was too damaged to tell
  std::uint32_t sequence;
  const std::uint8_t* payload;  // valid until the next Take()
  std::size_t size;
};

// Collects host command frames byte by byte in a fixed buffer: anything longer than the
// longest command is discarded up to the next delimiter. Take() returns kCommand when a
// delimiter completes a frame that passes every check, kBadFrame (with `error` set) when it
// completes one that does not, so the device can answer every frame.
class CommandReceiver {
 public:
  enum class Result : std::uint8_t { kNone, kCommand, kBadFrame };

  Result Take(std::uint8_t byte, Command& command, const char*& error) {
    if (byte != kDelimiter) {
      if (size_ < sizeof buffer_) {
        buffer_[size_++] = byte;
      } else {
        overlong_ = true;
      }
      return Result::kNone;
    }
    const std::size_t encoded = size_;
    const bool overlong = overlong_;
    size_ = 0;
    overlong_ = false;
    if (encoded == 0 && !overlong) return Result::kNone;  // back-to-back delimiters
    command = Command{0, 0, nullptr, 0};
    if (overlong) return Fail(error, "command frame too long");
    const std::size_t decoded = DecodeCobsInPlace(buffer_, encoded);
    if (decoded < kHeaderBytes + kCrcBytes) return Fail(error, "bad COBS or frame too short");
    const std::size_t body = decoded - kCrcBytes;
    if (Crc32(0, buffer_, body) != GetU32(buffer_ + body)) return Fail(error, "CRC mismatch");
    if (GetU16(buffer_ + header_layout::kMagic.offset) != kMagic) {
      return Fail(error, "not a daisynet frame");
    }
    command.type = buffer_[header_layout::kType.offset];
    command.sequence = GetU32(buffer_ + header_layout::kSequence.offset);
    if (buffer_[header_layout::kVersion.offset] != kProtocolVersion) {
      return Fail(error, "other protocol version");
    }
    command.payload = buffer_ + kHeaderBytes;
    command.size = body - kHeaderBytes;
    return Result::kCommand;
  }

 private:
  static Result Fail(const char*& error, const char* why) {
    error = why;
    return Result::kBadFrame;
  }

  // Decodes COBS in place (the output never outruns the input); returns the decoded size, or
  // 0 when a code byte points past the end.
  static std::size_t DecodeCobsInPlace(std::uint8_t* data, std::size_t size) {
    std::size_t in = 0, out = 0;
    while (in < size) {
      const std::uint8_t code = data[in++];
      if (code == 0 || in + code - 1 > size) return 0;
      for (std::uint8_t i = 1; i < code; ++i) data[out++] = data[in++];
      if (code != 0xFF && in < size) data[out++] = 0;
    }
    return out;
  }

  std::uint8_t buffer_[MaxEncodedBytes(kMaxCommandFrameBytes)] = {};
  std::size_t size_ = 0;
  bool overlong_ = false;
};

}  // namespace wire
}  // namespace daisynet
