// Daisy Patch inference app (DaisyDuino). Audio in 1 -> model -> audio out 1, the dry input on
// out 2; knobs/CV 1..4 feed the model's conditioning inputs as model_defn.h names them (see
// firmware/core/patch_wiring.h). The app holds a bank of models and plays one at a time: the
// encoder turns through them, each step switching at once with a 10 ms crossfade (so turning
// auditions the models as a selector switch would; a fast turn lands on the last one). The
// OLED shows the playing model, its place in the bank, CPU load and cycles per sample from the
// DWT cycle counter; USB serial gets a status line once per second naming the playing model.
//
// With `flash --morph knob_N` (or cv_N, a control no model reads), that control blends the
// selected model with the next one, both running all the time; the encoder then moves the pair
// and a switch dips through silence (10 ms) instead of crossfading (bank_player.h).
//
// The bank: `daisynet flash inference --model a.h --model b.h ...` stages the bank's sources
// (bank_slots.h and one translation unit per model, host_sim/bank.py) beside a copy of this
// file. A plain `pio run` finds no bank_slots.h and plays firmware/model/'s model alone.
//
// Thin glue only: everything it calls is in firmware/core and tested on the host and on the
// emulated Cortex-M7. `daisynet flash inference` builds it with platformio.ini's
// [env:inference].
// DaisyDuino first: Arduino defines PI unconditionally, CMSIS-DSP only if it is not defined yet.
#include <DaisyDuino.h>
#include <CMSIS_DSP.h>  // makes PlatformIO's library finder add STM32duino's CMSIS-DSP
#include <U8g2lib.h>

#include <atomic>

#include "patch_runner.h"

// Every engine in DTCM (zero wait states, never cached; section added by dtcm.ld, see
// platformio.ini): its histories are read and written every sample. NOLOAD, so not zeroed at
// start-up: each engine's Init() sets every field before the first callback.
#define DAISYNET_DTCM __attribute__((section(".dtcm_bss")))
constexpr size_t kMaxBlock = 48;  // DaisyDuino's default audio block, frames

#if __has_include("bank_slots.h")
#include "bank_slots.h"
#else
#define DAISYNET_BANK_ENGINE_PLACEMENT DAISYNET_DTCM
#include "bank_slot_impl.h"
DAISYNET_BANK_SLOT(kOnlyModel, kMaxBlock)
namespace daisynet_bank {
inline constexpr std::size_t kBankSize = 1;
inline constexpr const Slot* kSlots[kBankSize] = {&kOnlyModel};
inline constexpr int kMorphControl = -1;
}  // namespace daisynet_bank
#endif

