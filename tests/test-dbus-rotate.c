/* test-dbus-rotate.c — size-based log rotation of the real elife-pmd
 * (issue 15): logMaxBytes and logBackups, LogRotations, a file shared by
 * several processes, a line longer than the limit, rotation racing
 * ReopenLogs, a rotation the file system refuses, the mode and owner of
 * the new file, and the options over the bus.
 *
 * The producer is tests/data/l-seq.py (numbered, checksummed lines cut into
 * writes of random sizes). The checker below reads the kept files oldest
 * first and finds torn, corrupted, duplicated and reordered lines, and
 * whether what is missing is exactly the oldest lines of each stream. */
#include "pm-test-util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib/gstdio.h>

#define WAIT_MS 10000
#define MIB (1024 * 1024)
#define MAX_CHILDREN 8
/* l-seq.py sends line SEQ to stderr when SEQ % 5 == 4 (its default). */
#define STDERR_EVERY 5
/* The longest line l-seq.py writes, with a "wN: " prefix: 96 bytes of
 * payload, five-digit numbers, the checksum. */
#define SEQ_LINE_MAX 128

/* A NULL-terminated argv for 'args': <%^as>. */
#define ARGV(...) ((const char *[]) { __VA_ARGS__, NULL })

static guint
wait_ms (void)
{
  /* pm_test_scaled divides; a slow tool needs the opposite. */
  const char *slow = g_getenv ("ELIFE_PM_TEST_SLOW");
  guint factor = slow != NULL ? (guint) MAX (1, g_ascii_strtoull (slow, NULL, 10)) : 1;

  return WAIT_MS * factor;
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

static void
touch (const char *path)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, "", 0, &error);
  g_assert_no_error (error);
}

static void
wait_exited_ok (PmFixture *f, guint32 id)
{
  PmSignal *s = pm_wait_for_signal (f, "Exited", id, 6 * wait_ms ());

  g_assert_nonnull (s);
  g_assert_cmpint (s->exit_code, ==, 0);
}

static gsize
file_size (const char *path)
{
  struct stat st;

  if (g_stat (path, &st) < 0)
    g_error ("stat %s: %s", path, g_strerror (errno));
  return st.st_size;
}

/* ---- the kept files -------------------------------------------------------------- */

/* LOG's backups, oldest first, then LOG: "LOG.N" … "LOG.1", "LOG". Anything
 * else named after LOG in its directory (a gap in the numbers, a stray
 * file) fails the case. *@n_backups: N. */
static GPtrArray *
kept_files (const char *log, guint *n_backups)
{
  g_autofree gchar *dir = g_path_get_dirname (log);
  g_autofree gchar *base = g_path_get_basename (log);
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  GPtrArray *files = g_ptr_array_new_with_free_func (g_free);
  gsize base_len = strlen (base);
  guint max = 0, count = 0;
  const char *entry;

  g_assert_nonnull (d);
  while ((entry = g_dir_read_name (d)) != NULL)
    {
      const char *num = entry + base_len;
      gchar *end;
      guint64 n;

      if (!g_str_has_prefix (entry, base) || g_str_equal (entry, base))
        continue;
      n = (*num == '.') ? g_ascii_strtoull (num + 1, &end, 10) : 0;
      if (*num != '.' || n == 0 || *end != '\0' || !g_ascii_isdigit (num[1]))
        g_error ("unexpected file %s next to %s", entry, base);
      max = MAX (max, (guint) n);
      count++;
    }
  if (count != max)
    {
      g_autofree gchar *cmd = g_strdup_printf ("ls -la %s", dir);
      g_autofree gchar *out = NULL;

      g_spawn_command_line_sync (cmd, &out, NULL, NULL, NULL);
      g_error ("%u backups of %s, numbered up to %u: a gap\n%s", count, base, max, out);
    }
  for (guint i = max; i >= 1; i--)
    g_ptr_array_add (files, g_strdup_printf ("%s.%u", log, i));
  g_assert_true (g_file_test (log, G_FILE_TEST_IS_REGULAR));
  g_ptr_array_add (files, g_strdup (log));
  *n_backups = max;
  return files;
}

/* Every kept file is at most @max bytes, and every backup more than @max
 * minus one line: it was rotated because the next line did not fit. */
static void
assert_sizes (GPtrArray *files, gsize max, gsize line_max)
{
  for (guint i = 0; i < files->len; i++)
    {
      gsize size = file_size (files->pdata[i]);

      if (size > max)
        g_error ("%s has %" G_GSIZE_FORMAT " bytes, more than logMaxBytes %" G_GSIZE_FORMAT,
                 (char *) files->pdata[i], size, max);
      if (i + 1 < files->len && size + line_max <= max)
        g_error ("%s has only %" G_GSIZE_FORMAT " bytes: rotated before it was full (%"
                 G_GSIZE_FORMAT ")", (char *) files->pdata[i], size, max);
    }
}

/* ---- the checker ------------------------------------------------------------------ */

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

static guint
stream_of (guint64 seq)
{
  return seq % STDERR_EVERY == STDERR_EVERY - 1;
}

