// The datalogger without hardware: firmware/core's Recorder and wire encoder, compiled for the
// host, streaming into a pseudo-terminal that pyserial opens like the Daisy's USB serial port.
// Built and started by tools/emulated_device.py.
//
// Prints the terminal's path (e.g. /dev/pts/7) on the first line of stdout and idles until a
// line "press" on stdin presses the encoder (the host opens the terminal first, so nothing is
// lost to pyserial flushing its input on open). Then it plays the input: a raw float32 file of
// whole audio blocks, each block_size frames x audio channels (frame-major) followed by the
// control values of the block. When the input ends it stops the session (END reason "input
// ended"); it stays plugged in until stdin closes, then prints a JSON summary line on stdout.
//
// Fault injection acts on the encoded byte stream between the encoder and the terminal, as a
// bad cable or a host that loses USB packets would: flipped bytes (optionally in bursts, as a
// lost 64-byte USB packet), dropped frames, a stream that stops (truncate), stalls, and a
// disconnect (the terminal closes, as when the Daisy is unplugged). --fault-log lists every
// frame (by sequence number) a fault touched, so tests know which frames must arrive intact.
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
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
const char* const kChannelNames[] = {"audio_in_1", "audio_in_2", "audio_in_3", "audio_in_4",
                                     "knob_1",     "knob_2",     "knob_3",     "knob_4"};
const char kFirmwareVersion[] = "daisynet-datalogger 0.1.0 (emulated)";

struct Options {
  const char* input = nullptr;
  std::size_t ring_blocks = 1000;  // 1 s of audio; the Daisy's SDRAM ring is ~40 s
  bool realtime = false;           // pace blocks at 48 kHz instead of as fast as the host reads
  double flip_rate = 0.0;          // fraction of bytes corrupted
  std::size_t flip_burst = 1;      // consecutive bytes per corruption event
  double drop_rate = 0.0;          // fraction of frames dropped whole (never the first)
  long long truncate_at = -1;      // stop sending after this many bytes, stay connected
  long long disconnect_at = -1;    // close the terminal after this many bytes
  long long stall_every = 0;       // bytes between stalls
  int stall_ms = 0;                // length of each stall
  unsigned seed = 1;
  const char* fault_log = nullptr;
};

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "emulated_datalogger: %s: %s\n", what, std::strerror(errno));
  std::exit(2);
}

// The pseudo-terminal's master side, with the faults between the encoder and it. Never blocks:
// bytes the terminal cannot take yet wait in `pending_` and the recorder is told "busy".
class FaultyTerminal : public daisynet::ByteSink {
 public:
  FaultyTerminal(int master, const Options& options, std::FILE* log)
      : master_(master), options_(options), log_(log), random_(options.seed) {}

  std::size_t Write(const std::uint8_t* data, std::size_t size) override {
    if (silent()) return size;  // nobody hears it; the device carries on
    Flush();
    if (!pending_.empty()) return 0;
    std::size_t taken = 0;
    while (taken < size && pending_.size() < kChunkBytes) {
      const std::uint8_t byte = data[taken++];
      if (at_frame_start_) {
        dropping_ = sequence_ > 0 && Chance(options_.drop_rate);
        if (dropping_) Log("dropped", sequence_);
        at_frame_start_ = false;
      }
      if (!dropping_) pending_.push_back(Corrupt(byte));
      if (byte == daisynet::wire::kDelimiter) {
        at_frame_start_ = true;
        ++sequence_;
      }
    }
    Flush();
    return taken;
  }

  // Waits up to a millisecond for the terminal to take more (or a stall to pass).
  void Wait() {
    if (std::chrono::steady_clock::now() < stalled_until_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return;
    }
    pollfd ready{master_, POLLOUT, 0};
    poll(&ready, 1, 1);
  }

  bool busy() {
    Flush();
    return !silent() && !pending_.empty();
  }
  bool connected() const { return master_ >= 0; }
  long long sent() const { return sent_; }

 private:
  static constexpr std::size_t kChunkBytes = 4096;

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

