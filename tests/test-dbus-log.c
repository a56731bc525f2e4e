/* test-dbus-log.c — line logging of the real elife-pmd (issue 4): prefixes,
 * whole lines from many writers into one file, long and partial lines, CR
 * LF, stripANSI, paths, LogFailed, ReopenLogs and SIGHUP, write errors and
 * LostLines, timestamps, batching and backpressure.
 *
 * The producers are tests/data/l-*: l-seq.py writes numbered, checksummed
 * lines cut into writes of random sizes (so the daemon's reads end
 * mid-line), and the checker below finds torn, merged, lost, duplicated and
 * reordered lines. l-emit.py writes exactly the bytes a case asks for. */
#include "pm-test-util.h"
#include "pm-log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

#define WAIT_MS 10000
#define SHARED_CHILDREN 8
#define SHARED_LINES 50000
#define MAX_CHILDREN 8

/* A NULL-terminated argv for 'args': <%^as>. */
#define ARGV(...) ((const char *[]) { __VA_ARGS__, NULL })

static gsize
count_lines (const char *text)
{
  gsize n = 0;

  for (const char *p = text; (p = strchr (p, '\n')) != NULL; p++)
    n++;
  return n;
}

/* Newline count of a file, 0 when missing. NULs in the file are fine. */
static gsize
file_line_count (const char *path)
{
  g_autofree gchar *text = NULL;
  gsize len = 0, n = 0;

  if (!g_file_get_contents (path, &text, &len, NULL))
    return 0;
  for (gsize i = 0; i < len; i++)
    n += text[i] == '\n';
  return n;
}

typedef struct
{
  const char *path;
  gsize lines;
} LinesWait;

static gboolean
lines_cond (gpointer data)
{
  LinesWait *w = data;

  return file_line_count (w->path) >= w->lines;
}

static gboolean
wait_file_lines (const char *path, gsize lines, guint timeout_ms)
{
  LinesWait w = { path, lines };

  return pm_wait_for (lines_cond, &w, timeout_ms);
}

typedef struct
{
  const char *path;
  const char *text;
} TextWait;

static gboolean
text_cond (gpointer data)
{
  TextWait *w = data;
  g_autofree gchar *text = pm_read_file (w->path);

  return text != NULL && strstr (text, w->text) != NULL;
}

static gboolean
wait_file_text (const char *path, const char *text, guint timeout_ms)
{
  TextWait w = { path, text };

  return pm_wait_for (text_cond, &w, timeout_ms);
}

static gboolean
file_exists_cond (gpointer data)
{
  return g_file_test (data, G_FILE_TEST_EXISTS);
}

static gboolean
wait_exists (const char *path, guint timeout_ms)
{
  return pm_wait_for (file_exists_cond, (gpointer) path, timeout_ms);
}

static void
touch (const char *path)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, "", 0, &error);
  g_assert_no_error (error);
}

/* Lines of a file, without their '\n'; the file must end with one. */
static GPtrArray *
read_lines (const char *path)
{
  g_autofree gchar *text = pm_read_file (path);
  GPtrArray *lines = g_ptr_array_new_with_free_func (g_free);
  gsize len;

  if (text == NULL)
    g_error ("log %s is missing", path);
  len = strlen (text);
  if (len > 0 && text[len - 1] != '\n')
    g_error ("log %s does not end with a newline: a torn last line", path);
  for (char *p = text, *nl; (nl = strchr (p, '\n')) != NULL; p = nl + 1)
    g_ptr_array_add (lines, g_strndup (p, nl - p));
  return lines;
}

static void
assert_lines (const char *path, const char * const *expected)
{
  g_autoptr(GPtrArray) lines = read_lines (path);
  guint n = g_strv_length ((gchar **) expected);

  for (guint i = 0; i < MIN (n, lines->len); i++)
    g_assert_cmpstr (lines->pdata[i], ==, expected[i]);
  g_assert_cmpuint (lines->len, ==, n);
}

static gboolean
has_line (GPtrArray *lines, const char *text)
{
  for (guint i = 0; i < lines->len; i++)
    if (g_strcmp0 (lines->pdata[i], text) == 0)
      return TRUE;
  return FALSE;
}

static void
start_and_wait_exit (PmFixture *f, GVariant *opts, guint32 *id_out)
{
  guint32 id = pm_start_ok (f, opts, NULL);

  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, WAIT_MS));
  if (id_out != NULL)
    *id_out = id;
}

/* ---- the checker -------------------------------------------------------------- */

/* FNV-1a 32, as l-seq.py computes it. */
static guint32
fnv1a (const char *data, gsize len)
{
  guint32 h = 0x811C9DC5u;

  for (gsize i = 0; i < len; i++)
    {
      h ^= (guint8) data[i];
      h *= 0x01000193u;
    }
  return h;
}

typedef struct
{
  guint n_children;             /* producers have ids 1..n_children */
  const char *name;             /* every line has "name: "; NULL: "wID: " */
  const char *lost_prefix;      /* lines "elife-pmd: ..." after this prefix */
  guint64 lines;
  guint bad;                    /* torn, merged, corrupted or wrongly prefixed */
  guint dup;
  guint order;                  /* out of order within one stream */
  guint64 lost;                 /* missing sequence numbers (after finish) */
  GByteArray *seen[MAX_CHILDREN + 1];
  gint64 last[MAX_CHILDREN + 1][2];        /* per stream, in file order */
  gint64 file_min[MAX_CHILDREN + 1][2];    /* of the last file fed */
  gint64 file_max[MAX_CHILDREN + 1][2];
  GPtrArray *reports;           /* "elife-pmd: N lines lost (...)" lines */
  GString *examples;
} Checker;

static void
checker_init (Checker *c, guint n_children, const char *name)
{
  memset (c, 0, sizeof *c);
  g_assert_cmpuint (n_children, <=, MAX_CHILDREN);
  c->n_children = n_children;
  c->name = name;
  for (guint i = 0; i <= MAX_CHILDREN; i++)
    {
      c->seen[i] = g_byte_array_new ();
      c->last[i][0] = c->last[i][1] = -1;
    }
  c->reports = g_ptr_array_new_with_free_func (g_free);
  c->examples = g_string_new (NULL);
}

static void
checker_clear (Checker *c)
{
  for (guint i = 0; i <= MAX_CHILDREN; i++)
    g_byte_array_unref (c->seen[i]);
  g_ptr_array_unref (c->reports);
  g_string_free (c->examples, TRUE);
}

static void
checker_bad (Checker *c, guint *counter, const char *what, const char *line,
             gsize len)
{
  (*counter)++;
  if (c->examples->len < 2000)
    g_string_append_printf (c->examples, "  %s: \"%.*s\"%s\n", what,
                            (int) MIN (len, 160), line, len > 160 ? "..." : "");
}