/* Sequence numbers of @stream in [0, x]. */
static guint64
stream_upto (guint stream, gint64 x)
{
  guint64 e;

  if (x < 0)
    return 0;
  e = x < STDERR_EVERY - 1 ? 0 : (x - (STDERR_EVERY - 1)) / STDERR_EVERY + 1;
  return stream ? e : (guint64) x + 1 - e;
}

/* The last sequence number of @stream below @count. */
static gint64
stream_last (guint stream, guint64 count)
{
  for (gint64 s = (gint64) count - 1; s >= 0; s--)
    if (stream_of (s) == stream)
      return s;
  return -1;
}

/* The bytes l-seq.py writes for (cid, seq), "wCID: " included. */
static gsize
seq_line_len (guint cid, guint64 seq)
{
  g_autofree gchar *c = g_strdup_printf ("%u", cid);
  g_autofree gchar *s = g_strdup_printf ("%" G_GUINT64_FORMAT, seq);
  guint n = (guint) ((seq * 7 + cid * 13) % 97);

  /* "wC: " + "L C S SEQ PAYLOAD" + " CSUM\n" */
  return (1 + strlen (c) + 2) + (2 + strlen (c) + 3 + strlen (s) + 1 + (n ? n : 1)) + 10;
}

typedef struct
{
  guint n_children;
  guint64 lines;
  guint bad;                    /* torn, corrupted or wrongly prefixed */
  guint order;                  /* duplicated or out of order within a stream */
  gint64 first[MAX_CHILDREN + 1][2];
  gint64 last[MAX_CHILDREN + 1][2];
  guint64 count[MAX_CHILDREN + 1][2];
  GPtrArray *reports;           /* "NAME: elife-pmd: N lines lost (...)" */
  GString *examples;
} Checker;

static void
checker_init (Checker *c, guint n_children)
{
  memset (c, 0, sizeof *c);
  g_assert_cmpuint (n_children, <=, MAX_CHILDREN);
  c->n_children = n_children;
  for (guint i = 0; i <= MAX_CHILDREN; i++)
    c->first[i][0] = c->first[i][1] = c->last[i][0] = c->last[i][1] = -1;
  c->reports = g_ptr_array_new_with_free_func (g_free);
  c->examples = g_string_new (NULL);
}

static void
checker_clear (Checker *c)
{
  g_ptr_array_unref (c->reports);
  g_string_free (c->examples, TRUE);
}

static void
checker_bad (Checker *c, guint *counter, const char *what, const char *line, gsize len)
{
  (*counter)++;
  if (c->examples->len < 2000)
    g_string_append_printf (c->examples, "  %s: \"%.*s\"%s\n", what,
                            (int) MIN (len, 160), line, len > 160 ? "..." : "");
}

/* One line without its '\n': "wCID: L CID S SEQ PAYLOAD CSUM". */
static void
checker_line (Checker *c, const char *line, gsize len)
{
  g_autofree gchar *copy = g_strndup (line, len);
  g_auto(GStrv) fields = NULL;
  const char *body;
  gchar *end;
  guint cid, stream;
  guint64 seq;
  g_autofree gchar *prefix = NULL;

  c->lines++;
  body = strstr (copy, ": ");
  if (memchr (line, '\0', len) != NULL || body == NULL)
    {
      checker_bad (c, &c->bad, "torn", line, len);
      return;
    }
  body += 2;
  if (g_str_has_prefix (body, "elife-pmd: "))
    {
      g_ptr_array_add (c->reports, g_strdup (copy));
      return;
    }
  fields = g_strsplit (body, " ", -1);
  if (g_strv_length (fields) != 6 || strcmp (fields[0], "L") != 0 ||
      strlen (fields[5]) != 8 || strlen (fields[2]) != 1)
    {
      checker_bad (c, &c->bad, "torn or merged", line, len);
      return;
    }
  cid = (guint) g_ascii_strtoull (fields[1], &end, 10);
  seq = g_ascii_strtoull (fields[3], NULL, 10);
  stream = fields[2][0] == 'e';
  prefix = g_strdup_printf ("w%u: ", cid);
  if (*end != '\0' || cid < 1 || cid > c->n_children || !g_str_has_prefix (copy, prefix) ||
      g_ascii_strtoull (fields[5], NULL, 16) != fnv1a (body, strlen (body) - 9) ||
      stream != stream_of (seq))
    {
      checker_bad (c, &c->bad, "corrupted", line, len);
      return;
    }
  if ((gint64) seq <= c->last[cid][stream])
    {
      checker_bad (c, &c->order, "duplicated or out of order", line, len);
      return;
    }
  if (c->first[cid][stream] < 0)
    c->first[cid][stream] = seq;
  c->last[cid][stream] = seq;
  c->count[cid][stream]++;
}

static void
checker_feed_file (Checker *c, const char *path)
{
  g_autofree gchar *text = NULL;
  gsize len = 0;
  const char *p, *end, *nl;

  if (!g_file_get_contents (path, &text, &len, NULL))
    g_error ("log %s is missing", path);
  for (p = text, end = text + len; p < end && (nl = memchr (p, '\n', end - p)) != NULL; p = nl + 1)
    checker_line (c, p, nl - p);
  if (p < end)
    checker_bad (c, &c->bad, "unterminated last line", p, end - p);
}

