/* pm-cli-logs.c — `elife-pm logs NAME|ID [-n N] [-f]`: the last lines of a
 * process's log file, only its own ("NAME: " prefixed) in a shared file.
 *
 * -f follows the path, not the open file: a GFileMonitor on the path says
 * when something happens there; the open file is then read to its end,
 * and if the path now names another inode (ReopenLogs after a rename,
 * rotation) the new file is opened and read from its start. The previous
 * file stays open until the next switch and is drained on every event, so
 * lines the daemon finishes writing there after the switch are not lost.
 * A file cut shorter (copytruncate) is read again from its start; the
 * previous file cut shorter is the daemon's oldest backup emptied to be
 * the new file (rotation reuses that inode), and is let go.
 *
 * The daemon may rotate several times between two looks (a burst bigger
 * than logMaxBytes, one batch rotating more than once): the files in
 * between are found among FILE.1, FILE.2, … (the daemon's names), newer
 * than the one being followed, and read whole, oldest first. Only a file
 * that is gone (more rotations than backups) is missed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>

#include "pm-cli.h"
#include "pm-cli-format.h"

typedef struct
{
  int      fd;
  dev_t    dev;
  ino_t    ino;
  off_t    pos;        /* read up to here */
  GString *partial;    /* an unfinished last line */
} LogFile;

typedef struct
{
  char    *path;
  char    *name;
  LogFile  current;
  LogFile  previous;
} Follow;

static void
log_file_close (LogFile *lf)
{
  if (lf->fd >= 0)
    close (lf->fd);
  lf->fd = -1;
  if (lf->partial)
    g_string_free (lf->partial, TRUE);
  lf->partial = NULL;
}

static void
emit_line (const char *line,
           gsize       len,
           const char *name)
{
  if (pm_cli_log_line_is_of (line, len, name))
    {
      fwrite (line, 1, len, stdout);
      fputc ('\n', stdout);
    }
}

/* Reads @lf from pos to its end, printing every whole line of @name. */
static void
drain (LogFile    *lf,
       const char *name)
{
  char buf[65536];
  struct stat st;
  ssize_t n;

  if (lf->fd < 0)
    return;
  if (fstat (lf->fd, &st) == 0 && st.st_size < lf->pos)
    {
      /* Cut shorter in place: start over. */
      lf->pos = 0;
      g_string_truncate (lf->partial, 0);
    }
  while ((n = pread (lf->fd, buf, sizeof buf, lf->pos)) > 0)
    {
      const char *p = buf, *end = buf + n;

      lf->pos += n;
      while (p < end)
        {
          const char *nl = memchr (p, '\n', end - p);

          if (nl == NULL)
            {
              g_string_append_len (lf->partial, p, end - p);
              break;
            }
          if (lf->partial->len > 0)
            {
              g_string_append_len (lf->partial, p, nl - p);
              emit_line (lf->partial->str, lf->partial->len, name);
              g_string_truncate (lf->partial, 0);
            }
          else
            emit_line (p, nl - p, name);
          p = nl + 1;
        }
    }
  fflush (stdout);
}

static gboolean
log_file_open (LogFile    *lf,
               const char *path,
               GError    **error)
{
  struct stat st;
  int fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);

  if (fd < 0 || fstat (fd, &st) != 0)
    {
      int saved = errno;

      if (fd >= 0)
        close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   _("Cannot open the log file %s: %s"), path, g_strerror (saved));
      return FALSE;
    }
  lf->fd = fd;
  lf->dev = st.st_dev;
  lf->ino = st.st_ino;
  lf->pos = 0;
  lf->partial = g_string_new (NULL);
  return TRUE;
}

/* Prints the last @n lines and leaves pos after the last whole line.
 * Reads backwards a chunk at a time, so memory stays at one chunk plus
 * the lines kept, however big a shared file and however few of its lines
 * are this process's. */
