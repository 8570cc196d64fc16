/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FWSIGN_CLI_H
#define FWSIGN_CLI_H

#include "fwsign/fwsign.h"

int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_inject_cert(int argc, char **argv);
int cmd_kernel_info(int argc, char **argv);	/* -1: not a kernel */

/* common.c */
int cli_error(const struct fw_error *e);
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Progress on stderr while the engine runs, if stderr is a terminal. */
void cli_progress(struct fw_run_opts *ro, const char *what);
void cli_progress_end(void);
int cli_jobs(const char *s);
int cli_size(const char *s, uint64_t *out);
void cli_print_warnings(const struct fw_report *r);

#endif