/* Feeds @files, oldest first, and fails the case on a damaged line. */
static void
checker_feed_all (Checker *c, GPtrArray *files)
{
  for (guint i = 0; i < files->len; i++)
    checker_feed_file (c, files->pdata[i]);
  pm_report ("%u files: %" G_GUINT64_FORMAT " lines, %u torn/corrupt, %u duplicated or "
        "out of order, %u loss reports", files->len, c->lines, c->bad, c->order,
        c->reports->len);
  if (c->bad || c->order)
    g_error ("log damaged: %u torn/corrupt, %u duplicated or out of order\n%s",
             c->bad, c->order, c->examples->str);
}

/* What is missing of each stream is its oldest lines only: from the first
 * line kept on, every line is there. With @count, each child wrote that
 * many lines, and a stream of which anything is kept has its newest line;
 * a stream of which nothing is kept was all rotated away (a child that
 * finished early). With @none_lost, nothing at all is missing. Returns how
 * many streams have lines kept. */
static guint
checker_assert_suffix (Checker *c, guint64 count, gboolean none_lost)
{
  guint kept = 0;

  for (guint cid = 1; cid <= c->n_children; cid++)
    for (guint s = 0; s < 2; s++)
      {
        gint64 first = c->first[cid][s], last = c->last[cid][s];

        pm_report ("child %u, stream %u: %" G_GUINT64_FORMAT " lines kept, %" G_GINT64_FORMAT
              " to %" G_GINT64_FORMAT, cid, s, c->count[cid][s], first, last);
        if (first < 0 && (none_lost || count == 0))
          g_error ("child %u, stream %u: no line kept", cid, s);
        if (first < 0)
          continue;
        kept++;
        if (c->count[cid][s] != stream_upto (s, last) - stream_upto (s, first - 1))
          g_error ("child %u, stream %u: %" G_GUINT64_FORMAT " lines from %" G_GINT64_FORMAT
                   " to %" G_GINT64_FORMAT ": lines missing in between", cid, s,
                   c->count[cid][s], first, last);
        if (count > 0 && last != stream_last (s, count))
          g_error ("child %u, stream %u: the newest line is %" G_GINT64_FORMAT ", not %"
                   G_GINT64_FORMAT, cid, s, last, stream_last (s, count));
        if (none_lost && first != (s ? STDERR_EVERY - 1 : 0))
          g_error ("child %u, stream %u: lines before %" G_GINT64_FORMAT " are missing",
                   cid, s, first);
      }
  g_assert_cmpuint (kept, >, 0);
  return kept;
}

/* Lines missing between the first and the last kept line of each stream
 * (lost, not rotated away), and whether every stream still has its first
 * line (nothing was rotated away). */
static guint64
checker_missing (Checker *c, gboolean *from_start)
{
  guint64 missing = 0;

  *from_start = TRUE;
  for (guint cid = 1; cid <= c->n_children; cid++)
    for (guint s = 0; s < 2; s++)
      {
        gint64 first = c->first[cid][s], last = c->last[cid][s];

        g_assert_cmpint (first, >=, 0);
        missing += stream_upto (s, last) - stream_upto (s, first - 1) - c->count[cid][s];
        if (first != (s ? STDERR_EVERY - 1 : 0))
          *from_start = FALSE;
      }
  return missing;
}

/* floor(@total / @max) ≤ rotations ≤ @total / (@max - one line): each
 * rotation came when the next line did not fit, and no later. */
static void
assert_rotations (guint64 rotations, guint64 total, guint64 max, guint64 line_max)
{
  pm_report ("%" G_GUINT64_FORMAT " bytes, logMaxBytes %" G_GUINT64_FORMAT ": %" G_GUINT64_FORMAT
        " rotations", total, max, rotations);
  g_assert_cmpuint (rotations, >=, total / max);
  g_assert_cmpuint (rotations, <=, total / (max - line_max));
}

/* ---- starting producers ------------------------------------------------------------ */

/* l-seq.py as child @cid ("wCID"), writing @count lines flat out into
 * @log; @extra: more options, "" for none. */
static guint32
start_seq (PmFixture *f, guint cid, guint count, const char *log, const char *extra,
           const char *wait_path)
{
  g_autofree gchar *name = g_strdup_printf ("w%u", cid);
  g_autofree gchar *scid = g_strdup_printf ("%u", cid);
  g_autofree gchar *scount = g_strdup_printf ("%u", count);
  g_autofree gchar *text = g_strdup_printf ("{'script': <%%s>, 'name': <%%s>, 'log': <%%s>,"
                                            " 'restart': <'never'>, 'args': <%%^as>%s}", extra);
  const char *argv_wait[] = { scid, scount, "--wait", wait_path, NULL };
  const char *argv_plain[] = { scid, scount, NULL };

  return pm_start_ok (f, pm_opts (text, pm_data_file ("l-seq.py"), name, log,
                                  wait_path ? argv_wait : argv_plain), NULL);
}

