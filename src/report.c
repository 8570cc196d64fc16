// SPDX-License-Identifier: LGPL-2.1-or-later
/* The report as JSON: the plan with its outcomes, one record per file. */
#include <stdio.h>
#include <string.h>

#include "io.h"

void fw_json_str(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

const char *fw_action_name(enum fw_action a)
{
	switch (a) {
	case FW_ACT_SIGN: return "sign";
	case FW_ACT_RESIGN: return "re-sign";
	case FW_ACT_SKIP: return "skip";
	default: return "none";
	}
}

static const char *result_name(enum fw_result r)
{
	switch (r) {
	case FW_RES_WARN: return "warning";
	case FW_RES_ERROR: return "error";
	default: return "ok";
	}
}

void fw_report_json(const struct fw_report *r, const char *command, FILE *f)
{
	fprintf(f, "{\"fwsign\":\"%s\",\"command\":", FWSIGN_VERSION);
	fw_json_str(f, command);
	fputs(",\"format\":", f);
	fw_json_str(f, r->format);
	fprintf(f, ",\"summary\":{\"files\":%zu,\"executables\":%zu,"
		   "\"shared_libraries\":%zu,\"kernel_modules\":%zu,"
		   "\"other_elf\":%zu,\"malformed_elf\":%zu,\"not_elf\":%zu,"
		   "\"signed\":%zu,\"resigned\":%zu,\"skipped\":%zu,"
		   "\"warnings\":%zu,\"errors\":%zu,\"bytes_in\":%llu,"
		   "\"bytes_added\":%lld,\"seconds\":%.3f",
		r->n, r->counts[FW_KIND_EXEC], r->counts[FW_KIND_SHLIB],
		r->counts[FW_KIND_MODULE], r->counts[FW_KIND_OTHER],
		r->counts[FW_KIND_MALFORMED], r->counts[FW_KIND_NOT_ELF],
		r->n_signed, r->n_resigned, r->n_skipped, r->n_warn, r->n_error,
		(unsigned long long)r->bytes_in,
		(long long)r->bytes_added, r->seconds);
	if (command && !strcmp(command, "verify"))
		fprintf(f, ",\"good\":%zu,\"unsigned\":%zu,\"foreign_key\":%zu,"
			   "\"bad_signature\":%zu",
			r->sig_counts[FW_SIG_GOOD], r->sig_counts[FW_SIG_UNSIGNED],
			r->sig_counts[FW_SIG_FOREIGN], r->sig_counts[FW_SIG_BAD]);
	fputs("},\"warnings\":[", f);
	for (size_t i = 0; i < r->n_warnings; i++) {
		if (i)
			fputc(',', f);
		fw_json_str(f, r->warnings[i]);
	}
	fputs("],\"files\":[", f);
	for (size_t i = 0; i < r->n; i++) {
		const struct fw_record *c = fw_report_rec(r, i);
		int elf = c->elf.kind != FW_KIND_NOT_ELF && c->elf.elfclass;

		fputs(i ? ",\n{\"path\":" : "\n{\"path\":", f);
		fw_json_str(f, c->path);
		fputs(",\"kind\":", f);
		fw_json_str(f, fw_kind_name(c->elf.kind));
		fputs(",\"machine\":", f);
		fw_json_str(f, elf ? fw_machine_name(c->elf.machine) : NULL);
		if (elf)
			fprintf(f, ",\"class\":\"ELF%d\",\"endian\":\"%s\"",
				c->elf.elfclass, c->elf.big_endian ? "big" : "little");
		else
			fputs(",\"class\":null,\"endian\":null", f);
		fputs(",\"compression\":", f);
		fw_json_str(f, c->codec);
		fputs(",\"action\":", f);
		fw_json_str(f, fw_action_name(c->action));
		fputs(",\"result\":", f);
		fw_json_str(f, result_name(c->result));
		if (command && !strcmp(command, "verify")) {
			fputs(",\"signature\":", f);
			fw_json_str(f, fw_sigstate_name(c->sig));
		}
		if (c->ima != FW_IMA_NONE) {
			fputs(",\"ima\":", f);
			fw_json_str(f, fw_imastate_name(c->ima));
			if (c->ima_keyid)
				fprintf(f, ",\"ima_keyid\":\"%08x\"",
					c->ima_keyid);
		}
		fprintf(f, ",\"size\":%lld,\"bytes_added\":%lld",
			(long long)c->size, (long long)c->bytes_added);
		if (c->link_of) {
			fputs(",\"hardlink_of\":", f);
			fw_json_str(f, c->link_of);
		}
		if (c->msg) {
			fputs(",\"message\":", f);
			fw_json_str(f, c->msg);
		}
		fputc('}', f);
	}
	fputs("\n]}\n", f);
}
