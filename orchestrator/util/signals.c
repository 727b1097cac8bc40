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
    /* A peer gone (the ssh of a qemu+ssh:// connection, a reader of our
     * output) is an error of the write that found it, reported as such: not
     * a silent death that leaves the run's domains and volumes behind. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
}

int vmf_signals_exit_code(void)
{
    return 128 + (vmf_interrupted ? vmf_interrupted : SIGINT);
}