/* l-seq.py writing bursts of @burst lines every @pace_ms until @until exists. */
static guint32
start_paced (PmFixture *f, guint cid, const char *log, const char *extra, const char *until,
             guint pace_ms, guint burst)
{
  g_autofree gchar *name = g_strdup_printf ("w%u", cid);
  g_autofree gchar *scid = g_strdup_printf ("%u", cid);
  g_autofree gchar *pace = g_strdup_printf ("%u", pace_ms);
  g_autofree gchar *sburst = g_strdup_printf ("%u", burst);
  g_autofree gchar *text = g_strdup_printf ("{'script': <%%s>, 'name': <%%s>, 'log': <%%s>,"
                                            " 'restart': <'never'>, 'args': <%%^as>%s}", extra);

  return pm_start_ok (f, pm_opts (text, pm_data_file ("l-seq.py"), name, log,
                                  ARGV (scid, "0", "--pace", pace, "--burst", sburst,
                                        "--until", until)), NULL);
}

/* A process that writes nothing and stays registered on @log: it is told
 * every rotation of the file from now on, and its LogRotations can still be
 * read once the producers are forgotten (see settle()). */
static guint32
start_sentinel (PmFixture *f, const char *log)
{
  return pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'sentinel'>, 'log': <%s>}",
                                  pm_data_file ("sleep-forever.sh"), log), NULL);
}

/* Exited comes when the child exits; its last lines are written when its
 * group is gone, a moment later. Stop forgets an exited process once they
 * are: after this, every line of the producers "w1" … "wN" is in the files. */
static void
settle (PmFixture *f, guint n_children)
{
  for (guint cid = 1; cid <= n_children; cid++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree gchar *name = g_strdup_printf ("w%u", cid);

      g_assert_cmpuint (pm_stop (f, name, &error), ==, 1);
      g_assert_no_error (error);
    }
}

/* ---- the cases ------------------------------------------------------------------------ */

#define SHARED_CHILDREN 8
#define SHARED_LINES 50000

/* 8 children × 50,000 lines flat out into one file of at most 1 MiB with 3
 * backups: exactly LOG + 3 backups, each within the bound and rotated only
 * when full, no torn or reordered line, only the oldest lines gone, and
 * every process counted every rotation. */
static void
test_shared_8x50000 (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "rot.log");
  g_autoptr(GPtrArray) files = NULL;
  guint32 ids[SHARED_CHILDREN], sentinel;
  guint64 total = 0, rotations;
  guint n_backups;
  Checker c;

  sentinel = start_sentinel (f, "rot.log");
  for (guint i = 0; i < SHARED_CHILDREN; i++)
    ids[i] = start_seq (f, i + 1, SHARED_LINES, "rot.log",
                        ", 'logMaxBytes': <uint64 1048576>, 'logBackups': <uint32 3>", NULL);
  for (guint i = 0; i < SHARED_CHILDREN; i++)
    wait_exited_ok (f, ids[i]);
  /* Every process writing to the file counts every rotation. */
  rotations = pm_get_u64 (f, sentinel, "LogRotations");
  for (guint i = 0; i < SHARED_CHILDREN; i++)
    {
      g_assert_cmpuint (pm_get_u64 (f, ids[i], "LogRotations"), ==, rotations);
      g_assert_cmpuint (pm_get_u64 (f, ids[i], "LostLines"), ==, 0);
    }
  settle (f, SHARED_CHILDREN);

  files = kept_files (log, &n_backups);
  g_assert_cmpuint (n_backups, ==, 3);
  assert_sizes (files, MIB, SEQ_LINE_MAX);

  checker_init (&c, SHARED_CHILDREN);
  checker_feed_all (&c, files);
  checker_assert_suffix (&c, SHARED_LINES, FALSE);
  g_assert_cmpuint (c.reports->len, ==, 0);
  /* Some 30 MB were written; 4 MiB are kept. */
  g_assert_cmpuint (c.lines, <, SHARED_CHILDREN * SHARED_LINES);
  checker_clear (&c);

  for (guint cid = 1; cid <= SHARED_CHILDREN; cid++)
    for (guint64 seq = 0; seq < SHARED_LINES; seq++)
      total += seq_line_len (cid, seq);
  assert_rotations (pm_get_u64 (f, sentinel, "LogRotations"), total, MIB, SEQ_LINE_MAX);
}

/* logBackups 0: the one file is emptied in place (same inode), never larger
 * than logMaxBytes, and holds the newest lines. */
static void
test_backups_0 (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "zero.log");
  g_autoptr(GPtrArray) files = NULL;
  const guint lines = 20000;
  guint64 total = 0;
  struct stat before, after;
  guint n_backups;
  guint32 id, sentinel;
  Checker c;

  sentinel = start_sentinel (f, "zero.log");
  g_assert_cmpint (g_stat (log, &before), ==, 0);
  id = start_seq (f, 1, lines, "zero.log",
                  ", 'logMaxBytes': <uint64 65536>, 'logBackups': <uint32 0>", NULL);
  wait_exited_ok (f, id);
  settle (f, 1);
  g_assert_cmpint (g_stat (log, &after), ==, 0);
  g_assert_cmpuint (before.st_ino, ==, after.st_ino);

  files = kept_files (log, &n_backups);
  g_assert_cmpuint (n_backups, ==, 0);
  assert_sizes (files, 65536, SEQ_LINE_MAX);
  checker_init (&c, 1);
  checker_feed_all (&c, files);
  checker_assert_suffix (&c, lines, FALSE);
  checker_clear (&c);

  for (guint64 seq = 0; seq < lines; seq++)
    total += seq_line_len (1, seq);
  assert_rotations (pm_get_u64 (f, sentinel, "LogRotations"), total, 65536, SEQ_LINE_MAX);
}