/* One line without its '\n'. */
static void
checker_line (Checker *c, const char *line, gsize len)
{
  char prefix[32];
  const char *body;
  gsize body_len, plen;
  char *fields[6];
  guint nf = 0;
  g_autofree gchar *copy = NULL;
  guint cid, stream;
  guint64 seq;
  const char *csum_at;
  gchar *end;

  c->lines++;

  if (memchr (line, '\0', len) != NULL)
    {
      checker_bad (c, &c->bad, "NUL in line", line, len);
      return;
    }
  copy = g_strndup (line, len);

  /* The prefix: "name: " or "wID: ", checked against the id below. */
  body = strstr (copy, ": ");
  if (body == NULL)
    {
      checker_bad (c, &c->bad, "no prefix", line, len);
      return;
    }
  plen = (body - copy) + 2;
  body += 2;
  body_len = len - plen;

  if (g_str_has_prefix (body, "elife-pmd: "))
    {
      g_ptr_array_add (c->reports, g_strdup (copy));
      return;
    }

  /* "L ID STREAM SEQ PAYLOAD CSUM": exactly six fields. */
  {
    g_autofree gchar *tmp = g_strdup (body);
    char *save = NULL;

    for (char *tok = strtok_r (tmp, " ", &save); tok != NULL;
         tok = strtok_r (NULL, " ", &save))
      {
        if (nf == G_N_ELEMENTS (fields))
          {
            nf++;
            break;
          }
        fields[nf++] = tok;
      }
    if (nf != 6 || strcmp (fields[0], "L") != 0 || strlen (fields[5]) != 8 ||
        strlen (fields[2]) != 1 || (fields[2][0] != 'o' && fields[2][0] != 'e'))
      {
        checker_bad (c, &c->bad, "torn or merged", line, len);
        return;
      }
    cid = (guint) g_ascii_strtoull (fields[1], &end, 10);
    if (*end != '\0' || cid < 1 || cid > c->n_children)
      {
        checker_bad (c, &c->bad, "bad child id", line, len);
        return;
      }
    seq = g_ascii_strtoull (fields[3], &end, 10);
    if (*end != '\0')
      {
        checker_bad (c, &c->bad, "bad sequence number", line, len);
        return;
      }
    stream = fields[2][0] == 'e';
    csum_at = body + (fields[5] - tmp);
    if (csum_at - body < 1 ||
        g_ascii_strtoull (fields[5], &end, 16) !=
        fnv1a (body, (csum_at - body) - 1) || *end != '\0')
      {
        checker_bad (c, &c->bad, "checksum mismatch", line, len);
        return;
      }
  }
  (void) body_len;

  if (c->name != NULL)
    g_snprintf (prefix, sizeof prefix, "%s: ", c->name);
  else
    g_snprintf (prefix, sizeof prefix, "w%u: ", cid);
  if (strlen (prefix) != plen || strncmp (copy, prefix, plen) != 0)
    {
      checker_bad (c, &c->bad, "wrong prefix", line, len);
      return;
    }

  if (seq >= c->seen[cid]->len)
    {
      guint old = c->seen[cid]->len;

      g_byte_array_set_size (c->seen[cid], seq + 1);
      memset (c->seen[cid]->data + old, 0, seq + 1 - old);
    }
  if (c->seen[cid]->data[seq])
    {
      checker_bad (c, &c->dup, "duplicate", line, len);
      return;
    }
  c->seen[cid]->data[seq] = 1;

  if ((gint64) seq <= c->last[cid][stream])
    checker_bad (c, &c->order, "out of order", line, len);
  c->last[cid][stream] = seq;
  if (c->file_min[cid][stream] < 0 || (gint64) seq < c->file_min[cid][stream])
    c->file_min[cid][stream] = seq;
  c->file_max[cid][stream] = MAX (c->file_max[cid][stream], (gint64) seq);
}

static void
checker_feed_file (Checker *c, const char *path)
{
  g_autofree gchar *text = NULL;
  gsize len = 0;
  const char *p, *end, *nl;

  for (guint i = 0; i <= MAX_CHILDREN; i++)
    for (guint s = 0; s < 2; s++)
      {
        c->file_min[i][s] = -1;
        c->file_max[i][s] = -1;
      }
  if (!g_file_get_contents (path, &text, &len, NULL))
    g_error ("log %s is missing", path);
  p = text;
  end = text + len;
  while (p < end && (nl = memchr (p, '\n', end - p)) != NULL)
    {
      checker_line (c, p, nl - p);
      p = nl + 1;
    }
  if (p < end)
    checker_bad (c, &c->bad, "unterminated last line", p, end - p);
}

/* @expected: lines per child, or 0 for "every number up to the highest". */
static void
checker_finish (Checker *c, guint64 expected)
{
  c->lost = 0;
  for (guint cid = 1; cid <= c->n_children; cid++)
    {
      GByteArray *seen = c->seen[cid];
      guint64 n = expected ? expected : seen->len;

      for (guint64 s = 0; s < n; s++)
        if (s >= seen->len || !seen->data[s])
          c->lost++;
    }
}

static void
checker_report (Checker *c, const char *what)
{
  pm_report ("%s: %" G_GUINT64_FORMAT " lines, %u torn/merged/corrupt, "
                  "%u duplicated, %u out of order, %" G_GUINT64_FORMAT " lost, "
                  "%u loss reports", what, c->lines, c->bad, c->dup, c->order,
                  c->lost, c->reports->len);
  if (c->examples->len > 0)
    pm_report ("first bad lines:\n%s", c->examples->str);
}

static void
checker_assert_clean (Checker *c)
{
  if (c->bad || c->dup || c->order || c->lost)
    g_error ("log damaged: %u torn/merged/corrupt, %u duplicated, %u out of order, "
             "%" G_GUINT64_FORMAT " lost\n%s", c->bad, c->dup, c->order, c->lost,
             c->examples->str);
}

/* ---- /proc ---------------------------------------------------------------------- */

static pid_t
daemon_pid (PmFixture *f)
{
  return (pid_t) g_ascii_strtoll (g_subprocess_get_identifier (f->daemon), NULL, 10);
}

/* A field "Name:   N kB" of /proc/PID/status, in kB. */
static guint64
proc_status_kb (pid_t pid, const char *field)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%d/status", (int) pid);
  g_autofree gchar *text = pm_read_file (path);
  const char *at;

  g_assert_nonnull (text);
  at = strstr (text, field);
  g_assert_nonnull (at);
  return g_ascii_strtoull (at + strlen (field) + 1, NULL, 10);
}

/* utime + stime of a process, in clock ticks. */
static guint64
proc_cpu_ticks (pid_t pid)
{
  g_autofree gchar *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree gchar *text = pm_read_file (path);
  g_auto(GStrv) fields = NULL;

  g_assert_nonnull (text);
  /* Fields after the command name, which is in parentheses. */
  fields = g_strsplit (strrchr (text, ')') + 2, " ", -1);
  /* state is field 3 of stat, here index 0; utime 14 → 11, stime 15 → 12. */
  return g_ascii_strtoull (fields[11], NULL, 10) +
         g_ascii_strtoull (fields[12], NULL, 10);
}

/* How many of the daemon's descriptors are open on @path's file. */
static guint
daemon_fds_on (PmFixture *f, const char *path)
{
  g_autofree gchar *dir = g_strdup_printf ("/proc/%d/fd", (int) daemon_pid (f));
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  struct stat want, st;
  const char *entry;
  guint n = 0;

  g_assert_nonnull (d);
  g_assert_cmpint (g_stat (path, &want), ==, 0);
  while ((entry = g_dir_read_name (d)) != NULL)
    {
      g_autofree gchar *fd = g_build_filename (dir, entry, NULL);

      if (g_stat (fd, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino)
        n++;
    }
  return n;
}

/* ---- prefixes and where lines go -------------------------------------------------- */

/* stdout and stderr both land in the log, "NAME: " first; unnamed: as written. */
static void
test_prefix_in_file (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *named = pm_tmp_path (f, "named.log");
  g_autofree gchar *unnamed = pm_tmp_path (f, "unnamed.log");
  g_autoptr(GPtrArray) a = NULL;
  g_autoptr(GPtrArray) b = NULL;
  const char *emit = pm_data_file ("l-emit.py");

  const char **args = ARGV ("out:to stdout\n", "err:to stderr\n", "out:second\n");

  start_and_wait_exit (f, pm_opts ("{'script': <%s>, 'name': <'svc'>, 'log': <'named.log'>,"
                                   " 'restart': <'never'>, 'args': <%^as>}", emit, args), NULL);
  start_and_wait_exit (f, pm_opts ("{'script': <%s>, 'log': <'unnamed.log'>,"
                                   " 'restart': <'never'>, 'args': <%^as>}", emit, args), NULL);
  g_assert_true (wait_file_lines (named, 3, 2000));
  g_assert_true (wait_file_lines (unnamed, 3, 2000));

  a = read_lines (named);
  g_assert_cmpuint (a->len, ==, 3);
  g_assert_true (has_line (a, "svc: to stdout"));
  g_assert_true (has_line (a, "svc: to stderr"));
  g_assert_true (has_line (a, "svc: second"));
  /* One stream keeps its order. */
  g_assert_cmpstr (a->pdata[a->len - 1], !=, "svc: to stdout");

  b = read_lines (unnamed);
  g_assert_cmpuint (b->len, ==, 3);
  g_assert_true (has_line (b, "to stdout"));
  g_assert_true (has_line (b, "to stderr"));
  g_assert_true (has_line (b, "second"));
}

/* Without a log, lines go to the daemon's stdout with the same prefix. */
static void
test_no_log_daemon_stdout (PmFixture *f, gconstpointer data)
{
  const char *emit = pm_data_file ("l-emit.py");

  pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'nolog'>, 'restart': <'never'>,"
                           " 'args': <%^as>}", emit,
                           ARGV ("out:out line 7f3a\n", "err:err line 7f3a\n")), NULL);
  pm_start_ok (f, pm_opts ("{'script': <%s>, 'restart': <'never'>, 'args': <%^as>}", emit,
                           ARGV ("out:unnamed line 7f3a\n", "err:unnamed partial 7f3a")),
               NULL);
  g_assert_true (pm_wait_for_line (f, "nolog: out line 7f3a", WAIT_MS));
  g_assert_true (pm_wait_for_line (f, "nolog: err line 7f3a", WAIT_MS));
  g_assert_true (pm_wait_for_line (f, "unnamed line 7f3a", WAIT_MS));
  g_assert_true (pm_wait_for_line (f, "unnamed partial 7f3a", WAIT_MS));
}

