/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What libfwsign exports.  The library is built with hidden visibility:
 * only declarations marked FW_API (every function of include/fwsign/) and
 * FW_MODULE_API (formats/module.h, for the tar/cpio module) leave it.
 * tests/abi.sh compares the library's dynamic symbols with these marks.
 */
#ifndef FWSIGN_EXPORT_H
#define FWSIGN_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define FW_API __attribute__((visibility("default")))
#else
#define FW_API
#endif

#endif