/* A line longer than logMaxBytes gets a file of its own, whole; the lines
 * around it go into the files before and after. */
static void
test_long_line (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "long.log");
  g_autofree gchar *log1 = pm_tmp_path (f, "long.log.1");
  g_autofree gchar *log2 = pm_tmp_path (f, "long.log.2");
  g_autofree gchar *text = NULL;
  g_autoptr(GPtrArray) files = NULL;
  guint n_backups;
  guint32 id, sentinel;

  sentinel = start_sentinel (f, "long.log");
  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'name': <'w1'>, 'log': <'long.log'>,"
                                " 'restart': <'never'>, 'args': <%^as>,"
                                " 'logMaxBytes': <uint64 1000>}",
                                pm_data_file ("l-emit.py"),
                                ARGV ("out:short\\n", "pat:5000", "out:\\nafter\\n")), NULL);
  wait_exited_ok (f, id);
  settle (f, 1);

  files = kept_files (log, &n_backups);
  g_assert_cmpuint (n_backups, ==, 2);
  text = pm_read_file (log2);
  g_assert_cmpstr (text, ==, "w1: short\n");
  g_clear_pointer (&text, g_free);
  text = pm_read_file (log1);
  g_assert_cmpuint (strlen (text), ==, 4 + 5000 + 1);
  g_assert_true (g_str_has_prefix (text, "w1: abcdefghijklmnopqrstuvwxyzabc"));
  g_assert_true (g_str_has_suffix (text, "\n"));
  g_assert_true (strchr (text, '\n') == text + strlen (text) - 1);
  g_clear_pointer (&text, g_free);
  text = pm_read_file (log);
  g_assert_cmpstr (text, ==, "w1: after\n");
  g_assert_cmpuint (pm_get_u64 (f, sentinel, "LogRotations"), ==, 2);
}

#define RACE_BACKUPS 100
#define RACE_MAX 65536

/* Rotation and ReopenLogs (the method and SIGHUP) as fast as they come,
 * while two children write: lines stay whole, in order and complete (as
 * long as fewer than 100 backups were needed; beyond, only the oldest go). */
static void
test_racing_reopen (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "race.log");
  g_autofree gchar *until = pm_tmp_path (f, "stop");
  g_autoptr(GPtrArray) files = NULL;
  const char *extra = ", 'logMaxBytes': <uint64 65536>, 'logBackups': <uint32 100>";
  guint32 id1, id2;
  guint reopens = 0, hups = 0, n_backups;
  guint64 r0, r1;
  gint64 deadline = g_get_monotonic_time () + 6 * (gint64) wait_ms () * 1000;
  Checker c;

  id1 = start_paced (f, 1, "race.log", extra, until, 2, 20);
  id2 = start_paced (f, 2, "race.log", extra, until, 2, 20);
  r0 = pm_wait_u64_above (f, id1, "LogRotations", 0, wait_ms ());

  /* At least 40 reopens while at least 20 rotations happen. */
  while ((reopens + hups < 40 || pm_get_u64 (f, id1, "LogRotations") < r0 + 20) &&
         g_get_monotonic_time () < deadline)
    {
      if ((reopens + hups) % 4 == 3)
        {
          g_subprocess_send_signal (f->daemon, SIGHUP);
          hups++;
        }
      else
        {
          g_autoptr(GError) error = NULL;
          g_autoptr(GVariant) reply = pm_call (f, "ReopenLogs", NULL, "()", &error);

          g_assert_no_error (error);
          reopens++;
        }
      pm_iterate_for (5);
    }
  r1 = pm_get_u64 (f, id1, "LogRotations");
  pm_report ("%u ReopenLogs and %u SIGHUP during %" G_GUINT64_FORMAT " rotations", reopens, hups,
        r1 - r0);
  g_assert_cmpuint (r1, >=, r0 + 20);

  touch (until);
  wait_exited_ok (f, id1);
  wait_exited_ok (f, id2);
  g_assert_cmpuint (pm_get_u64 (f, id1, "LostLines"), ==, 0);
  g_assert_cmpuint (pm_get_u64 (f, id2, "LostLines"), ==, 0);
  g_assert_cmpuint (pm_get_u64 (f, id2, "LogRotations"), ==, pm_get_u64 (f, id1, "LogRotations"));
  settle (f, 2);

  files = kept_files (log, &n_backups);
  g_assert_cmpuint (n_backups, <=, RACE_BACKUPS);
  assert_sizes (files, RACE_MAX, SEQ_LINE_MAX);
  checker_init (&c, 2);
  checker_feed_all (&c, files);
  checker_assert_suffix (&c, 0, n_backups < RACE_BACKUPS);
  g_assert_cmpuint (c.reports->len, ==, 0);
  checker_clear (&c);
  g_assert_false (f->daemon_exited);
}