/* ---- shared files -------------------------------------------------------------------- */

/* 8 children × 50,000 lines, flat out, into one file. */
static void
test_shared_many (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "shared.log");
  guint32 ids[SHARED_CHILDREN];
  gint64 t0 = g_get_monotonic_time ();
  Checker c;

  for (guint i = 0; i < SHARED_CHILDREN; i++)
    {
      g_autofree gchar *name = g_strdup_printf ("w%u", i + 1);
      g_autofree gchar *cid = g_strdup_printf ("%u", i + 1);
      g_autofree gchar *count = g_strdup_printf ("%u", SHARED_LINES);

      ids[i] = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <%s>, 'log': <'shared.log'>,"
                                        " 'restart': <'never'>, 'args': <[%s, %s]>}",
                                        pm_data_file ("l-seq.py"), name, cid, count), NULL);
    }
  for (guint i = 0; i < SHARED_CHILDREN; i++)
    {
      PmSignal *s = pm_wait_for_signal (f, "Exited", ids[i], 60000);

      g_assert_nonnull (s);
      g_assert_cmpint (s->exit_code, ==, 0);
    }
  pm_report ("8 × %u lines written in %.2f s", SHARED_LINES,
                  (g_get_monotonic_time () - t0) / 1e6);
  wait_file_lines (log, SHARED_CHILDREN * SHARED_LINES, 2000);

  checker_init (&c, SHARED_CHILDREN, NULL);
  checker_feed_file (&c, log);
  checker_finish (&c, SHARED_LINES);
  checker_report (&c, "shared.log");
  checker_assert_clean (&c);
  g_assert_cmpuint (c.lines, ==, SHARED_CHILDREN * SHARED_LINES);
  g_assert_cmpuint (c.reports->len, ==, 0);
  checker_clear (&c);
}

/* The same file through different path strings (a directory symlink, a file
 * symlink, a hard link) has one writer: one descriptor, whole lines. */
static void
test_shared_paths (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *dir = pm_tmp_path (f, "logs");
  g_autofree gchar *log = pm_tmp_path (f, "logs/same.log");
  g_autofree gchar *dirlink = pm_tmp_path (f, "link");
  g_autofree gchar *filelink = pm_tmp_path (f, "flink.log");
  g_autofree gchar *hard = pm_tmp_path (f, "hard.log");
  g_autofree gchar *go = pm_tmp_path (f, "go");
  const char *paths[] = { "logs/same.log", "link/same.log", "flink.log", "hard.log" };
  guint32 ids[G_N_ELEMENTS (paths)];
  Checker c;

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  touch (log);
  g_assert_cmpint (symlink (dir, dirlink), ==, 0);
  g_assert_cmpint (symlink (log, filelink), ==, 0);
  g_assert_cmpint (link (log, hard), ==, 0);

  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autofree gchar *name = g_strdup_printf ("w%u", i + 1);
      g_autofree gchar *cid = g_strdup_printf ("%u", i + 1);
      g_autofree gchar *ready = g_strdup_printf ("%s/ready%u", f->tmpdir, i + 1);
      g_autofree gchar *logprop = NULL;

      ids[i] = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <%s>, 'log': <%s>,"
                                        " 'restart': <'never'>,"
                                        " 'args': <[%s, '30000', '--ready', %s, '--wait', %s]>}",
                                        pm_data_file ("l-seq.py"), name, paths[i], cid,
                                        ready, go), NULL);
      logprop = pm_get_string (f, ids[i], "Log");
      pm_report ("log '%s' → Log property '%s'", paths[i], logprop);
      g_assert_true (wait_exists (ready, WAIT_MS));
    }

  /* All four are open: the daemon holds the file once. */
  g_assert_cmpuint (daemon_fds_on (f, log), ==, 1);

  touch (go);
  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    g_assert_nonnull (pm_wait_for_signal (f, "Exited", ids[i], 60000));
  wait_file_lines (log, 4 * 30000, 2000);

  checker_init (&c, G_N_ELEMENTS (paths), NULL);
  checker_feed_file (&c, log);
  checker_finish (&c, 30000);
  checker_report (&c, "logs/same.log");
  checker_assert_clean (&c);
  g_assert_cmpuint (c.lines, ==, 4 * 30000);
  checker_clear (&c);
}

/* ---- partial and long lines, bytes ---------------------------------------------------- */

/* What follows the last newline waits while the child runs, and is written
 * as a line when it exits. */
static void
test_final_partial_line (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "partial.log");
  g_autofree gchar *ready = pm_tmp_path (f, "ready");
  g_autofree gchar *go = pm_tmp_path (f, "go");
  g_autoptr(GPtrArray) lines = NULL;
  g_autofree gchar *text = NULL;
  guint32 id;

  g_autofree gchar *ready_op = g_strconcat ("ready:", ready, NULL);
  g_autofree gchar *wait_op = g_strconcat ("wait:", go, NULL);

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'p'>, 'log': <'partial.log'>,"
                                " 'restart': <'never'>, 'args': <%^as>}",
                                pm_data_file ("l-emit.py"),
                                ARGV ("out:first\n", "out:no newline yet", "err:stderr partial",
                                      ready_op, wait_op, "out: and the rest")), NULL);
  g_assert_true (wait_exists (ready, WAIT_MS));
  g_assert_true (wait_file_text (log, "p: first\n", 2000));
  /* Well past the batch delay: a partial line is not a line yet. */
  pm_iterate_for (300);
  text = pm_read_file (log);
  g_assert_cmpstr (text, ==, "p: first\n");

  touch (go);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, WAIT_MS));
  g_assert_true (wait_file_lines (log, 3, 1000));
  lines = read_lines (log);
  g_assert_cmpuint (lines->len, ==, 3);
  g_assert_cmpstr (lines->pdata[0], ==, "p: first");
  g_assert_true (has_line (lines, "p: no newline yet and the rest"));
  g_assert_true (has_line (lines, "p: stderr partial"));
}

/* A 200 KiB line without a newline: 65536, 65536, 65536 while the child runs,
 * the rest when it exits; the prefix is not counted. */
static void
test_long_line (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "long.log");
  g_autofree gchar *ready = pm_tmp_path (f, "ready");
  g_autofree gchar *go = pm_tmp_path (f, "go");
  g_autoptr(GPtrArray) lines = NULL;
  g_autoptr(GString) joined = g_string_new (NULL);
  const gsize total = 200 * 1024;
  const gsize expect[] = { 65536, 65536, 65536, 200 * 1024 - 3 * 65536 };
  guint32 id;

  g_autofree gchar *ready_op = g_strconcat ("ready:", ready, NULL);
  g_autofree gchar *wait_op = g_strconcat ("wait:", go, NULL);

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'big'>, 'log': <'long.log'>,"
                                " 'restart': <'never'>, 'args': <%^as>}",
                                pm_data_file ("l-emit.py"),
                                ARGV ("pat:204800", ready_op, wait_op)), NULL);
  g_assert_true (wait_exists (ready, WAIT_MS));
  if (!wait_file_lines (log, 3, 3000))
    g_error ("the three 64 KiB pieces of a running child's long line were not "
             "written within 3 s (file has %" G_GSIZE_FORMAT " lines)",
             file_line_count (log));
  pm_iterate_for (200);
  g_assert_cmpuint (file_line_count (log), ==, 3);

  touch (go);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, WAIT_MS));
  g_assert_true (wait_file_lines (log, 4, 1000));
  lines = read_lines (log);
  g_assert_cmpuint (lines->len, ==, 4);
  for (guint i = 0; i < 4; i++)
    {
      const char *l = lines->pdata[i];

      g_assert_true (g_str_has_prefix (l, "big: "));
      g_assert_cmpuint (strlen (l) - 5, ==, expect[i]);
      g_string_append (joined, l + 5);
    }
  g_assert_cmpuint (joined->len, ==, total);
  for (gsize i = 0; i < total; i++)
    if (joined->str[i] != 'a' + (char) (i % 26))
      g_error ("byte %" G_GSIZE_FORMAT " of the long line is wrong", i);
}

/* "\r\n" ends a line without its "\r"; other bytes (a lone CR, NUL, invalid
 * UTF-8) pass through unchanged. */
