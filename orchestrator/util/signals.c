/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "signals.h"

#include <signal.h>
#include <string.h>

volatile int vmf_interrupted;

static void on_signal(int sig)
{
    vmf_interrupted = sig;
}

void vmf_signals_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

int vmf_signals_exit_code(void)
{
    return 128 + (vmf_interrupted ? vmf_interrupted : SIGINT);
}
