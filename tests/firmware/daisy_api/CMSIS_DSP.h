// Stand-in for STM32duino 2.12.0's libraries/CMSIS_DSP/src/CMSIS_DSP.h, which only includes
// arm_math.h (CMSIS-DSP 1.16.2 there; here the cmsisdsp sdist the tests pin). Including it is
// what makes PlatformIO's library finder build the CMSIS_DSP library.
#pragma once
#include "arm_math.h"
