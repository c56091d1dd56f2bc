// STM32duino's CMSIS-DSP library header (see DaisyDuino.h beside this file): it includes
// arm_math.h, here from the pinned cmsisdsp sdist.
#pragma once
#include "arm_math.h"