static void
print_tail (LogFile    *lf,
            const char *name,
            guint       n)
{
  const gsize chunk = 256 * 1024;
  g_autoptr(GPtrArray) kept = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GByteArray) buf = g_byte_array_new ();
  gsize fragment = 0;      /* bytes at buf's end: the start of the line after the chunk */
  struct stat st;
  off_t end;

  if (fstat (lf->fd, &st) != 0)
    return;
  end = st.st_size;
  lf->pos = end;
  while (end > 0 && kept->len < n)
    {
      off_t start = end > (off_t) chunk ? end - (off_t) chunk : 0;
      gsize len = (gsize) (end - start);
      g_autoptr(GPtrArray) lines = NULL;
      ssize_t got;
      const guint8 *nl;

      /* buf = [chunk][fragment] */
      g_byte_array_set_size (buf, len + fragment);
      memmove (buf->data + len, buf->data, fragment);
      got = pread (lf->fd, buf->data, len, start);
      if (got != (ssize_t) len)
        return;
      if (end == st.st_size)
        {
          /* Follow from after the last whole line. */
          const guint8 *last = memrchr (buf->data, '\n', len);
          lf->pos = last ? start + (last - buf->data) + 1 : start;
        }
      lines = pm_cli_last_lines ((const char *) buf->data, buf->len, start == 0, name, n - kept->len);
      for (guint i = lines->len; i > 0; i--)
        g_ptr_array_insert (kept, 0, g_strdup (g_ptr_array_index (lines, i - 1)));
      /* What is before the chunk's first newline continues earlier. */
      nl = memchr (buf->data, '\n', len);
      fragment = nl ? (gsize) (nl - buf->data) + 1 : buf->len;
      g_byte_array_remove_range (buf, fragment, buf->len - fragment);
      end = start;
    }
  for (guint i = 0; i < kept->len; i++)
    g_print ("%s\n", (char *) g_ptr_array_index (kept, i));
  fflush (stdout);
}

/* Rotation keeps at most 100 backups (logBackups), and renames one at a
 * time: a slot may be empty for a moment, so the scan goes on past it. */
#define PM_CLI_MAX_BACKUPS 100

static gboolean
same_file (const LogFile *a,
           const LogFile *b)
{
  return a->fd >= 0 && b->fd >= 0 && a->dev == b->dev && a->ino == b->ino;
}

static void
log_file_free (gpointer data)
{
  log_file_close (data);
  g_free (data);
}

/* The files rotated away after @old was current and before @fresh took
 * the path: FILE.1 … FILE.K where FILE.K is @old, in the order they were
 * written (oldest first); empty unless @old is found. A file seen twice
 * (moved on during the scan) counts once, and what is older than @fresh
 * only if @fresh was rotated too (it is then read with the next switch). */
static GPtrArray *
rotated_between (const char    *path,
                 const LogFile *old,
                 const LogFile *fresh)
{
  g_autoptr(GPtrArray) newer_first = g_ptr_array_new_with_free_func (log_file_free);
  GPtrArray *between = g_ptr_array_new_with_free_func (log_file_free);

  if (old->fd < 0)
    return between;
  for (guint i = 1; i <= PM_CLI_MAX_BACKUPS; i++)
    {
      g_autofree char *name = g_strdup_printf ("%s.%u", path, i);
      LogFile *lf = g_new0 (LogFile, 1);
      gboolean seen = FALSE;

      if (!log_file_open (lf, name, NULL))
        {
          g_free (lf);
          continue;
        }
      if (same_file (lf, old))
        {
          log_file_free (lf);
          for (guint j = newer_first->len; j > 0; j--)
            g_ptr_array_add (between, g_ptr_array_steal_index (newer_first, j - 1));
          return between;
        }
      if (same_file (lf, fresh))
        {
          /* Rotated during the scan: what came before it is newer still. */
          g_ptr_array_set_size (newer_first, 0);
          log_file_free (lf);
          continue;
        }
      for (guint j = 0; j < newer_first->len && !seen; j++)
        seen = same_file (lf, g_ptr_array_index (newer_first, j));
      if (seen)
        log_file_free (lf);
      else
        g_ptr_array_add (newer_first, lf);
    }
  /* @old is gone, or was moved elsewhere (not our rotation): nothing
   * here is known to be newer than it. */
  return between;
}

/* The file followed before the last switch: drained for what the daemon
 * finished writing there after it, until it is emptied — then it is the
 * oldest backup taken again by a rotation to be the new FILE (the daemon
 * reuses that inode), and what it holds is not this file's any more. */
static void
drain_previous (LogFile    *lf,
                const char *name)
{
  struct stat st;

  if (lf->fd >= 0 && fstat (lf->fd, &st) == 0 && st.st_size < lf->pos)
    log_file_close (lf);
  drain (lf, name);
}

