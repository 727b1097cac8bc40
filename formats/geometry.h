/* SPDX-License-Identifier: GPL-2.0-or-later */
/* geometry.h — legacy CHS geometries some formats still record. */
#pragma once

#include "vf.h"

typedef struct VfChs {
    uint32_t cylinders;
    uint32_t heads;
    uint32_t sectors;
} VfChs;

/* The VHD specification's algorithm (Appendix "CHS calculation"). */
VfChs vf_chs_vhd(uint64_t total_sectors);

/* VMDK ddb.geometry: 255 heads/63 sectors for SCSI adapters, 16/63 for IDE;
 * cylinders capped at 65535. */
VfChs vf_chs_vmdk(uint64_t total_sectors, bool ide);