/* A file shared by two processes is rotated at the smaller logMaxBytes,
 * keeping the larger logBackups; both count the rotations. */
static void
test_shared_rule (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "rule.log");
  g_autofree gchar *go = pm_tmp_path (f, "go");
  g_autoptr(GPtrArray) files = NULL;
  const guint lines = 3000;
  guint64 total = 0;
  guint n_backups;
  guint32 a, b, sentinel;
  Checker c;

  sentinel = start_sentinel (f, "rule.log");
  a = start_seq (f, 1, lines, "rule.log",
                 ", 'logMaxBytes': <uint64 1048576>, 'logBackups': <uint32 1>", go);
  b = start_seq (f, 2, lines, "rule.log",
                 ", 'logMaxBytes': <uint64 8192>, 'logBackups': <uint32 4>", go);
  touch (go);
  wait_exited_ok (f, a);
  wait_exited_ok (f, b);
  g_assert_cmpuint (pm_get_u64 (f, b, "LogRotations"), ==, pm_get_u64 (f, a, "LogRotations"));
  settle (f, 2);

  files = kept_files (log, &n_backups);
  g_assert_cmpuint (n_backups, ==, 4);
  assert_sizes (files, 8192, SEQ_LINE_MAX);
  checker_init (&c, 2);
  checker_feed_all (&c, files);
  checker_assert_suffix (&c, lines, FALSE);
  checker_clear (&c);

  for (guint cid = 1; cid <= 2; cid++)
    for (guint64 seq = 0; seq < lines; seq++)
      total += seq_line_len (cid, seq);
  assert_rotations (pm_get_u64 (f, sentinel, "LogRotations"), total, 8192, SEQ_LINE_MAX);
}

/* A process started on a log that has been rotated meanwhile finds the
 * writer of the file now at the path (not a second writer on it): it is
 * told the rotations from then on, and its lines go whole into the same
 * files. */
static void
test_join_after_rotation (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "join.log");
  g_autofree gchar *until = pm_tmp_path (f, "stop");
  g_autoptr(GPtrArray) files = NULL;
  guint n_backups;
  guint32 a, b;
  Checker c;

  /* About 75 KB a second: a rotation every 0.2 s, and 100 backups hold
   * everything the case writes. */
  a = start_paced (f, 1, "join.log", ", 'logMaxBytes': <uint64 16384>, 'logBackups': <uint32 100>",
                   until, 10, 10);
  pm_wait_u64_above (f, a, "LogRotations", 1, wait_ms ());
  /* No rotation options of its own: it shares the file as it is rotated. */
  b = start_seq (f, 2, 1000, "join.log", "", NULL);
  wait_exited_ok (f, b);
  pm_wait_u64_above (f, b, "LogRotations", 0, wait_ms ());

  touch (until);
  wait_exited_ok (f, a);
  settle (f, 2);
  files = kept_files (log, &n_backups);
  g_assert_cmpuint (n_backups, <, 100);
  assert_sizes (files, 16384, SEQ_LINE_MAX);
  checker_init (&c, 2);
  checker_feed_all (&c, files);
  checker_assert_suffix (&c, 0, TRUE);
  g_assert_cmpuint (c.last[2][0], ==, stream_last (0, 1000));
  g_assert_cmpuint (c.last[2][1], ==, stream_last (1, 1000));
  checker_clear (&c);
}

/* The sum of N in "elife-pmd: N lines lost (REASON)" lines, all with @reason. */
static guint64
reported_lost (Checker *c, const char *reason)
{
  g_autofree gchar *want = g_strdup_printf (" lines lost (%s)", reason);
  guint64 total = 0;

  for (guint i = 0; i < c->reports->len; i++)
    {
      const char *r = strstr (c->reports->pdata[i], "elife-pmd: ");
      gchar *end;

      pm_report ("report: %s", (char *) c->reports->pdata[i]);
      total += g_ascii_strtoull (r + 11, &end, 10);
      if (strcmp (end, want) != 0)
        g_error ("loss report “%s”, expected “N%s”", (char *) c->reports->pdata[i], want);
    }
  return total;
}

/* LOG or LOG.1 holds a loss report. */
static gboolean
report_cond (gpointer data)
{
  g_autofree gchar *log1 = g_strconcat (data, ".1", NULL);
  TextWait w = { data, "elife-pmd: " };
  TextWait w1 = { log1, "elife-pmd: " };

  return text_cond (&w) || text_cond (&w1);
}

typedef enum
{
  REFUSE_DIRECTORY,     /* LOG.1 is a non-empty directory: EISDIR, even for root */
  REFUSE_READ_ONLY,     /* the directory is read-only: EACCES, not for root */
} Refusal;

/* The file system refuses the rotation: the lines that do not fit are lost
 * and counted, the daemon and the child go on, the file stays within the
 * bound, and once the rotation works again the log says how many were lost
 * and why. */
