/* pm-procstat.c — the figures Stats reports, parsed from /proc text.
 *
 * /proc/PID/stat is "pid (comm) state ppid ...": comm is whatever the
 * program set (spaces, parentheses, digits), so fields are counted from the
 * last ')' on, where the kernel's own format resumes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pm-procstat.h"

/* Parses one unsigned decimal field at *p, skipping leading spaces. */
static gboolean
next_u64 (const char **p,
          guint64     *out)
{
  const char *s = *p;
  char *end = NULL;

  while (*s == ' ')
    s++;
  if (!g_ascii_isdigit (*s))
    return FALSE;
  *out = g_ascii_strtoull (s, &end, 10);
  if (end == s || (*end != ' ' && *end != '\n' && *end != '\0'))
    return FALSE;
  *p = end;
  return TRUE;
}

/* Skips one field of any content, up to the next space. */
static gboolean
skip_field (const char **p)
{
  const char *s = *p;

  while (*s == ' ')
    s++;
  if (*s == '\0' || *s == '\n')
    return FALSE;
  while (*s != ' ' && *s != '\n' && *s != '\0')
    s++;
  *p = s;
  return TRUE;
}

gboolean
pm_procstat_parse_cpu_ticks (const char *stat_text,
                             guint64    *ticks)
{
  const char *p = strrchr (stat_text, ')');
  guint64 utime, stime;

  if (p == NULL)
    return FALSE;
  p++;
  /* After comm: state (3), then fields 4..13, then utime (14), stime (15). */
  for (int field = 3; field <= 13; field++)
    if (!skip_field (&p))
      return FALSE;
  if (!next_u64 (&p, &utime) || !next_u64 (&p, &stime))
    return FALSE;
  *ticks = utime + stime;
  return TRUE;
}

gboolean
pm_procstat_parse_rss_pages (const char *statm_text,
                             guint64    *pages)
{
  const char *p = statm_text;
  guint64 size;

  return next_u64 (&p, &size) && next_u64 (&p, pages);
}

guint64
pm_procstat_ticks_to_usec (guint64 ticks,
                           guint64 ticks_per_second)
{
  if (ticks_per_second == 0)
    return 0;
  /* Split to keep ticks * 10^6 from overflowing for long-lived children. */
  return ticks / ticks_per_second * G_USEC_PER_SEC +
         ticks % ticks_per_second * G_USEC_PER_SEC / ticks_per_second;
}

gboolean
pm_procstat_read (int      pid,
                  guint64 *cpu_usec,
                  guint64 *rss_bytes)
{
  char path[64];
  g_autofree char *stat = NULL;
  g_autofree char *statm = NULL;
  guint64 ticks, pages;
  long tck = sysconf (_SC_CLK_TCK);
  long page = sysconf (_SC_PAGESIZE);

  g_snprintf (path, sizeof path, "/proc/%d/stat", pid);
  if (!g_file_get_contents (path, &stat, NULL, NULL))
    return FALSE;
  g_snprintf (path, sizeof path, "/proc/%d/statm", pid);
  if (!g_file_get_contents (path, &statm, NULL, NULL))
    return FALSE;
  if (!pm_procstat_parse_cpu_ticks (stat, &ticks) ||
      !pm_procstat_parse_rss_pages (statm, &pages))
    return FALSE;
  *cpu_usec = pm_procstat_ticks_to_usec (ticks, tck > 0 ? (guint64) tck : 100);
  *rss_bytes = pages * (guint64) (page > 0 ? page : 4096);
  return TRUE;
}

gssize
pm_procstat_read_file (const char *path,
                       char       *buf,
                       gsize       size)
{
  gssize n;
  int fd;

  g_return_val_if_fail (size > 0, -1);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  do
    n = read (fd, buf, size - 1);
  while (n < 0 && errno == EINTR);
  close (fd);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  return n;
}
