// The datalogger without hardware: firmware/core's Recorder and wire protocol, compiled for the
// host, behind a model of the Daisy's USB link, on a pseudo-terminal that pyserial opens like
// the Daisy's USB serial port. Built and started by tools/capture/emulated_device.py.
//
// Prints the terminal's path (e.g. /dev/pts/7) on the first line of stdout. The host drives it
// as it drives the Daisy: command frames on the terminal (HELLO, CONFIGURE, START, STOP,
// RESEND), or a line "press" on stdin for the encoder. Each recording plays the input from its
// start: a raw float32 file of whole audio blocks, each block_size frames x 4 audio channels
// (frame-major) followed by the 4 control values of the block. When the input ends the
// recording stops (END reason "input ended"). The device stays plugged in until stdin closes,
// then prints a JSON summary line on stdout.
//
// Time is virtual: each virtual millisecond one 48-frame block reaches the recorder (48 kHz),
// the main loop fills the CDC transmit queue (--queue-packets x 64 bytes, as STM32duino's
// CDC_TRANSMIT_QUEUE_BUFFER_PACKET_NUMBER; the recorder writes only into free space, as with
// availableForWrite()), and the link moves at most --link-rate bytes/s from the queue to the
// terminal in 64-byte packets, one 1 ms USB frame at a time; a short packet uses a whole slot.
// When the host is slow to read, virtual time waits for it (on hardware the host OS keeps up).
// While the device has nothing to do, virtual time follows the wall clock, so idle heartbeats
// come every 0.5 s; --realtime ties it to the wall clock always.
//
// Faults act between the link and the terminal, as a bad cable or a host that loses USB
// packets would: flipped bytes (optionally in bursts, as a lost 64-byte packet), dropped
// frames, a stream that stops (truncate), a disconnect (the terminal closes, as when the Daisy
// is unplugged), and stalls (the link moves nothing for a while). --fault-log lists every
// frame (by sequence number) a fault touched, so tests know which frames must arrive intact.
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "recorder.h"

namespace {

constexpr std::uint32_t kSampleRate = 48000;  // Hz, as DAISY.init(DAISY_PATCH, AUDIO_SR_48K)
constexpr std::uint16_t kBlockSize = 48;      // frames, DaisyDuino's default audio block
constexpr std::uint8_t kAudioChannels = 4;
constexpr std::uint8_t kControlChannels = 4;
constexpr std::uint32_t kStatusIntervalBlocks = 500;  // 0.5 s at 48 kHz / 48
constexpr std::size_t kPacketBytes = 64;              // USB full-speed bulk packet
constexpr int kUsbFramesPerSecond = 1000;             // one USB frame per millisecond
const char* const kChannelNames[] = {"audio_in_1", "audio_in_2", "audio_in_3", "audio_in_4",
                                     "knob_1",     "knob_2",     "knob_3",     "knob_4"};
const char kFirmwareVersion[] = "daisynet-datalogger 0.2.0 (emulated)";

struct Options {
  const char* input = nullptr;
  std::size_t sdram_bytes = 60u * 1024u * 1024u;  // the Daisy's store: 60 MiB of its SDRAM
  double link_rate = 1000000.0;                   // bytes/s: USB full-speed CDC, planned
  std::size_t queue_packets = 16;  // -D CDC_TRANSMIT_QUEUE_BUFFER_PACKET_NUMBER=16: 1 KiB
  bool realtime = false;           // virtual time follows the wall clock always
  double flip_rate = 0.0;          // fraction of bytes corrupted
  std::size_t flip_burst = 1;      // consecutive bytes per corruption event
  double drop_rate = 0.0;          // fraction of frames dropped whole (never the first)
  long long truncate_at = -1;      // stop sending after this many bytes, stay connected
  long long disconnect_at = -1;    // close the terminal after this many bytes
  long long stall_every = 0;       // link bytes between stalls
  int stall_ms = 0;                // length of each stall, virtual milliseconds
  unsigned seed = 1;
  const char* fault_log = nullptr;
};

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "emulated_datalogger: %s: %s\n", what, std::strerror(errno));
  std::exit(2);
}

// STM32duino's CDC transmit queue: a ring of queue_packets x 64 bytes that USBSerial::write()
// fills and the USB interrupt empties one packet at a time.
class TransmitQueue : public daisynet::ByteSink {
 public:
  explicit TransmitQueue(std::size_t packets) : bytes_(packets * kPacketBytes) {}