static void
test_rotation_refused (PmFixture *f, gconstpointer data)
{
  Refusal how = GPOINTER_TO_UINT (data);
  g_autofree gchar *dir = pm_tmp_path (f, "logs");
  g_autofree gchar *log = pm_tmp_path (f, "logs/ref.log");
  g_autofree gchar *log1 = pm_tmp_path (f, "logs/ref.log.1");
  g_autofree gchar *inside = pm_tmp_path (f, "logs/ref.log.1/keep");
  g_autofree gchar *until = pm_tmp_path (f, "stop");
  g_autoptr(GPtrArray) files = NULL;
  g_autofree gchar *state = NULL;
  const char *reason;
  guint64 lost, reported;
  guint n_backups;
  guint32 id;
  Checker c;

  g_assert_cmpint (g_mkdir (dir, 0755), ==, 0);
  if (how == REFUSE_DIRECTORY)
    {
      g_assert_cmpint (g_mkdir (log1, 0755), ==, 0);
      touch (inside);
      reason = g_strerror (EISDIR);
    }
  else
    reason = g_strerror (EACCES);

  /* About 500 lines (37 KB) a second. */
  id = start_paced (f, 1, "logs/ref.log",
                    ", 'logMaxBytes': <uint64 4096>, 'logBackups': <uint32 1>", until, 20, 10);
  if (how == REFUSE_READ_ONLY)
    {
      g_assert_true (g_file_test (log, G_FILE_TEST_IS_REGULAR));
      g_assert_cmpint (g_chmod (dir, 0555), ==, 0);
    }

  lost = pm_wait_u64_above (f, id, "LostLines", 0, wait_ms ());
  lost = pm_wait_u64_above (f, id, "LostLines", lost, wait_ms ());
  pm_report ("%" G_GUINT64_FORMAT " lines lost while the rotation is refused", lost);
  g_assert_cmpuint (file_size (log), <=, 4096);
  g_assert_cmpuint (pm_get_u64 (f, id, "LogRotations"), ==, 0);
  state = pm_get_string (f, id, "State");
  g_assert_cmpstr (state, ==, "running");
  g_assert_cmpuint (pm_list_count (f), ==, 1);
  g_assert_false (f->daemon_exited);

  /* Allowed again: the next batch rotates, and the notice follows. */
  if (how == REFUSE_DIRECTORY)
    {
      g_assert_cmpint (g_unlink (inside), ==, 0);
      g_assert_cmpint (g_rmdir (log1), ==, 0);
    }
  else
    g_assert_cmpint (g_chmod (dir, 0755), ==, 0);
  pm_wait_u64_above (f, id, "LogRotations", 0, wait_ms ());
  /* A batch went through: the report is in the next one. The producer
   * stops now, so that no rotation takes the report away. */
  touch (until);
  wait_exited_ok (f, id);
  lost = pm_get_u64 (f, id, "LostLines");
  settle (f, 1);
  if (!pm_wait_for (report_cond, log, wait_ms ()))
    g_error ("no loss report in %s or %s", log, log1);

  files = kept_files (log, &n_backups);
  g_assert_cmpuint (n_backups, ==, 1);
  assert_sizes (files, 4096, SEQ_LINE_MAX + 64);
  checker_init (&c, 1);
  checker_feed_all (&c, files);
  reported = reported_lost (&c, reason);
  g_assert_cmpuint (reported, ==, lost);
  /* The lost lines are the ones missing, unless the oldest kept ones went
   * with later rotations (and the gap with them, in part or whole). */
  {
    gboolean from_start;
    guint64 missing = checker_missing (&c, &from_start);

    pm_report ("%" G_GUINT64_FORMAT " lines missing in the kept files%s", missing,
          from_start ? ", which start with the first line" : "");
    g_assert_cmpuint (missing, <=, lost);
    if (from_start)
      g_assert_cmpuint (missing, ==, lost);
  }
  checker_clear (&c);
}

/* The file a rotation creates has the mode and (for root) the owner of the
 * file it continues, whatever the daemon's umask. */
static void
test_mode_owner (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "mo.log");
  g_autofree gchar *log1 = pm_tmp_path (f, "mo.log.1");
  g_autofree gchar *until = pm_tmp_path (f, "stop");
  gboolean root = geteuid () == 0;
  struct stat st;
  guint64 r;
  guint32 id;

  /* About 7 KB a second: a rotation every second or so, far from the
   * moment the mode is changed. */
  id = start_paced (f, 1, "mo.log", ", 'logMaxBytes': <uint64 8192>, 'logBackups': <uint32 2>",
                    until, 50, 5);
  r = pm_wait_u64_above (f, id, "LogRotations", 0, wait_ms ());

  g_assert_cmpint (g_chmod (log, 0640), ==, 0);
  if (root)
    g_assert_cmpint (chown (log, 65534, 65534), ==, 0);
  pm_wait_u64_above (f, id, "LogRotations", r + 1, wait_ms ());
  touch (until);
  wait_exited_ok (f, id);
  settle (f, 1);

  for (guint i = 0; i < 2; i++)
    {
      const char *path = i == 0 ? log : log1;

      g_assert_cmpint (g_stat (path, &st), ==, 0);
      g_assert_cmpint (st.st_mode & 07777, ==, 0640);
      if (root)
        {
          g_assert_cmpint (st.st_uid, ==, 65534);
          g_assert_cmpint (st.st_gid, ==, 65534);
        }
    }
  if (!root)
    g_test_message ("not root: the owner part is not checked");
}

