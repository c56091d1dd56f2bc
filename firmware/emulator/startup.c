// Reset and fault handling for the emulated Cortex-M7 (QEMU mps2-an500).
//
// Reset_Handler enables the FPU before anything can touch it (the harness is built with
// -mfloat-abi=hard), copies .data, zeroes .bss, opens newlib's semihosting file handles and
// runs static constructors, then main(). Faults print a line over semihosting and exit with
// status 3, so a crash ends QEMU instead of hanging the caller.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

extern uint32_t _data_start, _data_end, _data_load, _bss_start, _bss_end, _stack_top;
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);
extern int main(void);
void SysTick_Handler(void);

#define CPACR (*(volatile uint32_t*)0xE000ED88u)  // Coprocessor Access Control Register
#define CPACR_CP10_CP11_FULL (0xFu << 20)           // full access to the FPU (CP10, CP11)

__attribute__((noreturn)) void Reset_Handler(void) {
  CPACR |= CPACR_CP10_CP11_FULL;
  __asm volatile("dsb\n isb" ::: "memory");
  for (uint32_t *src = &_data_load, *dst = &_data_start; dst < &_data_end;) *dst++ = *src++;
  for (uint32_t* dst = &_bss_start; dst < &_bss_end;) *dst++ = 0;
  initialise_monitor_handles();
  __libc_init_array();
  exit(main());
}

// newlib's __libc_init_array/__libc_fini_array call these hooks from crti.o, which is not linked
// (-nostartfiles: this file is the start-up code); static constructors run from .init_array.
void _init(void) {}
void _fini(void) {}

__attribute__((noreturn)) static void Fault_Handler(void) {
  printf("daisynet-m7 fault: the harness crashed (hard fault)\n");
  exit(3);
}

// Cortex-M vector table: initial stack pointer, then the exception handlers (ARMv7-M numbering).
__attribute__((section(".vectors"), used)) static const void* const vector_table[16] = {
    &_stack_top,      // 0: initial SP
    Reset_Handler,    // 1: reset
    Fault_Handler,    // 2: NMI
    Fault_Handler,    // 3: hard fault
    Fault_Handler,    // 4: memory management fault
    Fault_Handler,    // 5: bus fault
    Fault_Handler,    // 6: usage fault
    0, 0, 0, 0,       // 7-10: reserved
    Fault_Handler,    // 11: SVCall
    Fault_Handler,    // 12: debug monitor
    0,                // 13: reserved
    Fault_Handler,    // 14: PendSV
    SysTick_Handler,  // 15: SysTick
};