  // As availableForWrite() + write(): takes only what fits, never blocks.
  std::size_t Write(const std::uint8_t* data, std::size_t size) override {
    const std::size_t taken = std::min(size, bytes_.size() - used_);
    for (std::size_t i = 0; i < taken; ++i) bytes_[(head_ + used_ + i) % bytes_.size()] = data[i];
    used_ += taken;
    return taken;
  }

  // Up to one packet's worth of the oldest bytes; returns how many.
  std::size_t TakePacket(std::uint8_t* packet) {
    const std::size_t size = std::min(used_, kPacketBytes);
    for (std::size_t i = 0; i < size; ++i) packet[i] = bytes_[(head_ + i) % bytes_.size()];
    head_ = (head_ + size) % bytes_.size();
    used_ -= size;
    return size;
  }

  bool empty() const { return used_ == 0; }

 private:
  std::vector<std::uint8_t> bytes_;
  std::size_t head_ = 0;
  std::size_t used_ = 0;
};

// The pseudo-terminal's master side, with the faults between the link and it. Takes every
// byte the link sends; what the terminal cannot take yet waits in `pending_`.
class FaultyTerminal {
 public:
  FaultyTerminal(int master, const Options& options, std::FILE* log)
      : master_(master), options_(options), log_(log), random_(options.seed) {}

  // Queues bytes for the terminal; busy() writes them.
  void Write(const std::uint8_t* data, std::size_t size) {
    for (std::size_t i = 0; i < size; ++i) {
      const std::uint8_t byte = data[i];
      if (at_frame_start_) {
        dropping_ = sequence_ > 0 && Chance(options_.drop_rate);
        if (dropping_) Log("dropped", sequence_);
        at_frame_start_ = false;
      }
      if (!dropping_ && !silent()) pending_.push_back(Corrupt(byte));
      if (byte == daisynet::wire::kDelimiter) {
        at_frame_start_ = true;
        ++sequence_;
      }
    }
  }

  // Bytes from the host: what the terminal has, up to `size`, without waiting.
  std::size_t Read(std::uint8_t* data, std::size_t size) {
    if (master_ < 0) return 0;
    const ssize_t got = read(master_, data, size);
    return got > 0 ? static_cast<std::size_t>(got) : 0;
  }

  // Waits up to a millisecond for the terminal to take more or for host bytes (or stdin).
  void Wait(bool for_output) {
    pollfd ready[2] = {{master_, static_cast<short>(POLLIN | (for_output ? POLLOUT : 0)), 0},
                       {STDIN_FILENO, POLLIN, 0}};
    poll(ready, 2, 1);
  }

  bool busy() {
    Flush();
    return !pending_.empty();
  }
  bool connected() const { return master_ >= 0; }
  long long sent() const { return sent_; }

 private:
  bool silent() const { return master_ < 0 || truncated_; }

  bool Chance(double probability) {
    return probability > 0.0 &&
           std::uniform_real_distribution<double>(0.0, 1.0)(random_) < probability;
  }

  std::uint8_t Corrupt(std::uint8_t byte) {
    const double event_rate = options_.flip_rate / static_cast<double>(options_.flip_burst);
    if (burst_left_ == 0 && Chance(event_rate)) burst_left_ = options_.flip_burst;
    if (burst_left_ == 0) return byte;
    --burst_left_;
    // A damaged delimiter also costs the frame after it, which the host sees glued on.
    Log(byte == daisynet::wire::kDelimiter ? "corrupted_delimiter" : "corrupted", sequence_);
    return static_cast<std::uint8_t>(byte ^ std::uniform_int_distribution<int>(1, 255)(random_));
  }

  void Log(const char* what, std::uint32_t sequence) {
    if (log_ == nullptr || (what == last_logged_ && sequence == last_logged_sequence_)) return;
    std::fprintf(log_, "%s %u\n", what, sequence);
    last_logged_ = what;
    last_logged_sequence_ = sequence;
  }

