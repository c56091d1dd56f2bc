// Declarations of the DaisyDuino / STM32duino / CMSIS-Core API the Daisy apps use, so tests
// can compile firmware/inference and firmware/datalogger with arm-none-eabi-g++ here, where
// PlatformIO cannot download the real STM32 platform. Signatures follow DaisyDuino (commit
// 0932d70, pinned in platformio.ini) and STM32duino; nothing is implemented, nothing links.
// A mismatch with the real API shows up only in the real PlatformIO build.
#pragma once

#include <cstddef>
#include <cstdint>

// DaisyDuino
enum DaisyDuinoDevice { DAISY_SEED, DAISY_POD, DAISY_PETAL, DAISY_FIELD, DAISY_PATCH };
enum DaisyDuinoSampleRate { AUDIO_SR_8K, AUDIO_SR_16K, AUDIO_SR_32K, AUDIO_SR_48K, AUDIO_SR_96K };
using DaisyDuinoCallback = void (*)(float** in, float** out, size_t size);

struct AnalogControl {
  float Value();
};
struct Encoder {
  bool RisingEdge();
  int32_t Increment();
};
struct DaisyHardware {
  void ProcessAllControls();
  AnalogControl controls[4];
  Encoder encoder;
};
struct AudioClass {
  DaisyHardware init(DaisyDuinoDevice device, DaisyDuinoSampleRate sample_rate);
  void begin(DaisyDuinoCallback callback);
  float get_samplerate();
};
extern AudioClass DAISY;
#define DSY_SDRAM_BSS __attribute__((section(".sdram_bss")))

// Arduino / STM32duino
uint32_t millis();
struct USBSerial {
  void begin(uint32_t baud);
  explicit operator bool();
  bool dtr();
  int available();
  int read();
  int availableForWrite();
  size_t write(const uint8_t* data, size_t size);
  size_t println(const char* text);
};
extern USBSerial Serial;

// CMSIS-Core (core_cm7.h) debug and trace registers
struct CoreDebugRegisters {
  volatile uint32_t DEMCR;
};
struct DwtRegisters {
  volatile uint32_t CTRL;
  volatile uint32_t CYCCNT;
  volatile uint32_t LAR;
};
#define CoreDebug (reinterpret_cast<CoreDebugRegisters*>(0xE000EDF0u))
#define DWT (reinterpret_cast<DwtRegisters*>(0xE0001000u))
#define CoreDebug_DEMCR_TRCENA_Msk (1ul << 24)
#define DWT_CTRL_CYCCNTENA_Msk (1ul)
