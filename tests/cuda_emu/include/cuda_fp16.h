// Emulation stand-in for the CUDA header of this name (see tm_emu.h).
#pragma once

#include "tm_emu.h"
