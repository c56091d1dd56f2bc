// Stand-in for DaisyDuino's DaisyDuino.h (electro-smith/DaisyDuino 0932d70, library 1.6.3, the
// commit platformio.ini pins) on STM32duino 2.12.0, so tests can compile the Daisy apps with
// arm-none-eabi-g++ -fsyntax-only where PlatformIO cannot fetch its packages. Declarations only,
// with the real types, namespaces, const-ness and macros (nothing links); the real ones are:
//   DaisyDuinoDevice (enum : short)   src/DaisyDuino.h:32-40
//   DaisyHardware                     src/DaisyDuino.h:44-140 (LEDs, the LED driver, the CV-out and
//                                     Petal/Field helpers and the Field keyboard are left out)
//   daisy::AnalogControl              src/utility/ctrl.h:18-67 (Process() calls analogRead)
//   daisy::Switch/Encoder/GateIn      src/utility/switch.h, encoder.h, gatein.h
//   daisy::AudioHandle callbacks      src/utility/audio.h:27-34
//   DaisyDuinoSampleRate, AudioClass  src/AudioClass.h:14-104 (`using namespace daisy;` at :12;
//                                     get_blocksize() is declared inline but defined only in
//                                     AudioClass.cpp: use AudioBlockSize())
//   DSY_SDRAM_BSS                     src/utility/sdram.h:85; DAISY_SEED.ld's .sdram_bss (NOLOAD,
//                                     64 MB SDRAM at 0xC0000000, not zeroed; usable after init())
// Arduino.h here is the STM32duino stand-in beside this file (the real DaisyDuino.h includes
// Arduino.h, Wire.h and stdio.h first).
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "Arduino.h"

#define DSY_SDRAM_DATA __attribute__((section(".sdram_data")))
#define DSY_SDRAM_BSS __attribute__((section(".sdram_bss")))

namespace daisy {

class AudioHandle {
 public:
  // Non-interleaving: in[channel][frame], out[channel][frame] (4 channels on the Patch).
  typedef void (*AudioCallback)(float **in, float **out, size_t size);
  typedef void (*InterleavingAudioCallback)(float *in, float *out, size_t size);
};

class AnalogControl {
 public:
  AnalogControl() {}
  ~AnalogControl() {}
  void Init(uint8_t pin, float sr, bool flip = false, bool invert = false,
            float slew_seconds = 0.002f);
  void InitBipolarCv(uint8_t pin, float sr);
  float Process();  // one analogRead(), then the 0..1 value (10-bit scaling, 1/1023)
  inline float Value() const { return val_; }

 private:
  uint8_t pin_;
  float coeff_, samplerate_, val_;
};

class Switch {
 public:
  Switch() {}
  ~Switch() {}
  void Init(float update_rate, bool invert, uint8_t pin, uint8_t mode);
  void Debounce();
  bool RisingEdge() { return state_ == 0x7f; }
  bool FallingEdge() { return state_ == 0x80; }
  bool Pressed() { return state_ == 0xff; }
  float TimeHeldMs();  // real: inline

 private:
  uint8_t state_;
};

class Encoder {
 public:
  Encoder() {}
  ~Encoder() {}
  void Init(float update_rate, uint8_t pinA, uint8_t pinB, uint8_t pinClick, uint8_t modeA,
            uint8_t modeB, uint8_t modeC);
  void Debounce();
  int32_t Increment() { return inc_; }
  bool RisingEdge() { return encSwitch.RisingEdge(); }
  bool FallingEdge() { return encSwitch.FallingEdge(); }
  bool Pressed() { return encSwitch.Pressed(); }
  float TimeHeldMs() { return encSwitch.TimeHeldMs(); }

 private:
  Switch encSwitch;
  int32_t inc_;
};

class GateIn {
 public:
  GateIn() {}
  ~GateIn() {}
  void Init(uint8_t pin, uint8_t mode, bool invert);
  bool State() { return sw.Pressed(); }
  bool Trig() { return sw.RisingEdge(); }
  void Debounce() { sw.Debounce(); }

 private:
  Switch sw;
};

}  // namespace daisy

using namespace daisy;

enum DaisyDuinoSampleRate {
  AUDIO_SR_8K,
  AUDIO_SR_16K,
  AUDIO_SR_32K,
  AUDIO_SR_48K,
  AUDIO_SR_96K,
  AUDIO_SR_LAST,
};

enum DaisyDuinoDevice : short {
  DAISY_SEED,
  DAISY_POD,
  DAISY_PETAL,
  DAISY_FIELD,
  DAISY_PATCH,
  DAISY_PATCH_SM,
  DAISY_LAST,
};

class DaisyHardware {
 public:
  DaisyHardware() {}

  Switch buttons[7];
  AnalogControl controls[12];  // the Patch initialises 0..3 (knob + CV 1..4)
  AnalogControl cv[4];         // for use with field
  Encoder encoder;
  GateIn gateIns[2];
  AnalogControl expression;

  int num_channels;
  int numSwitches, numLeds, numGates, numControls;

  void Init(float control_update_rate, DaisyDuinoDevice device);
  float GetAdcValue(size_t idx);  // real: inline, controls[idx].Value()
  void ProcessAnalogControls();   // controls[0..numControls).Process(): analogRead each
  void ProcessDigitalControls();  // encoder.Debounce(), buttons, gateIns
  void DebounceControls();        // real: inline, ProcessDigitalControls()
  void ProcessAllControls();      // ProcessAnalogControls() then ProcessDigitalControls()
  void ResetToBootloader();

 private:
  DaisyDuinoDevice device_;
};

class AudioClass {
 public:
  AudioClass() {}
  // HAL_Init, DMA, MPU, SAI1 (+ SAI2 on the Patch), codecs, SDRAM; block size 48.
  DaisyHardware init(DaisyDuinoDevice device, DaisyDuinoSampleRate sr = AUDIO_SR_48K);
  void begin(AudioHandle::AudioCallback cb);
  void begin(AudioHandle::InterleavingAudioCallback cb);
  void end();
  float get_samplerate();
  float get_callbackrate();
  inline float get_blocksize();
  void StartAudio(AudioHandle::InterleavingAudioCallback cb);
  void StartAudio(AudioHandle::AudioCallback cb);
  void StopAudio();
  float AudioSampleRate();
  void SetAudioBlockSize(size_t blocksize);
  size_t AudioBlockSize();
  float AudioCallbackRate();

 private:
  float callback_rate_;
  DaisyDuinoDevice _device;
};

extern AudioClass DAISY;
