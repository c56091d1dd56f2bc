// Stand-in for the part of CMSIS-Core's core_cm7.h the Daisy apps use, mirroring CMSIS 6.3.0
// (CMSIS_6 v6.3.0, CMSIS-Core(M) 6.1: PlatformIO's framework-cmsis 2.60300.0, which
// platform-ststm32 19.6.0 gives STM32duino 2.12.0). Same names, member types, register offsets
// and base addresses as the real header; offsets are checked below. Nothing here links.
// Real: DWT_Type core_cm7.h:1121-1148, DCB_Type :1640-1645, bases :1892-1907, deprecated
// CoreDebug alias :1928-2027 (present unless CMSIS_DISABLE_DEPRECATED), __enable_irq /
// __disable_irq cmsis_gcc.h:798-812 (the real ones are __STATIC_FORCEINLINE; spelled out here
// so this file does not clash with the cmsisdsp headers' own __STATIC_FORCEINLINE).
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define __IM volatile const /* read only */
#define __OM volatile       /* write only */
#define __IOM volatile      /* read / write */

/* Data Watchpoint and Trace (DWT) */
typedef struct {
  __IOM uint32_t CTRL;      /* 0x000 Control */
  __IOM uint32_t CYCCNT;    /* 0x004 Cycle Count */
  __IOM uint32_t CPICNT;    /* 0x008 */
  __IOM uint32_t EXCCNT;    /* 0x00C */
  __IOM uint32_t SLEEPCNT;  /* 0x010 */
  __IOM uint32_t LSUCNT;    /* 0x014 */
  __IOM uint32_t FOLDCNT;   /* 0x018 */
  __IM uint32_t PCSR;       /* 0x01C */
  __IOM uint32_t COMP0;     /* 0x020 */
  __IOM uint32_t MASK0;
  __IOM uint32_t FUNCTION0;
  uint32_t RESERVED0[1U];
  __IOM uint32_t COMP1;     /* 0x030 */
  __IOM uint32_t MASK1;
  __IOM uint32_t FUNCTION1;
  uint32_t RESERVED1[1U];
  __IOM uint32_t COMP2;     /* 0x040 */
  __IOM uint32_t MASK2;
  __IOM uint32_t FUNCTION2;
  uint32_t RESERVED2[1U];
  __IOM uint32_t COMP3;     /* 0x050 */
  __IOM uint32_t MASK3;
  __IOM uint32_t FUNCTION3;
  uint32_t RESERVED3[981U];
  __OM uint32_t LAR;        /* 0xFB0 Lock Access (write 0xC5ACCE55 to unlock) */
  __IM uint32_t LSR;        /* 0xFB4 Lock Status */
} DWT_Type;

#define DWT_CTRL_NOCYCCNT_Pos 25U
#define DWT_CTRL_NOCYCCNT_Msk (1UL << DWT_CTRL_NOCYCCNT_Pos)
#define DWT_CTRL_CYCCNTENA_Pos 0U
#define DWT_CTRL_CYCCNTENA_Msk (1UL /*<< DWT_CTRL_CYCCNTENA_Pos*/)

/* Debug Control Block (DCB): CMSIS 6's name for CMSIS 5's CoreDebug */
typedef struct {
  __IOM uint32_t DHCSR;  /* 0x000 */
  __OM uint32_t DCRSR;   /* 0x004 */
  __IOM uint32_t DCRDR;  /* 0x008 */
  __IOM uint32_t DEMCR;  /* 0x00C Debug Exception and Monitor Control */
} DCB_Type;

#define DCB_DEMCR_TRCENA_Pos 24U
#define DCB_DEMCR_TRCENA_Msk (1UL << DCB_DEMCR_TRCENA_Pos)

#define DWT_BASE (0xE0001000UL)
#define DCB_BASE (0xE000EDF0UL)
#define DWT ((DWT_Type *)DWT_BASE)
#define DCB ((DCB_Type *)DCB_BASE)

#ifndef CMSIS_DISABLE_DEPRECATED
/* deprecated, CMSIS_5 backward compatibility */
typedef struct {
  __IOM uint32_t DHCSR;
  __OM uint32_t DCRSR;
  __IOM uint32_t DCRDR;
  __IOM uint32_t DEMCR;
} CoreDebug_Type;
#define CoreDebug_DEMCR_TRCENA_Pos DCB_DEMCR_TRCENA_Pos
#define CoreDebug_DEMCR_TRCENA_Msk DCB_DEMCR_TRCENA_Msk
#define CoreDebug ((CoreDebug_Type *)DCB_BASE)
#endif /* CMSIS_DISABLE_DEPRECATED */

__attribute__((always_inline)) static inline void __enable_irq(void) {
  __asm volatile("cpsie i" : : : "memory");
}
__attribute__((always_inline)) static inline void __disable_irq(void) {
  __asm volatile("cpsid i" : : : "memory");
}

#ifdef __cplusplus
}  // extern "C"

#include <cstddef>
static_assert(offsetof(DWT_Type, CYCCNT) == 0x004, "DWT CYCCNT");
static_assert(offsetof(DWT_Type, LAR) == 0xFB0, "DWT LAR");
static_assert(offsetof(DCB_Type, DEMCR) == 0x00C, "DCB DEMCR (0xE000EDFC)");
#endif
