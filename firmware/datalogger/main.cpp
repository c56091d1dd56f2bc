// Daisy Patch datalogger: press the encoder to record the 4 audio inputs and the 4 knobs/CVs,
// streamed live over USB serial in the daisynet wire protocol (firmware/core/WIRE_PROTOCOL.md);
// press again to stop. `daisynet capture` on the host writes the dataset.
//
// Glue only: the recorder and encoder live in firmware/core (tested natively and through the
// emulated device, tools/emulated_device.py). The audio callback hands each block to the
// recorder; loop() streams frames into the USB CDC buffer as fast as the host takes them.
#include <DaisyDuino.h>

#include <atomic>

#include "recorder.h"

namespace {

constexpr std::uint32_t kSampleRate = 48000;  // Hz, AUDIO_SR_48K
constexpr std::uint16_t kBlockSize = 48;      // frames, DaisyDuino's default audio block
constexpr std::uint8_t kAudioChannels = 4;
constexpr std::uint8_t kControlChannels = 4;
constexpr std::uint32_t kStatusIntervalBlocks = kSampleRate / kBlockSize / 2;  // 0.5 s
const char* const kChannelNames[] = {"audio_in_1", "audio_in_2", "audio_in_3", "audio_in_4",
                                     "knob_1",     "knob_2",     "knob_3",     "knob_4"};
const char kFirmwareVersion[] = "daisynet-datalogger 0.1.0";

// 32 MB of the 64 MB SDRAM: ~40 s of audio at 0.8 MB/s, so USB stalls lose nothing. SDRAM is
// not zeroed at start-up, which the recorder does not need.
constexpr std::size_t kRingBytes = 32u * 1024u * 1024u;
DSY_SDRAM_BSS alignas(8) std::uint8_t ring[kRingBytes];

DaisyHardware patch;
daisynet::Recorder recorder;
std::atomic<bool> encoder_pressed{false};

// USB CDC as the recorder's sink: takes only what fits in the transmit buffer, never blocks.
class UsbSerialSink : public daisynet::ByteSink {
 public:
  std::size_t Write(const std::uint8_t* data, std::size_t size) override {
    if (!Serial) return 0;  // no host has the port open: keep the data in SDRAM
    const int room = Serial.availableForWrite();
    if (room <= 0) return 0;
    const std::size_t count = size < static_cast<std::size_t>(room) ? size : room;
    return Serial.write(data, count);
  }
};
UsbSerialSink usb;

void AudioCallback(float** in, float** out, size_t size) {
  patch.ProcessAllControls();
  if (patch.encoder.RisingEdge()) encoder_pressed.store(true);
  float controls[kControlChannels];
  for (std::size_t i = 0; i < kControlChannels; ++i) controls[i] = patch.controls[i].Value();
  if (size == kBlockSize) recorder.ProcessBlock(in, controls);
  for (std::size_t channel = 0; channel < kAudioChannels; ++channel) {
    for (std::size_t frame = 0; frame < size; ++frame) out[channel][frame] = in[channel][frame];
  }
}

}  // namespace

void setup() {
  Serial.begin(115200);  // USB CDC: the rate is ignored
  patch = DAISY.init(DAISY_PATCH, AUDIO_SR_48K);
  const daisynet::SessionConfig config{kSampleRate, kBlockSize, kAudioChannels, kControlChannels,
                                       kFirmwareVersion, kChannelNames};
  recorder.Init(config, ring, sizeof ring, kStatusIntervalBlocks);
  DAISY.begin(AudioCallback);
}

void loop() {
  // Start/stop here, not in the callback: the recorder's session state belongs to this loop.
  if (encoder_pressed.exchange(false)) {
    if (recorder.state() == daisynet::wire::RecorderState::kIdle) {
      recorder.RequestStart(0);
    } else {
      recorder.RequestStop(daisynet::wire::EndReason::kStopped);
    }
  }
  recorder.Poll(usb);
}