static void
test_crlf_and_bytes (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "crlf.log");
  g_autofree gchar *text = NULL;
  static const char expected[] =
    "c: dos line\n"
    "c: mid\rdle\n"
    "c: two cr\r\n"
    "c: cr then split\n"
    "c: \n"
    "c: nul\0byte \xff\xfe invalid \xc3\n"
    "c: plain\n";
  gsize len = 0;

  start_and_wait_exit (f, pm_opts ("{'script': <%s>, 'name': <'c'>, 'log': <'crlf.log'>,"
                                   " 'restart': <'never'>, 'args': <%^as>}",
                                   pm_data_file ("l-emit.py"),
                                   ARGV ("out:dos line\\r\\n", "out:mid\\rdle\\r\\n",
                                         "out:two cr\\r\\r\\n", "out:cr then split\\r",
                                         "sleep:100", "out:\\n", "out:\\r\\n",
                                         "out:nul\\x00byte \\xff\\xfe invalid \\xc3\\n",
                                         "out:plain\\n")), NULL);
  g_assert_true (wait_file_lines (log, 7, 1000));
  g_assert_true (g_file_get_contents (log, &text, &len, NULL));
  if (len != sizeof expected - 1 || memcmp (text, expected, len) != 0)
    {
      g_autofree gchar *got = g_strescape (text, NULL);
      g_autofree gchar *want = g_strescape (expected, NULL);

      g_error ("log is \"%s\" (%" G_GSIZE_FORMAT " bytes), expected \"%s\"…", got,
               len, want);
    }
}

/* ---- stripANSI ---------------------------------------------------------------------- */

static void
assert_file_equals (const char *path, const char *want, gsize want_len)
{
  g_autofree gchar *got = NULL;
  gsize len = 0;

  g_assert_true (g_file_get_contents (path, &got, &len, NULL));
  if (len != want_len || memcmp (got, want, len) != 0)
    {
      g_autofree gchar *g = g_strescape (got, NULL);
      g_autofree gchar *w = g_strescape (want, NULL);

      g_error ("%s is\n  \"%s\"\nexpected\n  \"%s\"", path, g, w);
    }
}

static gchar *
prefix_lines (const char *text, const char *prefix)
{
  GString *out = g_string_new (NULL);

  for (const char *p = text, *nl; (nl = strchr (p, '\n')) != NULL; p = nl + 1)
    {
      g_string_append (out, prefix);
      g_string_append_len (out, p, nl - p + 1);
    }
  return g_string_free (out, FALSE);
}

/* Real colour output (printf, tput, grep --color) becomes plain text. */
static void
test_strip_ansi (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "colour.log");
  g_autofree gchar *expected = NULL;
  g_autofree gchar *want = NULL;

  g_assert_true (g_file_get_contents (pm_data_file ("l-colour.expected"), &expected,
                                      NULL, NULL));
  start_and_wait_exit (f, pm_opts ("{'script': <%s>, 'name': <'col'>, 'log': <'colour.log'>,"
                                   " 'restart': <'never'>, 'stripANSI': <true>}",
                                   pm_data_file ("l-colour.sh")), NULL);
  g_assert_true (wait_file_lines (log, count_lines (expected), 1000));
  want = prefix_lines (expected, "col: ");
  assert_file_equals (log, want, strlen (want));
}

/* Sequences cut between two reads are still removed, and a broken one does
 * not swallow the text after it. */
static void
test_strip_ansi_split (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "split.log");

  start_and_wait_exit (f, pm_opts ("{'script': <%s>, 'log': <'split.log'>,"
                                   " 'restart': <'never'>, 'stripANSI': <true>, 'args': <%^as>}",
                                   pm_data_file ("l-emit.py"),
                                   ARGV ("out:A\\x1b[3", "sleep:60", "out:1mB\\x1b]0;ti",
                                         "sleep:60", "out:tle\\x07C\\x1b", "sleep:60",
                                         "out:(BD\\x1b]8;;http://x", "sleep:60", "out:/\\x1b",
                                         "sleep:60", "out:\\x5cE\\n",
                                         "out:broken \\x1b[12\\nnext line\\n")), NULL);
  g_assert_true (wait_file_lines (log, 3, 1000));
  assert_lines (log, (const char *[]) { "ABCDE", "broken ", "next line", NULL });
}

/* Without stripANSI, the bytes pass unchanged. */
static void
test_ansi_unchanged (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "raw.log");
  g_autofree gchar *raw = NULL;
  g_autofree gchar *want = NULL;
  g_autoptr(GError) error = NULL;
  const char *argv[] = { pm_data_file ("l-colour.sh"), NULL };
  gint status;

  g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &raw,
                NULL, &status, &error);
  g_assert_no_error (error);
  g_assert_nonnull (strchr (raw, '\033'));

  start_and_wait_exit (f, pm_opts ("{'script': <%s>, 'name': <'col'>, 'log': <'raw.log'>,"
                                   " 'restart': <'never'>}",
                                   pm_data_file ("l-colour.sh")), NULL);
  g_assert_true (wait_file_lines (log, count_lines (raw), 1000));
  want = prefix_lines (raw, "col: ");
  assert_file_equals (log, want, strlen (want));
}

/* ---- paths ---------------------------------------------------------------------------- */

/* Relative to cwd; missing parent directories are created. */
static void
test_nested_dir (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *cwd = pm_tmp_path (f, "work");
  g_autofree gchar *log = pm_tmp_path (f, "work/deep/er/nest/x.log");
  g_autofree gchar *prop = NULL;
  guint32 id;

  g_assert_cmpint (g_mkdir (cwd, 0755), ==, 0);
  start_and_wait_exit (f, pm_opts ("{'script': <%s>, 'cwd': <%s>, 'name': <'n'>,"
                                   " 'log': <'deep/er/nest/x.log'>, 'restart': <'never'>,"
                                   " 'args': <%^as>}",
                                   pm_data_file ("l-emit.py"), cwd, ARGV ("out:nested\n")), &id);
  prop = pm_get_string (f, id, "Log");
  g_assert_cmpstr (prop, ==, log);
  g_assert_true (wait_file_lines (log, 1, 1000));
  assert_lines (log, (const char *[]) { "n: nested", NULL });
}

static void
assert_log_failed (PmFixture *f, const char *log_opt, const char *resolved)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) before = pm_managed_objects (f);
  g_autoptr(GVariant) after = NULL;
  guint listed = pm_list_count (f);
  guint started = pm_count_signals (f, "Started", 0);
  guint32 id;

  id = pm_start (f, pm_opts ("{'script': <%s>, 'name': <'lf'>, 'log': <%s>,"
                             " 'restart': <'never'>, 'args': <%^as>}",
                             pm_data_file ("l-emit.py"), log_opt, ARGV ("out:never\n")), &error);
  g_assert_cmpuint (id, ==, 0);
  pm_assert_remote_error (error, "org.elife.ProcessManager.Error.LogFailed");
  pm_report ("LogFailed message: %s", error->message);
  if (strstr (error->message, resolved) == NULL)
    g_error ("LogFailed does not name the path %s: %s", resolved, error->message);

  /* Nothing started, nothing registered. */
  pm_iterate_for (200);
  g_assert_cmpuint (pm_list_count (f), ==, listed);
  g_assert_cmpuint (pm_count_signals (f, "Started", 0), ==, started);
  after = pm_managed_objects (f);
  g_assert_cmpuint (g_variant_n_children (after), ==, g_variant_n_children (before));
}

/* A path that cannot be opened: LogFailed naming it, nothing started. */
static void
test_log_failed (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *file = pm_tmp_path (f, "afile");
  g_autofree gchar *under = pm_tmp_path (f, "afile/sub/x.log");
  g_autofree gchar *under2 = pm_tmp_path (f, "afile/x.log");
  g_autofree gchar *dir = pm_tmp_path (f, "adir");

  /* One process already there: List must not change. */
  pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'ok'>}",
                           pm_data_file ("sleep-forever.sh")), NULL);
  touch (file);
  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);

  assert_log_failed (f, "afile/sub/x.log", under);   /* parent is a regular file */
  assert_log_failed (f, "afile/x.log", under2);      /* ENOTDIR at open */
  assert_log_failed (f, dir, dir);                   /* a directory: EISDIR */

  /* The daemon still serves. */
  g_assert_cmpuint (pm_list_count (f), ==, 1);
}

