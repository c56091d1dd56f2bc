// The model_defn.h the engine headers read. An app of one model finds "model_defn.h" on its
// include path. Each slot of a model bank (bank_slot.h) is a translation unit of its own that
// names its slot's header in DAISYNET_MODEL_HEADER (a quoted path) and renames the namespace
// daisynet, so the slots' models (each one's daisynet::model) and engines never meet.
#pragma once

#ifndef DAISYNET_MODEL_HEADER
#define DAISYNET_MODEL_HEADER "model_defn.h"
#endif
#include DAISYNET_MODEL_HEADER
