/* SPDX-License-Identifier: MIT */
#include "internal.h"

uint32_t shmipc_version(void) { return SHMIPC_VERSION_NUMBER; }