/* An existing file is appended to, never truncated. */
static void
test_append (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "old.log");
  g_autoptr(GError) error = NULL;

  g_file_set_contents (log, "existing line\n", -1, &error);
  g_assert_no_error (error);
  start_and_wait_exit (f, pm_opts ("{'script': <%s>, 'name': <'a'>, 'log': <'old.log'>,"
                                   " 'restart': <'never'>, 'args': <%^as>}",
                                   pm_data_file ("l-emit.py"), ARGV ("out:new line\n")), NULL);
  g_assert_true (wait_file_lines (log, 2, 1000));
  assert_lines (log, (const char *[]) { "existing line", "a: new line", NULL });
}

/* ---- rotation ------------------------------------------------------------------------- */

/* A child writing @burst lines every @pace_ms until @until exists. */
static guint32
start_paced_rate (PmFixture *f, const char *name, guint cid, const char *log,
                  const char *until, guint pace_ms, guint burst)
{
  g_autofree gchar *scid = g_strdup_printf ("%u", cid);
  g_autofree gchar *pace = g_strdup_printf ("%u", pace_ms);
  g_autofree gchar *sburst = g_strdup_printf ("%u", burst);

  return pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <%s>, 'log': <%s>,"
                                  " 'restart': <'never'>, 'args': <[%s, '0', '--pace', %s,"
                                  " '--burst', %s, '--until', %s]>}",
                                  pm_data_file ("l-seq.py"), name, log, scid, pace, sburst,
                                  until), NULL);
}

/* About 10,000 lines (700 KB) a second. */
static guint32
start_paced (PmFixture *f, const char *name, guint cid, const char *log,
             const char *until)
{
  return start_paced_rate (f, name, cid, log, until, 2, 20);
}

/* The old file holds everything before the reopen, the new one everything
 * after; together all lines, each once and whole. */
static void
check_rotated (const char *old, const char *new, const char *name)
{
  Checker c;

  checker_init (&c, 1, name);
  checker_feed_file (&c, old);
  gint64 old_max[2] = { c.file_max[1][0], c.file_max[1][1] };
  checker_feed_file (&c, new);
  checker_finish (&c, 0);
  checker_report (&c, "rotated logs");
  checker_assert_clean (&c);
  pm_report ("old file up to %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT
                  ", new file from %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT,
                  old_max[0], old_max[1], c.file_min[1][0], c.file_min[1][1]);
  for (guint s = 0; s < 2; s++)
    {
      g_assert_cmpint (old_max[s], >=, 0);
      g_assert_cmpint (c.file_min[1][s], >, old_max[s]);
    }
  checker_clear (&c);
}

static void
rotate_test (PmFixture *f, gboolean use_sighup)
{
  g_autofree gchar *log = pm_tmp_path (f, "rot.log");
  g_autofree gchar *old = pm_tmp_path (f, "rot.log.1");
  g_autofree gchar *until = pm_tmp_path (f, "stop");
  guint32 id = start_paced (f, "rot", 1, "rot.log", until);

  g_assert_true (wait_file_lines (log, 500, WAIT_MS));
  g_assert_cmpint (g_rename (log, old), ==, 0);
  /* Lines keep going to the renamed file until the reopen. */
  g_assert_true (wait_file_lines (old, file_line_count (old) + 100, WAIT_MS));

  if (use_sighup)
    g_subprocess_send_signal (f->daemon, SIGHUP);
  else
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) reply = pm_call (f, "ReopenLogs", NULL, "()", &error);

      g_assert_no_error (error);
      g_assert_nonnull (reply);
      g_assert_true (g_file_test (log, G_FILE_TEST_EXISTS));
    }
  g_assert_true (wait_file_lines (log, 500, WAIT_MS));

  touch (until);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, WAIT_MS));
  pm_iterate_for (100);
  check_rotated (old, log, "rot");
}

static void
test_reopen_method (PmFixture *f, gconstpointer data)
{
  rotate_test (f, FALSE);
}

static void
test_reopen_sighup (PmFixture *f, gconstpointer data)
{
  rotate_test (f, TRUE);
}

/* A file that cannot be reopened keeps being written to the old one, and
 * ReopenLogs names it; the others are reopened. */
static void
test_reopen_failed (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *dir = pm_tmp_path (f, "dirA");
  g_autofree gchar *a_log = pm_tmp_path (f, "dirA/a.log");
  g_autofree gchar *moved_dir = pm_tmp_path (f, "dirA.old");
  g_autofree gchar *a_old = pm_tmp_path (f, "dirA.old/a.log");
  g_autofree gchar *b_log = pm_tmp_path (f, "b.log");
  g_autofree gchar *b_old = pm_tmp_path (f, "b.log.1");
  g_autofree gchar *until = pm_tmp_path (f, "stop");
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  guint32 a, b;
  gsize a_lines;
  Checker c;

  a = start_paced (f, "w1", 1, "dirA/a.log", until);
  b = start_paced (f, "rot", 1, "b.log", until);
  g_assert_true (wait_file_lines (a_log, 200, WAIT_MS));
  g_assert_true (wait_file_lines (b_log, 200, WAIT_MS));

  /* a.log's directory goes away and a regular file takes its name. */
  g_assert_cmpint (g_rename (dir, moved_dir), ==, 0);
  touch (dir);
  g_assert_cmpint (g_rename (b_log, b_old), ==, 0);

  reply = pm_call (f, "ReopenLogs", NULL, "()", &error);
  g_assert_null (reply);
  pm_assert_remote_error (error, "org.elife.ProcessManager.Error.LogFailed");
  pm_report ("ReopenLogs: %s", error->message);
  if (strstr (error->message, a_log) == NULL)
    g_error ("LogFailed does not name %s: %s", a_log, error->message);
  if (strstr (error->message, b_log) != NULL)
    g_error ("LogFailed names %s, which could be reopened: %s", b_log, error->message);

  /* a's lines keep going to its old file; b has a new one. */
  a_lines = file_line_count (a_old);
  g_assert_true (wait_file_lines (a_old, a_lines + 200, WAIT_MS));
  g_assert_true (wait_file_lines (b_log, 200, WAIT_MS));

  touch (until);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", a, WAIT_MS));
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", b, WAIT_MS));
  pm_iterate_for (100);

  checker_init (&c, 1, "w1");
  checker_feed_file (&c, a_old);
  checker_finish (&c, 0);
  checker_report (&c, "dirA.old/a.log");
  checker_assert_clean (&c);
  checker_clear (&c);
  check_rotated (b_old, b_log, "rot");
  g_assert_cmpuint (pm_get_u64 (f, a, "LostLines"), ==, 0);
}

/* ---- write errors ---------------------------------------------------------------------- */

static gboolean
props_changed_has (PmFixture *f, guint32 id, const char *prop)
{
  for (guint i = 0; i < f->signals->len; i++)
    {
      PmSignal *s = f->signals->pdata[i];
      g_autoptr(GVariant) changed = NULL;

      if (g_strcmp0 (s->signal, "PropertiesChanged") != 0 || s->id != id)
        continue;
      changed = g_variant_get_child_value (s->params, 1);
      if (g_variant_lookup_value (changed, prop, NULL) != NULL)
        {
          g_variant_unref (g_variant_lookup_value (changed, prop, NULL));
          return TRUE;
        }
    }
  return FALSE;
}

/* A log on /dev/full (through a symlink): the daemon keeps serving, the
 * child keeps running, LostLines counts, and the daemon does not spin. */
static void
test_dev_full (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *link_path = pm_tmp_path (f, "full.log");
  g_autofree gchar *until = pm_tmp_path (f, "stop");
  g_autofree gchar *state = NULL;
  guint64 lost1, lost2, cpu0, cpu1;
  guint32 id, pid = 0;
  pid_t dpid = daemon_pid (f);

  g_assert_cmpint (symlink ("/dev/full", link_path), ==, 0);
  id = start_paced (f, "full", 1, "full.log", until);
  g_assert_true (pm_list_lookup (f, id, NULL, &pid, NULL, NULL));

  lost1 = pm_wait_u64_above (f, id, "LostLines", 0, WAIT_MS);
  cpu0 = proc_cpu_ticks (dpid);
  pm_iterate_for (1000);
  cpu1 = proc_cpu_ticks (dpid);
  lost2 = pm_wait_u64_above (f, id, "LostLines", lost1, WAIT_MS);
  pm_report ("LostLines %" G_GUINT64_FORMAT " then %" G_GUINT64_FORMAT
                  "; daemon CPU over 1 s: %" G_GUINT64_FORMAT " ticks of 1/%ld s",
                  lost1, lost2, cpu1 - cpu0, sysconf (_SC_CLK_TCK));
  /* No spin: well under half a core while one child writes ~100 KB/s. */
  g_assert_cmpuint ((cpu1 - cpu0) * 1000 / sysconf (_SC_CLK_TCK), <, 500);

  g_assert_true (props_changed_has (f, id, "LostLines"));
  g_assert_true (pm_pid_alive ((pid_t) pid));
  state = pm_get_string (f, id, "State");
  g_assert_cmpstr (state, ==, "running");
  g_assert_cmpuint (pm_list_count (f), ==, 1);
  g_assert_false (f->daemon_exited);

  touch (until);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, WAIT_MS));
}

