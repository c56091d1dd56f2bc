// Stand-in for the part of U8g2's U8g2lib.h (olikraus/U8g2_Arduino 2.36.17, commit c5844941,
// pinned in platformio.ini) the inference app uses. Declarations only, same types and linkage
// (the C API in clib/u8g2.h is extern "C"; U8G2_R0 is a macro; u8g2_uint_t is uint16_t because
// U8G2_16BIT is defined, u8g2.h:71); nothing links. Real: class U8G2 U8g2lib.h:57 (a Print),
// begin :144, clearBuffer/sendBuffer :187-188, updateDisplayArea :208 (tile units: 8x8 pixels),
// setFont :269, drawStr :295, the SSD1309 class :7202; U8G2_R0 u8g2.h:441, fonts u8g2.h:2109.
#pragma once

#include <stdint.h>

#include "Arduino.h"

extern "C" {
typedef uint16_t u8g2_uint_t;
typedef struct u8g2_cb_struct u8g2_cb_t;
extern const u8g2_cb_t u8g2_cb_r0;
extern const u8g2_cb_t u8g2_cb_r2;
extern const uint8_t u8g2_font_6x10_tf[];
}
#define U8G2_R0 (&u8g2_cb_r0)
#define U8G2_R2 (&u8g2_cb_r2)
#define U8X8_PIN_NONE 255

class U8G2 : public Print {
 public:
  U8G2(void);
  bool begin(void);
  void clearDisplay(void);
  void setPowerSave(uint8_t is_enable);
  void setContrast(uint8_t value);
  void sendBuffer(void);
  void clearBuffer(void);
  void updateDisplayArea(uint8_t tx, uint8_t ty, uint8_t tw, uint8_t th);
  void updateDisplay(void);
  void setDrawColor(uint8_t color_index);
  void drawBox(u8g2_uint_t x, u8g2_uint_t y, u8g2_uint_t w, u8g2_uint_t h);
  void setFont(const uint8_t *font);
  void setFontMode(uint8_t is_transparent);
  u8g2_uint_t drawStr(u8g2_uint_t x, u8g2_uint_t y, const char *s);
  size_t write(uint8_t v);  // Print
};

class U8G2_SSD1309_128X64_NONAME2_F_4W_SW_SPI : public U8G2 {
 public:
  U8G2_SSD1309_128X64_NONAME2_F_4W_SW_SPI(const u8g2_cb_t *rotation, uint8_t clock, uint8_t data,
                                          uint8_t cs, uint8_t dc,
                                          uint8_t reset = U8X8_PIN_NONE);
};
