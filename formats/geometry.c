/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "geometry.h"

VfChs vf_chs_vhd(uint64_t total_sectors)
{
    uint64_t spt, heads, cth;
    if (total_sectors > 65535ull * 16 * 255)
        total_sectors = 65535ull * 16 * 255;
    if (total_sectors >= 65535ull * 16 * 63) {
        spt = 255;
        heads = 16;
        cth = total_sectors / spt;
    } else {
        spt = 17;
        cth = total_sectors / spt;
        heads = (cth + 1023) / 1024;
        if (heads < 4)
            heads = 4;
        if (cth >= heads * 1024 || heads > 16) {
            spt = 31;
            heads = 16;
            cth = total_sectors / spt;
        }
        if (cth >= heads * 1024) {
            spt = 63;
            heads = 16;
            cth = total_sectors / spt;
        }
    }
    return (VfChs){(uint32_t)(cth / heads), (uint32_t)heads, (uint32_t)spt};
}

VfChs vf_chs_vmdk(uint64_t total_sectors, bool ide)
{
    uint32_t heads = ide ? 16 : 255, sectors = 63;
    uint64_t cyl = total_sectors / ((uint64_t)heads * sectors);
    if (cyl > 65535)
        cyl = 65535;
    return (VfChs){(uint32_t)cyl, heads, sectors};
}
