/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * signals.h — SIGINT/SIGTERM turn into a flag the long-running stages poll,
 * so they can stop cleanly (no partial output, no temporary files).
 */
#pragma once

/* Non-zero once SIGINT or SIGTERM arrived; holds the signal number. */
extern volatile int vmf_interrupted;

/* Installs the handlers (idempotent); SIGPIPE is ignored, so a lost peer
 * is an EPIPE where it is written to. */
void vmf_signals_install(void);

/* The exit status for an interrupted run: 128 + signal number. */
int vmf_signals_exit_code(void);
