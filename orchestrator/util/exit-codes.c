/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "exit-codes.h"

#include "formats/vf.h"
#include "signals.h"

int vmf_convert_exit_code(const GError *err)
{
    if (err->domain != VF_ERROR)
        return VMF_EXIT_FAILURE;
    switch (err->code) {
    case VF_ERROR_INPUT:
        return VMF_EXIT_INPUT;
    case VF_ERROR_OUTPUT:
        return VMF_EXIT_OUTPUT;
    case VF_ERROR_USAGE:
        return VMF_EXIT_USAGE;
    case VF_ERROR_LIMIT:
        return VMF_EXIT_LIMIT;
    case VF_ERROR_CANCELLED:
        return vmf_signals_exit_code();
    default:
        return VMF_EXIT_FAILURE;
    }
}
