// Daisy Patch inference app (DaisyDuino). Audio in 1 -> model -> audio out 1, the dry input on
// out 2; knobs/CV 1..4 feed the model's conditioning inputs as model_defn.h names them (see
// firmware/core/patch_runner.h). The OLED shows the model, CPU load and cycles per sample from
// the DWT cycle counter; USB serial gets a status line once per second.
//
// Thin glue only: everything it calls is in firmware/core and tested on the host. This file
// cannot be compiled on the development machine (DaisyDuino needs PlatformIO's STM32 platform);
// `daisynet flash inference` builds it with platformio.ini's [env:inference].
#include <CMSIS_DSP.h>  // makes PlatformIO's library finder add STM32duino's CMSIS-DSP
#include <DaisyDuino.h>
#include <U8g2lib.h>

#include "patch_runner.h"

namespace {

constexpr size_t kMaxBlock = 48;          // DaisyDuino's default audio block, frames
constexpr float kCpuHz = 480000000.0f;    // STM32H750 core clock
constexpr uint32_t kStatusPeriodMs = 1000;
static_assert(daisynet::model::kSampleRate == 48000.0f,
              "the app runs the Patch at 48 kHz; train the model at 48 kHz");

DaisyHardware patch;
// Patch OLED: SSD1309 128x64 on SPI pins clock 8, data 10, cs 7, dc 9, reset 30.
U8G2_SSD1309_128X64_NONAME2_F_4W_SW_SPI oled(U8G2_R0, 8, 10, 7, 9, 30);

// In AXI SRAM (the default .bss): the engine's histories are read every sample.
daisynet::PatchRunner<kMaxBlock> runner;
daisynet::CpuMeter meter;
float sample_rate = 48000.0f;

void StartCycleCounter() {
  CoreDebug->DEMCR |= CoreDebug_DEMCR_TRCENA_Msk;
  DWT->LAR = 0xC5ACCE55;  // unlock the DWT registers (needed on the Cortex-M7)
  DWT->CYCCNT = 0;
  DWT->CTRL |= DWT_CTRL_CYCCNTENA_Msk;
}

void AudioCallback(float** in, float** out, size_t frames) {
  const uint32_t start = DWT->CYCCNT;
  patch.ProcessAllControls();
  float controls[daisynet::kPatchControls];
  for (size_t c = 0; c < daisynet::kPatchControls; ++c) controls[c] = patch.controls[c].Value();
  runner.Process(in, controls, out[0], frames);
  for (size_t i = 0; i < frames; ++i) {
    out[1][i] = in[0][i];
    out[2][i] = 0.0f;
    out[3][i] = 0.0f;
  }
  meter.Add(DWT->CYCCNT - start, frames);
}

daisynet::PatchStatus Status() {
  return {millis() / 1000.0f, meter.load(), meter.cycles_per_sample(),
          meter.peak_cycles_per_sample(), runner.non_finite_outputs()};
}

void DrawOled(const daisynet::PatchStatus& status) {
  char line[32];
  oled.clearBuffer();
  oled.setFont(u8g2_font_6x10_tf);
  oled.drawStr(0, 10, daisynet::model::kModelName);
  snprintf(line, sizeof(line), "CPU %5.1f %%", static_cast<double>(100.0f * status.load));
  oled.drawStr(0, 26, line);
  snprintf(line, sizeof(line), "%5.0f cyc/sample", static_cast<double>(status.cycles_per_sample));
  oled.drawStr(0, 40, line);
  snprintf(line, sizeof(line), "peak %5.0f", static_cast<double>(status.peak_cycles_per_sample));
  oled.drawStr(0, 54, line);
  oled.sendBuffer();
}

}  // namespace

void setup() {
  Serial.begin(115200);  // USB CDC: the baud rate is ignored
  patch = DAISY.init(DAISY_PATCH, AUDIO_SR_48K);
  sample_rate = DAISY.get_samplerate();
  StartCycleCounter();
  meter.Init(kCpuHz, sample_rate);
  runner.Init();
  oled.begin();
  DAISY.begin(AudioCallback);
}

void loop() {
  static uint32_t last_status_ms = 0;
  const uint32_t now = millis();
  if (now - last_status_ms < kStatusPeriodMs) return;
  last_status_ms = now;
  const daisynet::PatchStatus status = Status();
  char line[160];
  daisynet::FormatStatusLine(line, sizeof(line), status);
  Serial.println(line);
  DrawOled(status);
}