static gboolean
run_cmd (const char *cmd, gchar **err_out)
{
  gint status = 0;
  g_autoptr(GError) error = NULL;

  if (!g_spawn_command_line_sync (cmd, NULL, err_out, &status, &error))
    return FALSE;
  return g_spawn_check_wait_status (status, NULL);
}

/* The sum of N in "elife-pmd: N lines lost (...)" lines. */
static guint64
reported_lost (Checker *c, const char *reason, gboolean *reason_ok)
{
  guint64 total = 0;

  *reason_ok = TRUE;
  for (guint i = 0; i < c->reports->len; i++)
    {
      const char *r = strstr (c->reports->pdata[i], "elife-pmd: ");
      gchar *end;
      guint64 n = g_ascii_strtoull (r + 11, &end, 10);
      g_autofree gchar *want = g_strdup_printf (" lines lost (%s)", reason);

      pm_report ("report: %s", (char *) c->reports->pdata[i]);
      if (!g_str_has_prefix (end, " lines lost ("))
        g_error ("malformed loss report: %s", (char *) c->reports->pdata[i]);
      if (strcmp (end, want) != 0)
        *reason_ok = FALSE;
      total += n;
    }
  return total;
}

/* A small tmpfs fills up: lines are lost and counted, the file never holds
 * a torn line, and once there is room again the log says how many were lost
 * — exactly as many as are missing. */
static void
test_disk_full_recovery (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *mnt = pm_tmp_path (f, "mnt");
  g_autofree gchar *filler = pm_tmp_path (f, "mnt/filler");
  g_autofree gchar *log = pm_tmp_path (f, "mnt/out.log");
  g_autofree gchar *until = pm_tmp_path (f, "stop");
  g_autofree gchar *mount_cmd = NULL;
  g_autofree gchar *umount_cmd = NULL;
  g_autofree gchar *err = NULL;
  g_autofree gchar *zeros = g_malloc0 (48 * 1024);
  g_autoptr(GError) error = NULL;
  guint64 lost, reported;
  gboolean reason_ok;
  guint32 id;
  Checker c;

  g_assert_cmpint (g_mkdir (mnt, 0755), ==, 0);
  mount_cmd = g_strdup_printf ("mount -t tmpfs -o size=64k elife-pm-test %s", mnt);
  umount_cmd = g_strdup_printf ("umount -l %s", mnt);
  if (!run_cmd (mount_cmd, &err))
    {
      g_test_skip_printf ("cannot mount a tmpfs: %s", err ? err : "?");
      return;
    }

  /* 16 KiB left: the first batches fit, then the disk is full. */
  g_file_set_contents (filler, zeros, 48 * 1024, &error);
  g_assert_no_error (error);
  /* ~200 lines (14 KB) a second: full within about a second, and after
   * the filler goes, room for a few seconds more. */
  id = start_paced_rate (f, "tf", 1, "mnt/out.log", until, 10, 2);

  lost = pm_wait_u64_above (f, id, "LostLines", 0, WAIT_MS);
  pm_iterate_for (300);
  g_assert_cmpint (g_unlink (filler), ==, 0);
  if (!wait_file_text (log, "tf: elife-pmd: ", 3000))
    g_error ("no \"elife-pmd: N lines lost\" line within 3 s of freeing space "
             "(LostLines %" G_GUINT64_FORMAT ")", pm_get_u64 (f, id, "LostLines"));
  touch (until);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, WAIT_MS));
  pm_iterate_for (100);
  lost = pm_get_u64 (f, id, "LostLines");
  g_assert_false (f->daemon_exited);

  checker_init (&c, 1, "tf");
  checker_feed_file (&c, log);
  checker_finish (&c, 0);
  checker_report (&c, "out.log on a full tmpfs");
  reported = reported_lost (&c, g_strerror (ENOSPC), &reason_ok);
  pm_report ("LostLines %" G_GUINT64_FORMAT ", reported %" G_GUINT64_FORMAT
                  ", missing %" G_GUINT64_FORMAT, lost, reported, c.lost);
  run_cmd (umount_cmd, NULL);

  g_assert_cmpuint (c.bad, ==, 0);
  g_assert_cmpuint (c.dup, ==, 0);
  g_assert_cmpuint (c.order, ==, 0);
  g_assert_cmpuint (c.reports->len, >=, 1);
  g_assert_cmpuint (lost, >, 0);
  /* Every missing line was counted, and reported once there was room
   * (lines lost after the last report are not in the file yet). */
  g_assert_cmpuint (c.lost, ==, lost);
  g_assert_cmpuint (reported, <=, lost);
  if (!reason_ok)
    g_error ("the loss report does not give the reason (%s) the write failed with",
             g_strerror (ENOSPC));
  checker_clear (&c);
}

/* ---- timestamps, batching, exit, backpressure ------------------------------------------ */

static void
test_timestamps (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "ts.log");
  g_autoptr(GPtrArray) lines = NULL;
  g_autoptr(GRegex) re = g_regex_new (
      "^(\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}[+-]\\d{2}:\\d{2}) (ts: )?(hello|world)$",
      0, 0, NULL);
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();

  start_and_wait_exit (f, pm_opts ("{'script': <%s>, 'name': <'ts'>, 'log': <'ts.log'>,"
                                   " 'timestamps': <true>, 'restart': <'never'>,"
                                   " 'args': <%^as>}", pm_data_file ("l-emit.py"),
                                   ARGV ("out:hello\n", "err:world\n")), NULL);
  start_and_wait_exit (f, pm_opts ("{'script': <%s>, 'log': <'ts.log'>,"
                                   " 'timestamps': <true>, 'restart': <'never'>,"
                                   " 'args': <%^as>}", pm_data_file ("l-emit.py"),
                                   ARGV ("out:hello\n")), NULL);
  g_assert_true (wait_file_lines (log, 3, 1000));
  lines = read_lines (log);
  g_assert_cmpuint (lines->len, ==, 3);
  for (guint i = 0; i < lines->len; i++)
    {
      g_autoptr(GMatchInfo) m = NULL;
      g_autofree gchar *stamp = NULL;
      g_autofree gchar *who = NULL;
      g_autoptr(GDateTime) t = NULL;

      if (!g_regex_match (re, lines->pdata[i], 0, &m))
        g_error ("line \"%s\" has no \"YYYY-MM-DDTHH:MM:SS.mmm+HH:MM \" stamp",
                 (char *) lines->pdata[i]);
      stamp = g_match_info_fetch (m, 1);
      who = g_match_info_fetch (m, 2);
      g_assert_cmpstr (who, ==, i < 2 ? "ts: " : "");
      t = g_date_time_new_from_iso8601 (stamp, NULL);
      g_assert_nonnull (t);
      /* Local time: the offset is the local one, the time close to now. */
      g_assert_cmpint (g_date_time_get_utc_offset (t), ==, g_date_time_get_utc_offset (now));
      g_assert_cmpint (ABS (g_date_time_difference (t, now)), <, 60 * G_USEC_PER_SEC);
    }
}

/* A child's lines are all in the file (shortly) after its Exited signal. */
static void
test_flushed_at_exit (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "exit.log");
  gsize at_signal;
  guint32 id;
  Checker c;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'w1'>, 'log': <'exit.log'>,"
                                " 'restart': <'never'>, 'args': <['1', '20000']>}",
                                pm_data_file ("l-seq.py")), NULL);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, WAIT_MS));
  at_signal = file_line_count (log);
  pm_report ("lines in the file when Exited was seen: %" G_GSIZE_FORMAT " of 20000",
                  at_signal);
  if (!wait_file_lines (log, 20000, WAIT_MS))
    g_error ("only %" G_GSIZE_FORMAT " of 20000 lines in the file %d ms after Exited",
             file_line_count (log), WAIT_MS);

  checker_init (&c, 1, NULL);
  checker_feed_file (&c, log);
  checker_finish (&c, 20000);
  checker_assert_clean (&c);
  checker_clear (&c);
}

/* Lines are batched: a child writing one line per millisecond does not cost
 * one write() per line — the file grows in few, large steps (the daemon's
 * syscw cannot tell: GLib's own eventfd wake-ups dominate it) — and a lone
 * line still appears, by the batch timer, while the child waits. */
