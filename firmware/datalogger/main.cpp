// Daisy Patch datalogger: records the 4 audio inputs and the 4 knobs/CVs for `daisynet capture`
// over USB serial in the daisynet wire protocol (firmware/core/WIRE_PROTOCOL.md). The host
// configures the recording (mode, sample format, channels, length) and starts and stops it with
// commands; the encoder starts and stops it too, with the last configuration (default: live,
// s24, every channel).
//
// Glue only: the recorder, command handling and encoder live in firmware/core (tested natively
// and through the emulated device, tools/capture/emulated_device.py). The audio callback hands each
// block to the recorder with the knob values loop() read last; loop() also feeds it the host's
// command bytes and moves frames into the USB CDC transmit queue as fast as it empties, never
// blocking.
//
// Build: platformio.ini's [env:datalogger] must define CDC_TRANSMIT_QUEUE_BUFFER_PACKET_NUMBER=16
// (STM32duino's default queue is 2 x 64 bytes; live streaming needs the 1 KiB one).
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
const char kFirmwareVersion[] = "daisynet-datalogger 0.2.0";

// 60 MiB of the Patch's 64 MB SDRAM. Record mode: 79 s of 4 audio + 4 controls in f32, 104 s
// in s24. Live mode: a ring that absorbs USB stalls of that length. DSY_SDRAM_BSS is not
// zeroed at start-up (the recorder does not need it) and works only after DAISY.init().
constexpr std::size_t kStoreBytes = 60u * 1024u * 1024u;
DSY_SDRAM_BSS alignas(8) std::uint8_t store[kStoreBytes];

DaisyHardware patch;
daisynet::Recorder recorder;
std::atomic<bool> encoder_pressed{false};

// USB CDC as the recorder's sink: takes only what fits in the transmit queue, never blocks.
class UsbSerialSink : public daisynet::ByteSink {
 public:
  std::size_t Write(const std::uint8_t* data, std::size_t size) override {
    // dtr(), not `if (!Serial)`: USBSerial::operator bool() waits 10 ms on every call.
    if (!Serial.dtr()) return 0;  // no host has the port open: keep the data in SDRAM
    const int room = Serial.availableForWrite();
    if (room <= 0) return 0;
    const std::size_t count = size < static_cast<std::size_t>(room) ? size : room;
    return Serial.write(data, count);
  }
};
UsbSerialSink usb;

// Knob/CV values (0..1) read by loop() and taken by the audio callback. STM32duino's
// analogRead() re-initialises and calibrates the H7's ADC on every call (>= 10 us per control)
// and its ADC waits time out on HAL_GetTick(), which cannot advance inside the audio interrupt
// (DMA priority 0, above SysTick). So loop() reads them and each recorded 48-frame block gets
// the latest values: DaisyDuino's Patch controls are unsmoothed at the block rate, so only the
// moment of reading moves. The encoder stays in the callback: its debounce (digitalRead only)
// counts 1 kHz updates.
std::atomic<float> control_values[kControlChannels];

void AudioCallback(float** in, float** out, size_t size) {
  patch.ProcessDigitalControls();
  if (patch.encoder.RisingEdge()) encoder_pressed.store(true);
  float controls[kControlChannels];
  for (std::size_t i = 0; i < kControlChannels; ++i) {
    controls[i] = control_values[i].load(std::memory_order_relaxed);
  }
  if (size == kBlockSize) recorder.ProcessBlock(in, controls);
  for (std::size_t channel = 0; channel < kAudioChannels; ++channel) {
    for (std::size_t frame = 0; frame < size; ++frame) out[channel][frame] = in[channel][frame];
  }
}

void ReadControls() {
  patch.ProcessAnalogControls();
  for (std::size_t i = 0; i < kControlChannels; ++i) {
    control_values[i].store(patch.controls[i].Value(), std::memory_order_relaxed);
  }
}

}  // namespace

void setup() {
  Serial.begin(115200);  // USB CDC: the rate is ignored
  patch = DAISY.init(DAISY_PATCH, AUDIO_SR_48K);  // SDRAM is usable from here on
  const daisynet::DeviceConfig device{kSampleRate,     kBlockSize,      kAudioChannels,
                                      kControlChannels, kFirmwareVersion, kChannelNames};
  recorder.Init(device, store, sizeof store, kStatusIntervalBlocks);
  ReadControls();  // the first block records the knobs, not zeros
  DAISY.begin(AudioCallback);
}

void loop() {
  ReadControls();
  // Start/stop here, not in the callback: the recorder's session state belongs to this loop.
  if (encoder_pressed.exchange(false) && !recorder.RequestStart()) {
    recorder.RequestStop(daisynet::wire::EndReason::kStopped);
  }
  // One command at a time: the rest waits in the CDC receive buffer until its REPLY is out.
  while (recorder.ready_for_command() && Serial.available() > 0) {
    const int byte = Serial.read();
    if (byte < 0) break;
    recorder.Receive(static_cast<std::uint8_t>(byte));
  }
  recorder.Poll(usb);
}