namespace {

constexpr uint32_t kStatusPeriodMs = 1000;
// The status line (up to kStatusLineBytes with CR LF) goes into the USB CDC transmit queue in
// one piece; STM32duino's default queue of 2 x 64 bytes takes at most 127. platformio.ini
// raises it for this app.
constexpr size_t kStatusLineBytes = 320;
constexpr size_t kUsbPacketBytes = 64;  // USB full-speed bulk packet
static_assert(CDC_TRANSMIT_QUEUE_BUFFER_PACKET_NUMBER * kUsbPacketBytes > kStatusLineBytes,
              "raise CDC_TRANSMIT_QUEUE_BUFFER_PACKET_NUMBER in platformio.ini [env:inference]");

DaisyHardware patch;
// Patch OLED: SSD1309 128x64 on SPI pins clock 8, data 10, cs 7, dc 9, reset 30.
U8G2_SSD1309_128X64_NONAME2_F_4W_SW_SPI oled(U8G2_R0, 8, 10, 7, 9, 30);
constexpr uint8_t kOledTileColumns = 16;  // 128 px / 8
constexpr uint8_t kOledTileRows = 8;      // 64 px / 8

// Init() sets every field before the first callback.
DAISYNET_DTCM daisynet::PatchRunner<kMaxBlock> runner;
daisynet::CpuMeter meter;

// Knob/CV values (0..1) read by loop() and taken by the audio callback. STM32duino's
// analogRead() initialises, calibrates and releases the H7's ADC on every call (10 us or more
// each), so reading the four controls inside the audio interrupt would take at least 40 us of
// every 1 ms block: 330 cycles per sample, 4% of the budget, spent waiting. DaisyDuino's Patch
// controls are unsmoothed at the 1 kHz block rate (a 2 ms slew at 1 kHz is a coefficient of 1),
// so reading them in loop() changes only how often they are read: once per pass of loop() (four
// analogRead calls, plus one OLED tile row per pass after each status update) instead of once
// per block.
std::atomic<float> control_values[daisynet::kPatchControls];

void StartCycleCounter() {
  DCB->DEMCR |= DCB_DEMCR_TRCENA_Msk;  // CMSIS 6's name for CoreDebug
  DWT->LAR = 0xC5ACCE55;  // unlock the DWT registers (needed on the Cortex-M7)
  DWT->CYCCNT = 0;
  DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;
}

// The callback is timed once the knob values are taken (four loads), and the model on its own.
// DaisyDuino's conversion of the codec's integers to and from floats happens around the
// callback and is in neither figure.
void AudioCallback(float** in, float** out, size_t frames) {
  float controls[daisynet::kPatchControls];
  for (size_t c = 0; c < daisynet::kPatchControls; ++c) {
    controls[c] = control_values[c].load(std::memory_order_relaxed);
  }
  runner.RunCallback(in, out, controls, frames, [] { return DWT->CYCCNT; }, meter);
}

void ReadControls() {
  patch.ProcessAnalogControls();
  for (size_t c = 0; c < daisynet::kPatchControls; ++c) {
    control_values[c].store(patch.controls[c].Value(), std::memory_order_relaxed);
  }
}

// Draws the status into the OLED's buffer; loop() sends it one tile row per pass, because
// sending all 1 KiB over software SPI at once would hold the knob reads for a long time.
// Five lines of the 6x10 font, 12 px apart: the model's place and name, its self-check, then
// the figures.
void DrawOled(const daisynet::PatchStatus& status) {
  daisynet::OledLines lines;
  daisynet::FormatOledLines(status, lines);
  char title[daisynet::kOledLineBytes];
  char check[daisynet::kOledLineBytes];
  if (runner.problem() != daisynet::BankProblem::kNone) {
    snprintf(title, sizeof title, "silent: %s", daisynet::BankProblemText(runner.problem()));
    check[0] = '\0';
  } else {
    const size_t shown = runner.requested();  // playing within a block and a fade
    if (runner.morph_control() >= 0) {  // "1/4 drive~fold": morphing into the next model
      snprintf(title, sizeof title, "%u/%u %s~%s", static_cast<unsigned>(shown + 1),
               static_cast<unsigned>(runner.size()), runner.name(shown),
               runner.name(runner.neighbour(shown)));
    } else {
      snprintf(title, sizeof title, "%u/%u %s", static_cast<unsigned>(shown + 1),
               static_cast<unsigned>(runner.size()), runner.name(shown));
    }
    daisynet::FormatOledCheckLine(runner.check_status(shown), check, sizeof check);
  }
  oled.clearBuffer();
  oled.setFont(u8g2_font_6x10_tf);
  oled.drawStr(0, 10, title);
  oled.drawStr(0, 22, check);
  for (size_t i = 0; i < daisynet::kOledFigureLines; ++i) {
    oled.drawStr(0, static_cast<uint16_t>(34 + 12 * i), lines[i]);
  }
}

// Sends the status line only when it fits the USB transmit queue whole, so a host that has the
// port open but does not read never blocks loop() (Serial.write waits for room).
void SendStatusLine(const daisynet::PatchStatus& status) {
  char line[kStatusLineBytes];
  const bool plays = runner.problem() == daisynet::BankProblem::kNone;
  const size_t active = runner.active();
  const int length = daisynet::FormatStatusLine(
      line, sizeof line, plays ? runner.name(active) : daisynet::BankProblemText(runner.problem()),
      plays ? runner.check_status(active) : daisynet::CheckStatus{"none", 0, 0}, status);
  if (length <= 0 || static_cast<size_t>(length) + 2 >= sizeof line) return;
  line[length] = '\r';
  line[length + 1] = '\n';
  if (Serial.availableForWrite() >= length + 2) {
    Serial.write(reinterpret_cast<const uint8_t*>(line), static_cast<size_t>(length) + 2);
  }
}

}  // namespace

void setup() {
  Serial.begin(115200);  // USB CDC: the baud rate is ignored
  patch = DAISY.init(DAISY_PATCH, AUDIO_SR_48K);
  StartCycleCounter();
  meter.Init(SystemCoreClock, static_cast<uint32_t>(DAISY.get_samplerate()));
  // Every model's self-check, before the audio starts (a few milliseconds each).
  runner.Init(daisynet_bank::kSlots, daisynet_bank::kBankSize, DAISY.get_samplerate(),
              [] { return DWT->CYCCNT; });
  runner.SetMorph(daisynet_bank::kMorphControl);  // `flash --morph`; -1: off
  ReadControls();
  oled.begin();
  DAISY.begin(AudioCallback);
}

// One encoder step selects the next or previous model, wrapping around the bank; true when it
// did.
bool ReadEncoder() {
  patch.encoder.Debounce();
  const int32_t step = patch.encoder.Increment();
  const size_t size = runner.size();
  if (step == 0 || size < 2) return false;
  const size_t from = runner.requested();
  return runner.Select(step > 0 ? (from + 1) % size : (from + size - 1) % size);
}

void loop() {
  static uint32_t last_status_ms = 0;
  static uint8_t oled_rows_sent = kOledTileRows;
  static daisynet::PatchStatus last_status = {};
  ReadControls();
  if (ReadEncoder()) {  // the new model's name at once, not at the next status period
    DrawOled(last_status);
    oled_rows_sent = 0;
  }
  if (oled_rows_sent < kOledTileRows) {
    oled.updateDisplayArea(0, oled_rows_sent++, kOledTileColumns, 1);
  }
  const uint32_t now = millis();
  if (now - last_status_ms < kStatusPeriodMs) return;
  last_status_ms = now;
  const daisynet::PatchStatus status = meter.EndPeriod(now / 1000, runner.non_finite_outputs());
  last_status = status;
  SendStatusLine(status);
  DrawOled(status);
  oled_rows_sent = 0;
}
