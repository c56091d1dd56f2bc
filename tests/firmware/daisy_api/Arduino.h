// Stand-in for the part of STM32duino 2.12.0's Arduino.h the Daisy apps use, as PlatformIO
// builds it for board electrosmith_daisy (ARDUINO_DAISY_SEED, USBCON + USBD_USE_CDC from
// platformio.ini). Declarations only, with the real types, linkage and macros; nothing links.
// Real sources (STM32duino 2.12.0):
//   millis/micros/delay     cores/arduino/wiring_time.h:28-57, extern "C" (SysTick based)
//   analogRead/...          cores/arduino/wiring_analog.h:23-71, extern "C"; analogRead
//                           initialises, calibrates and de-initialises the H7 ADC on every call
//                           (libraries/SrcWrapper/src/stm32/analog.cpp:1062-1197); DaisyDuino's
//                           AnalogControl assumes the default 10-bit resolution
//   pinMode/digital*        cores/arduino/wiring_digital.h:32-59, extern "C"
//   constants and macros    cores/arduino/wiring_constants.h:25-96 (PI here replaces the
//                           CMSIS-DSP float PI if arm_math.h came first: a -Werror error)
//   Print / Stream          cores/arduino/Print.h:34-116, Stream.h (subset)
//   USBSerial, SerialUSB    libraries/USBDevice/inc/USBSerial.h:28-80; `Serial` is a macro
//                           for SerialUSB (cores/arduino/WSerial.h:13-19); operator bool is not
//                           explicit and calls delay(10) (USBSerial.cpp:194-198); write() waits
//                           for room while the host holds DTR (USBSerial.cpp:67-90)
//   SystemCoreClock         system_stm32h7xx.h:57, extern "C" (400 MHz after
//                           SystemClock_Config in variant_DAISY_SEED.cpp:90-137)
// The real header also brings in the STM32H750 device header (peripheral macros such as GPIOA,
// CRC, ADC1 that can collide with identifiers), String, HardwareSerial and more: omitted here.
#pragma once

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_cm7.h"

#ifdef __cplusplus
extern "C" {
#endif
extern uint32_t SystemCoreClock;  // system_stm32h7xx.h

extern uint32_t millis(void);
extern uint32_t micros(void);
extern void delay(uint32_t ms);

extern void analogWrite(uint32_t ulPin, uint32_t ulValue);
extern uint32_t analogRead(uint32_t ulPin);
extern void analogReadResolution(int res);
extern void analogWriteResolution(int res);

extern void pinMode(uint32_t dwPin, uint32_t dwMode);
extern void digitalWrite(uint32_t dwPin, uint32_t dwVal);
extern int digitalRead(uint32_t ulPin);
extern void digitalToggle(uint32_t ulPin);
#ifdef __cplusplus
}  // extern "C"
#endif

// wiring_constants.h
#ifdef __cplusplus
#include <algorithm>
using std::max;
using std::min;
#endif
#define INPUT 0x0
#define OUTPUT 0x1
#define INPUT_PULLUP 0x2
#define INPUT_PULLDOWN 0x3
#define INPUT_ANALOG 0x4
#define PI 3.1415926535897932384626433832795
#define HALF_PI 1.5707963267948966192313216916398
#define TWO_PI 6.283185307179586476925286766559
#define SERIAL 0x0
#define DISPLAY 0x1
#define LOW 0x0
#define HIGH 0x1
#define DEFAULT 1
#define EXTERNAL 0
#define constrain(amt, low, high) ((amt) < (low) ? (low) : ((amt) > (high) ? (high) : (amt)))
#define sq(x) ((x) * (x))
#define interrupts() __enable_irq()
#define noInterrupts() __disable_irq()
#define bit(b) (1UL << (b))

#ifdef __cplusplus
#define DEC 10
#define HEX 16
#define OCT 8
#define BIN 2

class String;
class Printable;
class __FlashStringHelper;

class Print {
 public:
  Print() : write_error(0) {}
  virtual size_t write(uint8_t) = 0;
  size_t write(const char *str);                            // real: inline, strlen
  virtual size_t write(const uint8_t *buffer, size_t size);
  size_t write(const char *buffer, size_t size);            // real: inline
  virtual int availableForWrite() { return 0; }
  size_t print(const __FlashStringHelper *);
  size_t print(const String &);
  size_t print(const char[]);
  size_t print(char);
  size_t print(unsigned char, int = DEC);
  size_t print(int, int = DEC);
  size_t print(unsigned int, int = DEC);
  size_t print(long, int = DEC);
  size_t print(unsigned long, int = DEC);
  size_t print(long long, int = DEC);
  size_t print(unsigned long long, int = DEC);
  size_t print(float, int = 2);
  size_t print(double, int = 2);
  size_t print(const Printable &);
  size_t println(const __FlashStringHelper *);
  size_t println(const String &s);
  size_t println(const char[]);
  size_t println(char);
  size_t println(unsigned char, int = DEC);
  size_t println(int, int = DEC);
  size_t println(unsigned int, int = DEC);
  size_t println(long, int = DEC);
  size_t println(unsigned long, int = DEC);
  size_t println(long long, int = DEC);
  size_t println(unsigned long long, int = DEC);
  size_t println(float, int = 2);
  size_t println(double, int = 2);
  size_t println(const Printable &);
  size_t println(void);
  int printf(const char *format, ...);
  int vprintf(const char *format, va_list ap);
  virtual void flush() {}

 private:
  int write_error;
};

class Stream : public Print {
 public:
  virtual int available() = 0;
  virtual int read() = 0;
  virtual int peek() = 0;
  Stream() { _timeout = 1000; }
  void setTimeout(unsigned long timeout);
  unsigned long getTimeout(void) { return _timeout; }
  bool find(const char *target);
  virtual size_t readBytes(char *buffer, size_t length);
  size_t readBytes(uint8_t *buffer, size_t length);         // real: inline
  virtual size_t readBytesUntil(char terminator, char *buffer, size_t length);

 protected:
  unsigned long _timeout;
  unsigned long _startMillis;
};

// USB CDC serial (libraries/USBDevice/inc/USBSerial.h)
class USBSerial : public Stream {
 public:
  void begin(void);
  void begin(uint32_t);
  void begin(uint32_t, uint8_t);
  void end(void);

  virtual int available(void);
  virtual int availableForWrite(void);  // free bytes in the CDC transmit queue
  virtual int peek(void);
  virtual int read(void);
  virtual size_t readBytes(char *buffer, size_t length);
  size_t readBytes(uint8_t *buffer, size_t length);         // real: inline
  virtual void flush(void);
  virtual size_t write(uint8_t);
  virtual size_t write(const uint8_t *buffer, size_t size);
  using Print::write;
  operator bool(void);  // not explicit: delay(10), then the DTR state

  uint32_t baud();
  void dtr(bool enable);
  bool dtr();
  bool rts();
};

extern USBSerial SerialUSB;
#define Serial SerialUSB  // WSerial.h: USBCON && USBD_USE_CDC && !DISABLE_GENERIC_SERIALUSB
#endif  // __cplusplus