static void
check_path (Follow *f)
{
  g_autoptr(GPtrArray) between = NULL;
  LogFile fresh = { .fd = -1 };
  struct stat st;

  drain_previous (&f->previous, f->name);
  drain (&f->current, f->name);
  if (g_stat (f->path, &st) != 0)
    return;   /* renamed away; the new file is not there yet */
  if (f->current.fd >= 0 && st.st_dev == f->current.dev && st.st_ino == f->current.ino)
    return;
  /* Another file at the path now. */
  if (!log_file_open (&fresh, f->path, NULL))
    return;   /* gone again: the next event tells */
  between = rotated_between (f->path, &f->current, &fresh);
  for (guint i = 0; i < between->len; i++)
    drain (g_ptr_array_index (between, i), f->name);
  log_file_close (&f->previous);
  f->previous = f->current;
  f->current = fresh;
  drain (&f->current, f->name);
}

static void
on_changed (GFileMonitor     *monitor,
            GFile            *file,
            GFile            *other,
            GFileMonitorEvent event,
            gpointer          user_data)
{
  check_path (user_data);
}

int
pm_cli_logs (PmCli              *cli,
             const PmCliCommand *command,
             int                 argc,
             char              **argv)
{
  int lines = 20;
  gboolean follow = FALSE;
  const GOptionEntry entries[] = {
    { "lines", 'n', 0, G_OPTION_ARG_INT, &lines,
      N_("How many of the last lines to show (default 20)"), N_("N") },
    { "follow", 'f', 0, G_OPTION_ARG_NONE, &follow,
      N_("Keep printing new lines, across log rotation, until interrupted"), NULL },
    G_OPTION_ENTRY_NULL
  };
  g_autoptr(GOptionContext) context = pm_cli_context_new (cli, command, entries);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) procs = NULL;
  g_autoptr(GFile) file = NULL;
  g_autoptr(GFileMonitor) monitor = NULL;
  PmDBusProcessManagerProcess *p;
  Follow f = { .current = { .fd = -1 }, .previous = { .fd = -1 } };
  const char *log;

  g_option_context_set_description (context,
      _("In a log file shared by several processes, only the lines of this\n"
        "one (those starting with its “NAME: ” prefix) are shown; an unnamed\n"
        "process’s lines have no prefix, so all lines are shown."));
  if (!pm_cli_parse (context, &argc, &argv))
    return PM_CLI_EXIT_USAGE;
  if (argc != 2)
    return pm_cli_usage_error (context, _("logs takes one NAME or ID"));
  if (lines < 0)
    return pm_cli_usage_error (context, _("-n must be 0 or more"));
  if (!pm_cli_connect (cli, &error) ||
      (procs = pm_cli_find (cli, argv[1], &error)) == NULL)
    return pm_cli_fail (error);

  p = g_ptr_array_index (procs, 0);
  log = pm_dbus_process_manager_process_get_log (p);
  if (log == NULL || *log == '\0')
    {
      g_printerr (_("elife-pm: %s has no log file: its lines go to the daemon’s standard output\n"),
                  argv[1]);
      return PM_CLI_EXIT_FAILURE;
    }
  f.path = g_strdup (log);
  f.name = g_strdup (pm_dbus_process_manager_process_get_name (p));

  if (!log_file_open (&f.current, f.path, &error))
    {
      g_free (f.path);
      g_free (f.name);
      return pm_cli_fail (error);
    }
  print_tail (&f.current, f.name, (guint) lines);

  if (follow)
    {
      file = g_file_new_for_path (f.path);
      monitor = g_file_monitor_file (file, G_FILE_MONITOR_WATCH_MOVES, NULL, &error);
      if (monitor == NULL)
        {
          log_file_close (&f.current);
          g_free (f.path);
          g_free (f.name);
          return pm_cli_fail (error);
        }
      g_file_monitor_set_rate_limit (monitor, 100);
      g_signal_connect (monitor, "changed", G_CALLBACK (on_changed), &f);
      /* Whatever came between the tail and the watch. */
      check_path (&f);
      pm_cli_run_until_interrupted (cli);
      g_signal_handlers_disconnect_by_data (monitor, &f);
      g_file_monitor_cancel (monitor);
    }

  log_file_close (&f.current);
  log_file_close (&f.previous);
  g_free (f.path);
  g_free (f.name);
  return PM_CLI_EXIT_OK;
}