/* A rotation reuses the oldest backup's inode as the new log (emptied and
 * exchanged down the chain), but not one with another link: the data of a
 * hard link to LOG.1, taken by the user, stays whole through the next
 * rotations, which go on by delete and create; and every kept file is
 * still the log's, LOG and one backup, within the bound. */
static void
test_hard_linked_backup (PmFixture *f, gconstpointer data)
{
  g_autofree gchar *log = pm_tmp_path (f, "hl.log");
  g_autofree gchar *log1 = pm_tmp_path (f, "hl.log.1");
  g_autofree gchar *keep = pm_tmp_path (f, "keep.txt");
  g_autofree gchar *until = pm_tmp_path (f, "stop");
  g_autofree gchar *before = NULL, *after = NULL;
  g_autoptr(GPtrArray) files = NULL;
  g_autoptr(GError) error = NULL;
  gsize before_len, after_len;
  guint n_backups;
  guint64 r;
  guint32 id;
  Checker c;

  id = start_paced (f, 1, "hl.log", ", 'logMaxBytes': <uint64 4096>, 'logBackups': <uint32 1>",
                    until, 20, 10);
  r = pm_wait_u64_above (f, id, "LogRotations", 1, wait_ms ());
  g_assert_cmpint (link (log1, keep), ==, 0);
  g_assert_true (g_file_get_contents (keep, &before, &before_len, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (before_len, >, 0);
  pm_wait_u64_above (f, id, "LogRotations", r + 2, wait_ms ());
  touch (until);
  wait_exited_ok (f, id);
  g_assert_cmpuint (pm_get_u64 (f, id, "LostLines"), ==, 0);
  settle (f, 1);

  g_assert_true (g_file_get_contents (keep, &after, &after_len, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (after_len, ==, before_len);
  g_assert_true (memcmp (before, after, before_len) == 0);
  files = kept_files (log, &n_backups);
  g_assert_cmpuint (n_backups, ==, 1);
  assert_sizes (files, 4096, SEQ_LINE_MAX);
  checker_init (&c, 1);
  checker_feed_all (&c, files);
  g_assert_cmpuint (c.reports->len, ==, 0);
  checker_clear (&c);
}

/* The options over the bus: InvalidArgs naming them, nothing registered;
 * LogRotations is a uint64, 0 without a log. */
static void
test_options (PmFixture *f, gconstpointer data)
{
  static const char * const bad[][2] = {
    { "{'script': <%s>, 'logBackups': <uint32 101>}", "logBackups" },
    { "{'script': <%s>, 'logBackups': <int32 3>}", "logBackups" },
    { "{'script': <%s>, 'logMaxBytes': <uint32 1048576>}", "logMaxBytes" },
    { "{'script': <%s>, 'logMaxBytes': <int64 1048576>}", "logMaxBytes" },
  };
  guint32 id;

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_cmpuint (pm_start (f, pm_opts (bad[i][0], pm_data_file ("sleep-forever.sh")),
                                  &error), ==, 0);
      pm_assert_remote_error (error, PM_TEST_ERROR_INVALID_ARGS);
      if (strstr (error->message, bad[i][1]) == NULL)
        g_error ("“%s” does not name %s", error->message, bad[i][1]);
    }
  g_assert_cmpuint (pm_list_count (f), ==, 0);

  id = pm_start_ok (f, pm_opts ("{'script': <%s>, 'logMaxBytes': <uint64 1048576>,"
                                " 'logBackups': <uint32 100>}",
                                pm_data_file ("sleep-forever.sh")), NULL);
  g_assert_cmpuint (pm_get_u64 (f, id, "LogRotations"), ==, 0);
  g_assert_cmpuint (pm_stop_all (f, NULL), ==, 1);
}

static void
skip_read_only_as_root (void)
{
  g_test_skip ("root renames in a read-only directory: "
               "/rotate/refused/directory covers a refused rename for root too");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  pm_test_init ();

  pm_test_add ("/rotate/shared/8x50000", test_shared_8x50000, NULL);
  pm_test_add ("/rotate/shared/rule", test_shared_rule, NULL);
  pm_test_add ("/rotate/shared/join-after-rotation", test_join_after_rotation, NULL);
  pm_test_add ("/rotate/backups-0", test_backups_0, NULL);
  pm_test_add ("/rotate/long-line", test_long_line, NULL);
  pm_test_add ("/rotate/racing-reopen", test_racing_reopen, NULL);
  pm_test_add ("/rotate/refused/directory", test_rotation_refused,
               GUINT_TO_POINTER (REFUSE_DIRECTORY));
  if (geteuid () != 0)
    pm_test_add ("/rotate/refused/read-only-dir", test_rotation_refused,
                 GUINT_TO_POINTER (REFUSE_READ_ONLY));
  else
    g_test_add_func ("/rotate/refused/read-only-dir", skip_read_only_as_root);
  pm_test_add ("/rotate/mode-owner", test_mode_owner, NULL);
  pm_test_add ("/rotate/options", test_options, NULL);
  pm_test_add ("/rotate/hard-linked-backup", test_hard_linked_backup, NULL);

  return g_test_run ();
}