  // Writes pending bytes as far as the terminal and the cut-off points allow.
  void Flush() {
    while (done_ < pending_.size() && !silent()) {
      long long room = static_cast<long long>(pending_.size() - done_);
      for (long long limit : {options_.truncate_at, options_.disconnect_at}) {
        if (limit >= 0) room = std::min(room, std::max(0LL, limit - sent_));
      }
      if (room == 0) {
        if (options_.disconnect_at >= 0 && sent_ >= options_.disconnect_at) {
          close(master_);  // the host's reads now fail, as when the USB cable is pulled
          master_ = -1;
        } else {
          truncated_ = true;
        }
        break;
      }
      const ssize_t written =
          write(master_, pending_.data() + done_, static_cast<std::size_t>(room));
      if (written < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        Fail("write to terminal");
      }
      done_ += static_cast<std::size_t>(written);
      sent_ += written;
    }
    if (done_ == pending_.size() || silent()) {
      pending_.clear();
      done_ = 0;
    }
  }

  int master_;
  const Options& options_;
  std::FILE* log_;
  std::mt19937_64 random_;
  std::vector<std::uint8_t> pending_;
  std::size_t done_ = 0;  // bytes of pending_ already written
  std::uint32_t sequence_ = 0;  // of the frame whose bytes come next (the recorder counts alike)
  bool at_frame_start_ = true;
  bool dropping_ = false;
  bool truncated_ = false;
  std::size_t burst_left_ = 0;
  long long sent_ = 0;
  const char* last_logged_ = nullptr;
  std::uint32_t last_logged_sequence_ = 0;
};

// The USB link: each 1 ms USB frame moves whole 64-byte packet slots from the transmit queue,
// as many as link_rate allows (fractions carry over to the next frame, so the long-run rate is
// exactly link_rate; unused slots do not). Stalls: after every stall_every bytes the link moves
// nothing for stall_ms frames, as when the host stops polling.
class UsbLink {
 public:
  explicit UsbLink(const Options& options)
      : slots_per_frame_(options.link_rate / kUsbFramesPerSecond / kPacketBytes),
        options_(options),
        next_stall_at_(options.stall_every) {}

  // One USB frame: the main loop refills the queue between packets (it runs far faster than
  // packets go out). Returns the bytes moved.
  std::size_t RunFrame(long long now_ms, daisynet::Recorder& recorder, TransmitQueue& queue,
                       FaultyTerminal& terminal) {
    credit_ += slots_per_frame_;
    const auto slots = static_cast<long long>(std::floor(credit_));
    credit_ -= static_cast<double>(slots);
    if (now_ms < stalled_until_ms_) return 0;
    std::size_t moved = 0;
    for (long long slot = 0; slot < slots; ++slot) {
      recorder.Poll(queue);
      std::uint8_t packet[kPacketBytes];
      const std::size_t size = queue.TakePacket(packet);
      if (size == 0) break;
      terminal.Write(packet, size);
      moved += size;
      ++packets_;
      bytes_ += static_cast<long long>(size);
      if (options_.stall_every > 0 && bytes_ >= next_stall_at_) {
        next_stall_at_ += options_.stall_every;
        stalled_until_ms_ = now_ms + 1 + options_.stall_ms;
        break;
      }
    }
    recorder.Poll(queue);
    return moved;
  }

  long long packets() const { return packets_; }
  long long bytes() const { return bytes_; }

 private:
  const double slots_per_frame_;
  const Options& options_;
  double credit_ = 0.0;
  long long packets_ = 0;
  long long bytes_ = 0;
  long long next_stall_at_;  // link bytes
  long long stalled_until_ms_ = 0;
};

Options ParseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "emulated_datalogger: %s needs a value\n", argv[i]);
      std::exit(2);
    }
    const char* value = argv[++i];
    if (flag == "--input") options.input = value;
    else if (flag == "--sdram-bytes") options.sdram_bytes = std::strtoull(value, nullptr, 10);
    else if (flag == "--link-rate") options.link_rate = std::atof(value);
    else if (flag == "--queue-packets") options.queue_packets = std::strtoull(value, nullptr, 10);
    else if (flag == "--realtime") options.realtime = std::atoi(value) != 0;
    else if (flag == "--flip-rate") options.flip_rate = std::atof(value);
    else if (flag == "--flip-burst") options.flip_burst = std::max(1ULL, std::strtoull(value, nullptr, 10));
    else if (flag == "--drop-rate") options.drop_rate = std::atof(value);
    else if (flag == "--truncate-at") options.truncate_at = std::atoll(value);
    else if (flag == "--disconnect-at") options.disconnect_at = std::atoll(value);
    else if (flag == "--stall-every") options.stall_every = std::atoll(value);
    else if (flag == "--stall-ms") options.stall_ms = std::atoi(value);
    else if (flag == "--seed") options.seed = static_cast<unsigned>(std::strtoul(value, nullptr, 10));
    else if (flag == "--fault-log") options.fault_log = value;
    else {
      std::fprintf(stderr, "emulated_datalogger: unknown option %s\n", flag.c_str());
      std::exit(2);
    }
  }
  if (options.input == nullptr) {
    std::fprintf(stderr, "emulated_datalogger: --input FILE is required\n");
    std::exit(2);
  }
  if (options.link_rate < kPacketBytes || options.queue_packets == 0) {
    std::fprintf(stderr, "emulated_datalogger: --link-rate must be >= 64 B/s and "
                         "--queue-packets >= 1\n");
    std::exit(2);
  }
  return options;
}

