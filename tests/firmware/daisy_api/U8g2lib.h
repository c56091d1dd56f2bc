// Declarations of the U8g2 API the inference app uses (see DaisyDuino.h beside this file).
#pragma once

#include <cstdint>

struct u8g2_cb_t;
extern const u8g2_cb_t* U8G2_R0;
extern const uint8_t u8g2_font_6x10_tf[];

class U8G2_SSD1309_128X64_NONAME2_F_4W_SW_SPI {
 public:
  U8G2_SSD1309_128X64_NONAME2_F_4W_SW_SPI(const u8g2_cb_t* rotation, uint8_t clock, uint8_t data,
                                          uint8_t cs, uint8_t dc, uint8_t reset);
  bool begin();
  void clearBuffer();
  void sendBuffer();
  void setFont(const uint8_t* font);
  uint16_t drawStr(uint16_t x, uint16_t y, const char* text);
};
