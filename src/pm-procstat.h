/* pm-procstat.h — the figures Stats reports, parsed from /proc text.
 *
 * Pure: takes the contents of /proc/PID/stat and /proc/PID/statm as read,
 * so the parsing is unit-tested on fixed strings; pm-manager does the reads.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* From /proc/PID/stat: utime + stime (fields 14 and 15) in clock ticks.
 * The comm field may hold spaces and parentheses: parsing starts after
 * the last ')'. FALSE when the text does not have those fields. */
gboolean pm_procstat_parse_cpu_ticks (const char *stat_text,
                                      guint64    *ticks);

/* From /proc/PID/statm: resident pages (the second field). */
gboolean pm_procstat_parse_rss_pages (const char *statm_text,
                                      guint64    *pages);

/* Ticks → µs for a given tick rate (sysconf (_SC_CLK_TCK)). */
guint64  pm_procstat_ticks_to_usec   (guint64     ticks,
                                      guint64     ticks_per_second);

/* Reads both files of @pid: cpu in µs, rss in bytes. FALSE when the
 * process is gone or the files do not parse. */
gboolean pm_procstat_read            (int         pid,
                                      guint64    *cpu_usec,
                                      guint64    *rss_bytes);

/* Reads a small /proc file (stat, status: one read returns it whole) into
 * @buf, NUL-terminated; its length, or -1 when it cannot be read. No
 * allocation: it runs on every Start. */
gssize   pm_procstat_read_file       (const char *path,
                                      char       *buf,
                                      gsize       size);

G_END_DECLS
