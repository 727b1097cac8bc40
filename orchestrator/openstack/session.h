/* SPDX-License-Identifier: GPL-2.0-or-later */
/* session.h — the session keystone.c makes and glance.c uses (this folder only). */
#pragma once

#include "http.h"

struct VmfOsSession {
    VmfHttp *http;
    char *token;     /* secret: never in a message */
    char *image_url; /* without a trailing slash or /v2 */
    char *project_id;
    char *label; /* "cloud NAME" or "the OS_* environment", for messages */
};
