/* pm-cli-format.h — the pure half of `elife-pm`: human units, NAME|ID
 * targets, option values, the `apply` key file → Start options, log line
 * filtering and JSON output.
 *
 * No bus and no file I/O here (the key file arrives parsed), so all of it is
 * unit-tested in tests/test-cli-format.c.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* "45s", "3m12s", "2h05m", "3d04h". */
char      *pm_cli_format_duration   (guint64     usec);
/* cpu_usec as a share of one core over elapsed_usec: "1.2%", "0.0%". */
char      *pm_cli_format_cpu        (guint64     cpu_usec,
                                     guint64     elapsed_usec);
/* Binary units with one decimal: "512B", "4.0K", "14.3M", "1.1G". */
char      *pm_cli_format_bytes      (guint64     bytes);

/* All digits: an id (TRUE, *id set; 0 when out of range). Else a name. */
gboolean   pm_cli_parse_target      (const char *target,
                                     guint32    *id);
/* A decimal number ≤ max, nothing else; error names @what. */
gboolean   pm_cli_parse_uint        (const char *text,
                                     guint64     max,
                                     const char *what,
                                     guint64    *out,
                                     GError    **error);
/* "100,500,1000" (or a list from a key file) → "au". */
GVariant  *pm_cli_parse_ms_list     (const char * const *items,
                                     const char *what,
                                     GError    **error);
/* "K=V" items → "a{ss}". */
GVariant  *pm_cli_parse_env         (const char * const *items,
                                     const char *what,
                                     GError    **error);

/* One Start option as `apply` knows it. */
typedef struct
{
  const char *key;        /* the Start key, also the key file's key */
  const char *type;       /* its D-Bus type */
  gboolean    is_path;    /* relative values are taken from the file's directory */
} PmCliOption;

/* The Start options in the daemon's order, issue 14's and 15's included. */
const PmCliOption *pm_cli_options      (gsize *n);
const PmCliOption *pm_cli_option_find  (const char *key);

/* Every group of @keyfile → an a{sv} for Start with name = the group and
 * replace = true, relative paths made absolute from @base_dir (and cwd
 * defaulting to it). All groups are checked before any is returned: the
 * first error names the group and the key. Returns a GPtrArray of
 * GVariant* (owned); NULL with @error set. */
GPtrArray *pm_cli_keyfile_to_options (GKeyFile   *keyfile,
                                      const char *base_dir,
                                      GError    **error);

/* Whether a log line belongs to the process named @name: its "NAME: "
 * prefix, after the time stamp when there is one. An unnamed process's
 * lines carry no prefix: every line is taken. */
gboolean   pm_cli_log_line_is_of    (const char *line,
                                     gsize       len,
                                     const char *name);
/* The last @n lines of @name in @buf (the end of a file; @at_start: @buf
 * begins at the file's start, so its first line is whole). A final line
 * without newline is left out (it is being written). Returns the lines as
 * a GPtrArray of char*, oldest first. */
GPtrArray *pm_cli_last_lines        (const char *buf,
                                     gsize       len,
                                     gboolean    at_start,
                                     const char *name,
                                     guint       n);

/* JSON for a GVariant: numbers, booleans, strings, arrays; a{s*} as an
 * object; variants unwrapped; tuples as arrays. */
void       pm_cli_json_append_variant (GString  *out,
                                       GVariant *value);
void       pm_cli_json_append_string  (GString    *out,
                                       const char *s);
/* "ExitCode" → "exitCode", "Pid" → "pid". */
char      *pm_cli_json_key            (const char *property);

G_END_DECLS
