/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "fleet-link.h"

#include "signals.h"

#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct {
    bool checked;
    int fd; /* -1: not in a fleet */
    int last_pct;
    bool local;
} link_state = {.fd = -1, .last_pct = -1};

static int link_fd(void)
{
    if (!link_state.checked) {
        link_state.checked = true;
        const char *v = g_getenv("VMFORGE_FLEET_FD");
        char *end = NULL;
        long fd = v && *v ? strtol(v, &end, 10) : -1;
        link_state.fd = end && *end == '\0' && fd > 2 && fd < 1024 ? (int)fd : -1;
        /* Not for the processes the build starts (QEMU, ssh). */
        if (link_state.fd >= 0 && fcntl(link_state.fd, F_SETFD, FD_CLOEXEC) < 0)
            link_state.fd = -1;
    }
    return link_state.fd;
}

bool vmf_fleet_link_active(void)
{
    return link_fd() >= 0;
}

static void send_line(const char *line)
{
    int fd = link_fd();
    if (fd < 0)
        return;
    size_t len = strlen(line);
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, line + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the fleet is gone: it sees the exit status */
        off += (size_t)w;
    }
}

void vmf_fleet_link_stage(const char *stage)
{
    g_autofree char *line = g_strdup_printf("stage %s\n", stage);
    link_state.last_pct = -1;
    send_line(line);
}

void vmf_fleet_link_pct(int pct)
{
    if (link_fd() < 0 || pct == link_state.last_pct || pct < 0)
        return;
    link_state.last_pct = pct;
    char line[32];
    snprintf(line, sizeof(line), "pct %d\n", pct);
    send_line(line);
}

/* Reads the fleet's "go" (polling, so that a signal stops the wait). */
static bool wait_go(int fd)
{
    char buf[8];
    size_t have = 0;
    while (!vmf_interrupted) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, 200);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            continue;
        ssize_t r = read(fd, buf + have, sizeof(buf) - have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return false;
        have += (size_t)r;
        if (memchr(buf, '\n', have))
            return have >= 3 && memcmp(buf, "go\n", 3) == 0;
        if (have == sizeof(buf))
            return false;
    }
    return false;
}

bool vmf_fleet_link_local(void)
{
    int fd = link_fd();
    if (fd < 0 || link_state.local)
        return true;
    send_line("local\n");
    link_state.local = wait_go(fd);
    return link_state.local;
}