// A raw pseudo-terminal: no echo, no line editing, no CR/LF translation, so binary passes as is.
int OpenTerminal(std::string& slave_path, int& slave) {
  const int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) Fail("posix_openpt");
  slave_path = ptsname(master);
  // Holding the slave open keeps the terminal alive between host connections, and raw mode
  // must be set before the first byte arrives or the line discipline would mangle it.
  slave = open(slave_path.c_str(), O_RDWR | O_NOCTTY);
  if (slave < 0) Fail("open terminal");
  termios settings{};
  tcgetattr(slave, &settings);
  cfmakeraw(&settings);
  tcsetattr(slave, TCSANOW, &settings);
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  return master;
}

// What the process that started us says on stdin: "press" (the encoder) or nothing; EOF means
// it is done with the device (unplug).
enum class HostEvent { kNone, kPress, kUnplug };

HostEvent ReadStdin() {
  pollfd stdin_ready{STDIN_FILENO, POLLIN, 0};
  if (poll(&stdin_ready, 1, 0) <= 0) return HostEvent::kNone;
  char line[64];
  const ssize_t size = read(STDIN_FILENO, line, sizeof line);
  if (size <= 0) return HostEvent::kUnplug;
  return std::memchr(line, 'p', static_cast<std::size_t>(size)) ? HostEvent::kPress
                                                                 : HostEvent::kNone;
}

// The input file, one block at a time, rewound for every recording.
class Input {
 public:
  explicit Input(const char* path) : file_(std::fopen(path, "rb")) {
    if (file_ == nullptr) Fail(path);
    for (std::size_t c = 0; c < kAudioChannels; ++c) pointers_[c] = &channels_[c * kBlockSize];
  }
  ~Input() { std::fclose(file_); }

  void Rewind() { std::rewind(file_); }

  // Reads the next block into the audio callback's layout; false at the end of the input.
  bool Next() {
    if (std::fread(block_.data(), sizeof(float), block_.size(), file_) != block_.size()) {
      return false;
    }
    for (std::size_t frame = 0; frame < kBlockSize; ++frame) {
      for (std::size_t c = 0; c < kAudioChannels; ++c) {
        channels_[c * kBlockSize + frame] = block_[frame * kAudioChannels + c];
      }
    }
    return true;
  }

  // Silence, for the audio callbacks outside a recording.
  void Silence() {
    std::fill(channels_.begin(), channels_.end(), 0.0f);
    std::fill(block_.begin(), block_.end(), 0.0f);
  }

  const float* const* audio() const { return pointers_; }
  const float* controls() const { return &block_[std::size_t{kBlockSize} * kAudioChannels]; }

 private:
  std::FILE* file_;
  std::vector<float> block_ = std::vector<float>(std::size_t{kBlockSize} * kAudioChannels +
                                                 kControlChannels);
  std::vector<float> channels_ = std::vector<float>(std::size_t{kBlockSize} * kAudioChannels);
  const float* pointers_[kAudioChannels] = {};
};

}  // namespace