static void
test_batching (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "batch.log");
  g_autofree gchar *until = pm_tmp_path (f, "stop");
  g_autofree gchar *lone = pm_tmp_path (f, "lone.log");
  g_autofree gchar *ready = pm_tmp_path (f, "ready");
  g_autofree gchar *until2 = pm_tmp_path (f, "stop2");
  g_autofree gchar *ready_op = NULL;
  g_autofree gchar *wait_op = NULL;
  gsize n0, n1;
  guint steps = 0;
  goffset last_size = -1;
  gint64 t0, end, latency;
  guint32 id;

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'w1'>, 'log': <'batch.log'>,"
                                " 'restart': <'never'>, 'args': <['1', '0', '--pace', '1',"
                                " '--burst', '1', '--stderr-every', '0', '--until', %s]>}",
                                pm_data_file ("l-seq.py"), until), NULL);
  g_assert_true (wait_file_lines (log, 50, WAIT_MS));
  n0 = file_line_count (log);
  /* Sample the size every 0.2 ms for 1.5 s (not iterating: no D-Bus of ours). */
  end = g_get_monotonic_time () + 1500 * 1000;
  while (g_get_monotonic_time () < end)
    {
      GStatBuf st;

      g_assert_cmpint (g_stat (log, &st), ==, 0);
      if (st.st_size != last_size)
        {
          steps += last_size >= 0;
          last_size = st.st_size;
        }
      g_usleep (200);
    }
  n1 = file_line_count (log);
  pm_report ("%" G_GSIZE_FORMAT " lines arrived in %u growth steps of the file",
                  n1 - n0, steps);
  g_assert_cmpuint (n1 - n0, >, 300);
  /* 50 ms batches: ~30 steps in 1.5 s; one write per line would be hundreds. */
  g_assert_cmpuint (steps, <, (n1 - n0) / 5);
  touch (until);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, WAIT_MS));

  ready_op = g_strconcat ("ready:", ready, NULL);
  wait_op = g_strconcat ("wait:", until2, NULL);
  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'log': <'lone.log'>, 'restart': <'never'>,"
                                " 'args': <%^as>}", pm_data_file ("l-emit.py"),
                                ARGV ("out:lonely\n", ready_op, wait_op)), NULL);
  g_assert_true (wait_exists (ready, WAIT_MS));
  /* The child writes nothing more and waits: the line must come by the
   * batch timer alone, not with more lines or the child's exit. */
  t0 = g_get_monotonic_time ();
  g_assert_true (wait_file_lines (lone, 1, WAIT_MS));
  latency = (g_get_monotonic_time () - t0) / 1000;
  pm_report ("a lone line reached the file %" G_GINT64_FORMAT " ms after it was written",
                  latency);
  g_assert_cmpuint (pm_count_signals (f, "Exited", id), ==, 0);
  touch (until2);
}

/* Backpressure: while nobody reads the daemon's stdout, a child writing flat
 * out blocks instead of the daemon buffering everything; then every line
 * arrives, in order. */
static void
test_backpressure_stdout (PmFixture *f, gconstpointer data)
{
  const guint n_lines = 2000, line_len = 4000;
  g_autofree gchar *arg = g_strdup_printf ("lines:%u:%u", n_lines, line_len);
  g_autofree gchar *last = NULL;
  pid_t dpid = daemon_pid (f);
  guint64 rss0, rss1, hwm;
  guint32 pid = 0, id;
  guint got = 0;
  gboolean child_blocked;

  guint64 cpu0, cpu1;

  rss0 = proc_status_kb (dpid, "VmRSS:");
  cpu0 = proc_cpu_ticks (dpid);
  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'bp'>, 'restart': <'never'>,"
                                " 'args': <[%s]>}", pm_data_file ("l-emit.py"), arg), &pid);
  /* Stop reading the daemon's stdout (the harness reads it on this thread). */
  g_usleep (2 * G_USEC_PER_SEC);
  if (!pm_pid_alive (dpid))
    g_error ("elife-pmd died while nobody read its stdout (see its stderr above)");
  cpu1 = proc_cpu_ticks (dpid);
  rss1 = proc_status_kb (dpid, "VmRSS:");
  hwm = proc_status_kb (dpid, "VmHWM:");
  child_blocked = pm_pid_alive ((pid_t) pid);
  pm_report ("daemon RSS %" G_GUINT64_FORMAT " kB before, %" G_GUINT64_FORMAT
                  " kB with %u kB unread (peak %" G_GUINT64_FORMAT " kB); child %s",
                  rss0, rss1, n_lines * (line_len + 1) / 1024, hwm,
                  child_blocked ? "blocked" : "already exited");
  pm_report ("daemon CPU while blocked: %" G_GUINT64_FORMAT " ticks of 1/%ld s in 2 s",
                  cpu1 - cpu0, sysconf (_SC_CLK_TCK));
  g_assert_true (child_blocked);
  /* The documented bound (pm-log.h): one writer's most, the shared read
   * buffer, and 1 MiB for the rest of the daemon's doings meanwhile. Under
   * valgrind the daemon's RSS says more about the tool than about us. */
  if (pm_test_rss_meaningful ())
    g_assert_cmpuint (rss1 - rss0, <,
                      (PM_LOG_WRITER_MAX_BYTES + PM_LOG_READ_BYTES + 65537) / 1024 + 1024);
  /* Paused readers: the daemon sleeps, it does not poll a readable pipe. */
  g_assert_cmpuint ((cpu1 - cpu0) * 1000 / sysconf (_SC_CLK_TCK), <, 500);

  last = g_strdup_printf ("bp: %08u ", n_lines - 1);
  g_assert_nonnull (pm_wait_for_signal (f, "Exited", id, 30000));
  for (guint i = 0; i < f->lines->len && got < n_lines; i++)
    {
      const char *text = ((PmLine *) f->lines->pdata[i])->text;
      g_autofree gchar *want = NULL;

      if (!g_str_has_prefix (text, "bp: "))
        continue;
      want = g_strdup_printf ("bp: %08u ", got);
      if (!g_str_has_prefix (text, want) || strlen (text) != 4 + line_len)
        g_error ("daemon stdout line %u is wrong: %.40s… (%" G_GSIZE_FORMAT " bytes)",
                 got, text, strlen (text));
      got++;
    }
  if (got < n_lines)
    {
      /* The last lines may still be on their way through the pipe. */
      pm_iterate_for (500);
      got = 0;
      for (guint i = 0; i < f->lines->len; i++)
        got += g_str_has_prefix (((PmLine *) f->lines->pdata[i])->text, "bp: ");
    }
  g_assert_cmpuint (got, ==, n_lines);
}

/* ---- a log that cannot keep up ----------------------------------------------------------- */

#define SLOW_FIFO_LINE_LEN 80          /* without the '\n' */
/* Well past what the writer holds before it stops reading (pm-log.h) and a
 * widened pipe: the child ends while its writer is congested. */
#define SLOW_FIFO_LINES    ((PM_LOG_HIGH_WATER + 4 * 1024 * 1024) / (SLOW_FIFO_LINE_LEN + 1))
#define SLOW_FIFO_CHUNK    (16 * 1024) /* per SLOW_FIFO_PAUSE_US: ~8 MB/s */
#define SLOW_FIFO_PAUSE_US 2000

/* Reads a FIFO slowly (a slow disk): SLOW_FIFO_CHUNK, then a pause, until
 * @expected bytes are in or the deadline passes. The pause is the point of
 * it, not a way to wait for anything. */
typedef struct
{
  int fd;
  gsize expected;
  gint64 deadline;              /* g_get_monotonic_time () */
  GByteArray *data;             /* the thread's until done is set */
  gint received;                /* data->len, for the main thread */
  gint done;
  int error;                    /* errno of a failed poll or read */
} SlowReader;

static gpointer
slow_reader_thread (gpointer user_data)
{
  SlowReader *r = user_data;
  guint8 chunk[SLOW_FIFO_CHUNK];

  while (r->data->len < r->expected && g_get_monotonic_time () < r->deadline)
    {
      struct pollfd pfd = { r->fd, POLLIN, 0 };
      ssize_t n;

      /* Bounded waits: the deadline holds even when nothing comes. */
      if (poll (&pfd, 1, 100) < 0)
        {
          if (errno == EINTR)
            continue;
          r->error = errno;
          break;
        }
      if (pfd.revents == 0)
        continue;
      n = read (r->fd, chunk, sizeof chunk);
      if (n < 0)
        {
          if (errno == EINTR || errno == EAGAIN)
            continue;
          r->error = errno;
          break;
        }
      /* 0: no writer at the moment, which is not the end of the log. */
      if (n > 0)
        {
          g_byte_array_append (r->data, chunk, (guint) n);
          g_atomic_int_set (&r->received, (gint) r->data->len);
        }
      g_usleep (SLOW_FIFO_PAUSE_US);
    }
  g_atomic_int_set (&r->done, 1);
  return NULL;
}