  // Writes pending bytes as far as the terminal, the stall and the cut-off points allow.
  void Flush() {
    while (done_ < pending_.size() && !silent()) {
      if (std::chrono::steady_clock::now() < stalled_until_) return;
      long long room = static_cast<long long>(pending_.size() - done_);
      for (long long limit : {options_.truncate_at, options_.disconnect_at}) {
        if (limit >= 0) room = std::min(room, std::max(0LL, limit - sent_));
      }
      if (options_.stall_every > 0) {
        room = std::min(room, options_.stall_every - sent_ % options_.stall_every);
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
      const ssize_t written = write(master_, pending_.data() + done_, static_cast<std::size_t>(room));
      if (written < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        Fail("write to terminal");
      }
      done_ += static_cast<std::size_t>(written);
      sent_ += written;
      if (options_.stall_every > 0 && written > 0 && sent_ % options_.stall_every == 0) {
        stalled_until_ = std::chrono::steady_clock::now() +
                         std::chrono::milliseconds(options_.stall_ms);
      }
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
  std::chrono::steady_clock::time_point stalled_until_{};
  std::uint32_t sequence_ = 0;  // of the frame whose bytes come next (the recorder counts alike)
  bool at_frame_start_ = true;
  bool dropping_ = false;
  bool truncated_ = false;
  std::size_t burst_left_ = 0;
  long long sent_ = 0;
  const char* last_logged_ = nullptr;
  std::uint32_t last_logged_sequence_ = 0;
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
    else if (flag == "--ring-blocks") options.ring_blocks = std::strtoull(value, nullptr, 10);
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

HostEvent ReadHost(int timeout_ms) {
  pollfd stdin_ready{STDIN_FILENO, POLLIN, 0};
  if (poll(&stdin_ready, 1, timeout_ms) <= 0) return HostEvent::kNone;
  char line[64];
  const ssize_t size = read(STDIN_FILENO, line, sizeof line);
  if (size <= 0) return HostEvent::kUnplug;
  return std::memchr(line, 'p', static_cast<std::size_t>(size)) ? HostEvent::kPress
                                                                 : HostEvent::kNone;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = ParseOptions(argc, argv);
  std::FILE* input = std::fopen(options.input, "rb");
  if (input == nullptr) Fail(options.input);
  std::FILE* fault_log = nullptr;
  if (options.fault_log != nullptr && (fault_log = std::fopen(options.fault_log, "w")) == nullptr) {
    Fail(options.fault_log);
  }

  const daisynet::SessionConfig config{kSampleRate, kBlockSize, kAudioChannels, kControlChannels,
                                       kFirmwareVersion, kChannelNames};
  const std::size_t slot_bytes = daisynet::Recorder::SlotBytes(config);
  std::vector<std::uint64_t> ring((options.ring_blocks * slot_bytes + 7) / 8);
  static daisynet::Recorder recorder;  // holds ~12 KB of frame buffers, as a global would
  if (!recorder.Init(config, reinterpret_cast<std::uint8_t*>(ring.data()), ring.size() * 8,
                     kStatusIntervalBlocks)) {
    std::fprintf(stderr, "emulated_datalogger: recorder rejected the configuration\n");
    return 2;
  }

  std::string slave_path;
  int slave = -1;
  const int master = OpenTerminal(slave_path, slave);
  std::printf("%s\n", slave_path.c_str());
  std::fflush(stdout);
  FaultyTerminal terminal(master, options, fault_log);

  // One block as the audio callback sees it: non-interleaved channels plus control values.
  std::vector<float> block(static_cast<std::size_t>(kBlockSize) * kAudioChannels + kControlChannels);
  std::vector<float> channels(static_cast<std::size_t>(kBlockSize) * kAudioChannels);
  const float* channel_pointers[kAudioChannels];
  for (std::size_t c = 0; c < kAudioChannels; ++c) channel_pointers[c] = &channels[c * kBlockSize];

  auto started = std::chrono::steady_clock::now();
  const auto block_period = std::chrono::microseconds(1000000LL * kBlockSize / kSampleRate);
  auto next_block = started;
  bool input_left = true;
  long long blocks_played = 0;
  bool unplugged = false;
  bool pressed = false;
  while (terminal.connected() && !unplugged) {
    // Until the encoder is pressed the device idles (a status heartbeat, then nothing to do).
    switch (ReadHost(pressed ? 0 : 5)) {
      case HostEvent::kUnplug: unplugged = true; continue;
      case HostEvent::kPress:
        if (!pressed) {
          recorder.RequestStart(0);
          started = next_block = std::chrono::steady_clock::now();
        } else {
          recorder.RequestStop(daisynet::wire::EndReason::kStopped);
          input_left = false;
        }
        pressed = true;
        break;
      case HostEvent::kNone: break;
    }
    if (!pressed) {
      recorder.Poll(terminal);
      continue;
    }
    const bool due = options.realtime ? std::chrono::steady_clock::now() >= next_block
                                      : recorder.free_slots() > 0;
    if (input_left && due) {
      if (std::fread(block.data(), sizeof(float), block.size(), input) != block.size()) {
        input_left = false;
        recorder.RequestStop(daisynet::wire::EndReason::kInputEnded);
      } else {
        for (std::size_t frame = 0; frame < kBlockSize; ++frame) {
          for (std::size_t c = 0; c < kAudioChannels; ++c) {
            channels[c * kBlockSize + frame] = block[frame * kAudioChannels + c];
          }
        }
        recorder.ProcessBlock(channel_pointers, &block[static_cast<std::size_t>(kBlockSize) *
                                                       kAudioChannels]);
        ++blocks_played;
        next_block += block_period;
      }
    }
    recorder.Poll(terminal);
    const bool busy = terminal.busy() || !recorder.tx_idle();
    if (!input_left && !busy && recorder.state() == daisynet::wire::RecorderState::kIdle) break;
    if (busy) {
      terminal.Wait();
    } else if (options.realtime && !due) {
      std::this_thread::sleep_until(next_block);
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (fault_log != nullptr) std::fclose(fault_log);

  // Stay plugged in (the host may still be reading) until whoever started us closes stdin.
  while (!unplugged) unplugged = ReadHost(100) == HostEvent::kUnplug;
  std::printf(
      "{\"blocks_played\": %lld, \"frames_on_wire\": %u, \"bytes_sent\": %lld, "
      "\"overrun_blocks\": %u, \"seconds\": %.6f, \"disconnected\": %s}\n",
      blocks_played, recorder.frames_on_wire(), terminal.sent(), recorder.overrun_blocks(),
      seconds, terminal.connected() ? "false" : "true");
  close(slave);
  if (terminal.connected()) close(master);
  return 0;
}