int main(int argc, char** argv) {
  const Options options = ParseOptions(argc, argv);
  Input input(options.input);
  std::FILE* fault_log = nullptr;
  if (options.fault_log != nullptr && (fault_log = std::fopen(options.fault_log, "w")) == nullptr) {
    Fail(options.fault_log);
  }

  const daisynet::DeviceConfig device{kSampleRate,     kBlockSize,      kAudioChannels,
                                      kControlChannels, kFirmwareVersion, kChannelNames};
  // The SDRAM store lives in host memory; the Daisy does not zero it either.
  std::vector<std::uint64_t> store((options.sdram_bytes + 7) / 8);
  static daisynet::Recorder recorder;  // holds ~7 KB of frame buffers, as a global would
  if (!recorder.Init(device, reinterpret_cast<std::uint8_t*>(store.data()), options.sdram_bytes,
                     kStatusIntervalBlocks)) {
    std::fprintf(stderr, "emulated_datalogger: recorder rejected the configuration "
                         "(--sdram-bytes too small?)\n");
    return 2;
  }

  std::string slave_path;
  int slave = -1;
  const int master = OpenTerminal(slave_path, slave);
  std::printf("%s\n", slave_path.c_str());
  std::fflush(stdout);
  FaultyTerminal terminal(master, options, fault_log);
  TransmitQueue queue(options.queue_packets);
  UsbLink link(options);

  // Host -> device bytes not yet taken (the CDC receive buffer), and statistics.
  std::vector<std::uint8_t> received(4096);
  std::size_t received_from = 0, received_to = 0;
  long long now_ms = 0, recording_ms = 0, sending_ms = 0, blocks_played = 0;
  long long max_bytes_in_a_frame = 0;
  std::uint32_t session = 0;
  bool input_left = false;
  bool unplugged = false;
  // The encoder ("press") and unplugging (stdin closed).
  auto handle_stdin = [&]() {
    const HostEvent event = ReadStdin();
    if (event == HostEvent::kUnplug) unplugged = true;
    if (event == HostEvent::kPress && !recorder.RequestStart()) {
      recorder.RequestStop(daisynet::wire::EndReason::kStopped);
    }
  };
  const auto wall_start = std::chrono::steady_clock::now();
  while (!unplugged) {
    handle_stdin();
    // Host commands, one REPLY at a time (as loop() on the Daisy).
    for (;;) {
      while (received_from < received_to && recorder.ready_for_command()) {
        recorder.Receive(received[received_from++]);
      }
      if (received_from < received_to) break;  // a REPLY waits to be sent; the rest waits
      received_from = 0;
      received_to = terminal.Read(received.data(), received.size());
      if (received_to == 0) break;
    }
    // The audio callback: a block of the input while recording, silence otherwise.
    if (recorder.session_id() != session) {
      session = recorder.session_id();
      input.Rewind();
      input_left = true;
    }
    if (recorder.state() == daisynet::wire::RecorderState::kRecording) {
      ++recording_ms;
      if (input_left && !(input_left = input.Next())) {
        recorder.RequestStop(daisynet::wire::EndReason::kInputEnded);
      }
      if (!input_left) input.Silence();
      blocks_played += input_left;
    } else {
      input.Silence();
    }
    recorder.ProcessBlock(input.audio(), input.controls());
    const auto moved = static_cast<long long>(link.RunFrame(now_ms, recorder, queue, terminal));
    max_bytes_in_a_frame = std::max(max_bytes_in_a_frame, moved);
    sending_ms += moved > 0;
    ++now_ms;
    // Virtual time waits for a slow host, and for the wall clock when there is nothing to do.
    while (!unplugged && terminal.connected() && terminal.busy()) {
      terminal.Wait(true);
      handle_stdin();
    }
    const bool idle = recorder.state() == daisynet::wire::RecorderState::kIdle &&
                      queue.empty() && recorder.tx_idle();
    if (options.realtime) {
      std::this_thread::sleep_until(wall_start + std::chrono::milliseconds(now_ms));
    } else if (idle) {
      terminal.Wait(false);
    }
  }
  if (fault_log != nullptr) std::fclose(fault_log);
  const double wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  std::printf(
      "{\"blocks_played\": %lld, \"frames_on_wire\": %u, \"bytes_to_terminal\": %lld, "
      "\"link_bytes\": %lld, \"link_packets\": %lld, \"link_rate\": %.0f, "
      "\"max_bytes_in_a_usb_frame\": %lld, \"overrun_blocks\": %u, \"virtual_seconds\": %.3f, "
      "\"recording_seconds\": %.3f, \"sending_seconds\": %.3f, \"wall_seconds\": %.3f, "
      "\"disconnected\": %s}\n",
      blocks_played, recorder.frames_on_wire(), terminal.sent(), link.bytes(), link.packets(),
      options.link_rate, max_bytes_in_a_frame, recorder.overrun_blocks(), now_ms / 1000.0,
      recording_ms / 1000.0, sending_ms / 1000.0, wall_seconds,
      terminal.connected() ? "false" : "true");
  close(slave);
  if (terminal.connected()) close(master);
  return 0;
}
