// daisynet wire protocol, version 1: how the datalogger streams a recording over USB serial.
// firmware/core/WIRE_PROTOCOL.md is the specification; tools/wire.py is the host decoder.
//
// A frame is header + payload + CRC-32, COBS-encoded and followed by one 0x00 delimiter, so a
// receiver that joins mid-stream or loses bytes resynchronises at the next 0x00. Everything is
// little-endian (the Cortex-M7 and every host we target are, so payloads are plain memcpy).
//
// Portable: standard headers only, no heap, no exceptions. Builders write into caller buffers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace daisynet {
namespace wire {

constexpr std::uint16_t kMagic = 0x4E44;  // bytes 'D' 'N' on the wire
constexpr std::uint8_t kProtocolVersion = 1;
constexpr std::size_t kHeaderBytes = 8;  // magic u16, version u8, type u8, sequence u32
constexpr std::size_t kCrcBytes = 4;
constexpr std::uint8_t kDelimiter = 0x00;
// Largest payload a frame may carry; receivers discard anything longer as garbage.
constexpr std::size_t kMaxPayloadBytes = 4096;
constexpr std::size_t kMaxFrameBytes = kHeaderBytes + kMaxPayloadBytes + kCrcBytes;
// COBS adds one code byte per 254 data bytes (plus one), then the delimiter follows.
constexpr std::size_t MaxEncodedBytes(std::size_t decoded) { return decoded + decoded / 254 + 2; }
constexpr std::size_t kMaxEncodedFrameBytes = MaxEncodedBytes(kMaxFrameBytes);

enum class FrameType : std::uint8_t {
  kSession = 1,  // what the recording is: rates, block size, channel names
  kData = 2,     // one audio block: first frame index, samples, per-block controls
  kStatus = 3,   // heartbeat and counters, also while idle
  kEnd = 4,      // the recording is over: why, and totals
};

enum class EndReason : std::uint8_t {
  kStopped = 1,        // the encoder was pressed again
  kDurationReached = 2,  // the requested number of frames was recorded
  kInputEnded = 3,     // emulated device: its input file or generator ran out
};

enum class RecorderState : std::uint8_t { kIdle = 0, kRecording = 1, kDraining = 2 };

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
  for (std::size_t i = 0; i < size; ++i) crc = detail::kCrcTable[(crc ^ data[i]) & 0xFFU] ^ (crc >> 8);
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
  PutU16(header, kMagic);
  header[2] = kProtocolVersion;
  header[3] = static_cast<std::uint8_t>(type);
  PutU32(header + 4, sequence);
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

}  // namespace wire
}  // namespace daisynet
