// SPDX-License-Identifier: LGPL-2.1-or-later
/* One error type for the whole library: (code, file, message). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "fwsign/fwsign.h"

void fw_error_clear(struct fw_error *e)
{
	e->code = FW_OK;
	e->file[0] = '\0';
	e->msg[0] = '\0';
}

static int vset(struct fw_error *e, int code, const char *file,
		const char *fmt, va_list ap)
{
	e->code = code;
	snprintf(e->file, sizeof(e->file), "%s", file ? file : "");
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	return code;
}

int fw_error_set(struct fw_error *e, int code, const char *file,
		 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(e, code, file, fmt, ap);
	va_end(ap);
	return code;
}

int fw_error_ssl(struct fw_error *e, int code, const char *file,
		 const char *fmt, ...)
{
	va_list ap;
	unsigned long l;
	const char *sep = ": ";

	va_start(ap, fmt);
	vset(e, code, file, fmt, ap);
	va_end(ap);
	/* The last queued error is usually the most specific one. */
	while ((l = ERR_get_error()) != 0) {
		char buf[256];
		size_t n = strlen(e->msg);

		ERR_error_string_n(l, buf, sizeof(buf));
		/* keep only the reason part: "error:XXXX:lib::reason" */
		const char *r = strrchr(buf, ':');
		snprintf(e->msg + n, sizeof(e->msg) - n, "%s%s", sep,
			 r ? r + 1 : buf);
		sep = ", ";
	}
	return code;
}