static gboolean
slow_reader_done_cond (gpointer data)
{
  return g_atomic_int_get (&((SlowReader *) data)->done) != 0;
}

/* @got is exactly lines 0..n_lines-1 of l-emit.py's "lines:N:LEN", each
 * after @prefix: none torn, merged, lost, duplicated or out of place. */
static void
assert_emit_lines (const GByteArray *got, const char *prefix, guint n_lines,
                   guint line_len)
{
  g_autoptr(GString) alpha = g_string_new (NULL);
  g_autoptr(GString) want = g_string_new (NULL);
  gsize off = 0;

  while (alpha->len < line_len)
    g_string_append (alpha, "abcdefghijklmnopqrstuvwxyz");
  for (guint i = 0; i < n_lines; i++)
    {
      g_string_printf (want, "%s%08u %.*s\n", prefix, i, (int) line_len - 9, alpha->str);
      if (off + want->len > got->len ||
          memcmp (got->data + off, want->str, want->len) != 0)
        {
          const guint8 *at = got->data + off;
          const guint8 *nl = memchr (at, '\n', got->len - off);
          gsize len = nl != NULL ? (gsize) (nl - at) : got->len - off;

          g_error ("line %u of %u (byte %" G_GSIZE_FORMAT " of %u) is \"%.*s\"%s, "
                   "expected \"%.*s\"", i, n_lines, off, got->len, (int) MIN (len, 120),
                   (const char *) at, nl != NULL ? "" : " (no newline)",
                   (int) want->len - 1, want->str);
        }
      off += want->len;
    }
  if (off != got->len)
    g_error ("%" G_GSIZE_FORMAT " bytes after the last line, starting \"%.*s\"",
             got->len - off, (int) MIN (got->len - off, 120),
             (const char *) got->data + off);
}

/* The log is a FIFO read slowly: the daemon's I/O thread blocks in write(),
 * the child exits while the writer is congested, and still every line
 * arrives once, whole and in order; the daemon keeps answering meanwhile.
 * (Exits wait for a regular file's lines, not a FIFO's: the reader must
 * already be reading when the child exits.) */
static void
test_backpressure_slow_fifo (PmFixture *f, gconstpointer data)
{
  const char *name = data;
  g_autofree gchar *fifo = pm_tmp_path (f, "slow.fifo");
  g_autofree gchar *arg = g_strdup_printf ("lines:%u:%u", SLOW_FIFO_LINES,
                                           SLOW_FIFO_LINE_LEN);
  g_autofree gchar *prefix = g_strdup_printf ("%s%s", name ? name : "", name ? ": " : "");
  g_autoptr(GByteArray) got = g_byte_array_new ();
  SlowReader r = { 0 };
  GThread *thread;
  PmSignal *exited;
  gint64 t0, t_call, t_exited, t_done;
  gint at_exited;
  guint8 rest[SLOW_FIFO_CHUNK];
  ssize_t n;
  guint32 id;
  int fd, flags;

  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  /* Non-blocking, or open() would wait for a writer; then blocking reads. */
  fd = open (fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  g_assert_cmpint (fd, >=, 0);
  flags = fcntl (fd, F_GETFL);
  g_assert_cmpint (flags, >=, 0);
  g_assert_cmpint (fcntl (fd, F_SETFL, flags & ~O_NONBLOCK), ==, 0);

  r.fd = fd;
  r.expected = (gsize) SLOW_FIFO_LINES * (strlen (prefix) + SLOW_FIFO_LINE_LEN + 1);
  r.deadline = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  r.data = got;
  thread = g_thread_new ("slow-fifo-reader", slow_reader_thread, &r);

  t0 = g_get_monotonic_time ();
  if (name != NULL)
    id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <%s>, 'log': <%s>,"
                                  " 'restart': <'never'>, 'args': <[%s]>}",
                                  pm_data_file ("l-emit.py"), name, fifo, arg), NULL);
  else
    id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'log': <%s>,"
                                  " 'restart': <'never'>, 'args': <[%s]>}",
                                  pm_data_file ("l-emit.py"), fifo, arg), NULL);

  /* While the writer waits for the reader, the daemon answers. */
  t_call = g_get_monotonic_time ();
  g_assert_cmpuint (pm_get_u64 (f, id, "LostLines"), ==, 0);
  t_call = g_get_monotonic_time () - t_call;

  exited = pm_wait_for_signal (f, "Exited", id, 60000);
  g_assert_nonnull (exited);
  g_assert_cmpint (exited->exit_code, ==, 0);
  g_assert_cmpint (exited->term_signal, ==, 0);
  t_exited = exited->time_us;
  at_exited = g_atomic_int_get (&r.received);

  g_assert_true (pm_wait_for (slow_reader_done_cond, &r, 70000));
  t_done = g_get_monotonic_time ();
  g_thread_join (thread);
  if (r.error != 0)
    g_error ("reading %s: %s", fifo, g_strerror (r.error));

  /* Anything beyond the expected bytes (duplicates) is wrong too. */
  pm_iterate_for (200);
  g_assert_cmpint (fcntl (fd, F_SETFL, flags | O_NONBLOCK), ==, 0);
  while ((n = read (fd, rest, sizeof rest)) > 0)
    g_byte_array_append (got, rest, (guint) n);

  pm_report ("%u lines (%u bytes) through a FIFO read %u KiB per %u us: Get answered in "
        "%" G_GINT64_FORMAT " ms, Exited after %" G_GINT64_FORMAT " ms with %d bytes "
        "read, all read after %" G_GINT64_FORMAT " ms", SLOW_FIFO_LINES, got->len,
        SLOW_FIFO_CHUNK / 1024, SLOW_FIFO_PAUSE_US, t_call / 1000, (t_exited - t0) / 1000,
        at_exited, (t_done - t0) / 1000);

  assert_emit_lines (got, prefix, SLOW_FIFO_LINES, SLOW_FIFO_LINE_LEN);
  g_assert_cmpuint (pm_get_u64 (f, id, "LostLines"), ==, 0);
  g_assert_false (f->daemon_exited);

  close (fd);
  g_assert_cmpint (g_unlink (fifo), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  pm_test_init ();

  pm_test_add ("/log/prefix/file", test_prefix_in_file, NULL);
  pm_test_add ("/log/prefix/daemon-stdout", test_no_log_daemon_stdout, NULL);
  pm_test_add ("/log/shared/8x50000", test_shared_many, NULL);
  pm_test_add ("/log/shared/paths", test_shared_paths, NULL);
  pm_test_add ("/log/lines/final-partial", test_final_partial_line, NULL);
  pm_test_add ("/log/lines/long", test_long_line, NULL);
  pm_test_add ("/log/lines/crlf-and-bytes", test_crlf_and_bytes, NULL);
  pm_test_add ("/log/ansi/strip", test_strip_ansi, NULL);
  pm_test_add ("/log/ansi/strip-split", test_strip_ansi_split, NULL);
  pm_test_add ("/log/ansi/unchanged", test_ansi_unchanged, NULL);
  pm_test_add ("/log/path/nested-dir", test_nested_dir, NULL);
  pm_test_add ("/log/path/log-failed", test_log_failed, NULL);
  pm_test_add ("/log/path/append", test_append, NULL);
  pm_test_add ("/log/reopen/method", test_reopen_method, NULL);
  pm_test_add ("/log/reopen/sighup", test_reopen_sighup, NULL);
  pm_test_add ("/log/reopen/failed", test_reopen_failed, NULL);
  pm_test_add ("/log/error/dev-full", test_dev_full, NULL);
  pm_test_add ("/log/error/disk-full-recovery", test_disk_full_recovery, NULL);
  pm_test_add ("/log/timestamps", test_timestamps, NULL);
  pm_test_add ("/log/flush/at-exit", test_flushed_at_exit, NULL);
  pm_test_add ("/log/flush/batching", test_batching, NULL);
  pm_test_add ("/log/backpressure/stdout", test_backpressure_stdout, NULL);
  pm_test_add ("/log/backpressure/slow-fifo", test_backpressure_slow_fifo, NULL);
  pm_test_add ("/log/backpressure/slow-fifo-named", test_backpressure_slow_fifo, "slow");

  return g_test_run ();
}
