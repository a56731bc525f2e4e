/* pm-state.c — no orphans when the daemon dies without stopping its children.
 *
 * Records are text lines: "+PGID STARTTIME" when a group starts, "-PGID"
 * when it is gone. The daemon appends them to its state file and writes them
 * to the watchdog's pipe; the file is compacted when dead records dominate.
 * A state file starts with "daemon PID STARTTIME", so that a daemon can tell
 * the files of live instances (a replaced daemon still stopping its
 * children: left alone) from those of dead ones (their groups are killed).
 */
#include "config.h"

#define G_LOG_DOMAIN "pm-state"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "pm-procstat.h"
#include "pm-state.h"

static char       *state_dir;
static char       *state_key;
static char       *state_path;
static int         state_fd = -1;
static guint       state_lines;     /* records in the file */
static GHashTable *live;            /* pgid → start time (guint64*) */
static int         watchdog_fd = -1;
static pid_t       watchdog_pid;
static GString    *removed;         /* "-PGID" records not written yet */
static guint       removed_idle;

guint64
pm_state_start_time (pid_t pid)
{
  char path[64];
  char buf[1024];
  const char *p;

  g_snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  if (pm_procstat_read_file (path, buf, sizeof buf) < 0)
    return 0;

  /* The command name may hold spaces and parentheses: fields are counted
   * from the last ')'. starttime is field 22; field 3 follows the ')'. */
  p = strrchr (buf, ')');
  if (p == NULL)
    return 0;
  p++;
  for (int field = 3; field < 22 && p != NULL; field++)
    p = strchr (p + 1, ' ');
  if (p == NULL)
    return 0;
  return g_ascii_strtoull (p + 1, NULL, 10);
}

static pid_t
process_group_of (const char *pid_str)
{
  char path[64];
  char buf[1024];
  const char *p;

  g_snprintf (path, sizeof path, "/proc/%s/stat", pid_str);
  if (pm_procstat_read_file (path, buf, sizeof buf) < 0)
    return 0;
  p = strrchr (buf, ')');
  /* ") S PPID PGRP" */
  if (p == NULL || (p = strchr (p + 1, ' ')) == NULL ||
      (p = strchr (p + 1, ' ')) == NULL || (p = strchr (p + 1, ' ')) == NULL)
    return 0;
  return (pid_t) atoi (p + 1);
}

guint
pm_state_kill_group (pid_t   pgid,
                     guint64 start_time)
{
  guint64 leader_start = pm_state_start_time (pgid);
  g_autoptr(GDir) proc = NULL;
  const char *name;
  guint killed = 0;

  if (pgid <= 1)
    return 0;

  if (leader_start != 0)
    {
      /* The leader lives: it is ours only if it is the same process. */
      if (leader_start != start_time)
        return 0;
      if (kill (-pgid, SIGKILL) == 0)
        killed++;
      return killed;
    }

  /* The leader is gone but members may remain. A group id cannot be reused
   * while the group has members, and every member of ours was started
   * after its leader: kill exactly those. */
  proc = g_dir_open ("/proc", 0, NULL);
  if (proc == NULL)
    return 0;
  while ((name = g_dir_read_name (proc)) != NULL)
    {
      pid_t pid;

      if (!g_ascii_isdigit (*name))
        continue;
      if (process_group_of (name) != pgid)
        continue;
      pid = (pid_t) atoi (name);
      if (pm_state_start_time (pid) < start_time)
        continue;
      if (kill (pid, SIGKILL) == 0)
        killed++;
    }
  return killed;
}

/* ---- the daemon side --------------------------------------------------- */

static void
write_all (int         fd,
           const char *buf,
           gsize       len)
{
  while (len > 0)
    {
      gssize n = write (fd, buf, len);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return;
      buf += n;
      len -= n;
    }
}

static void
record (const char *line)
{
  gsize len = strlen (line);

  if (watchdog_fd >= 0)
    write_all (watchdog_fd, line, len);
  if (state_fd >= 0)
    {
      write_all (state_fd, line, len);
      state_lines++;
    }
}

static GString *
snapshot (void)
{
  GString *s = g_string_new (NULL);
  GHashTableIter iter;
  gpointer key, value;

  g_string_append_printf (s, "daemon %d %" G_GUINT64_FORMAT "\n",
                          (int) getpid (), pm_state_start_time (getpid ()));
  g_hash_table_iter_init (&iter, live);
  while (g_hash_table_iter_next (&iter, &key, &value))
    g_string_append_printf (s, "+%d %" G_GUINT64_FORMAT "\n",
                            GPOINTER_TO_INT (key), *(guint64 *) value);
  return s;
}

/* Rewrites the file with only the live records. */
static void
compact (void)
{
  g_autoptr(GString) s = snapshot ();
  g_autoptr(GError) error = NULL;

  if (!g_file_set_contents (state_path, s->str, s->len, &error))
    {
      g_message ("Cannot write the state file: %s", error->message);
      return;
    }
  if (state_fd >= 0)
    close (state_fd);
  state_fd = open (state_path, O_WRONLY | O_APPEND | O_CLOEXEC);
  state_lines = g_hash_table_size (live) + 1;
}

void
pm_state_init (const char *dir,
               const char *key)
{
  g_free (state_dir);
  g_free (state_key);
  state_dir = g_strdup (dir);
  state_key = g_strdup (key);
  if (live == NULL)
    live = g_hash_table_new_full (NULL, NULL, NULL, g_free);
}

gboolean
pm_state_start_watchdog (const char *self_exe,
                         GError    **error)
{
  const char *argv[] = { self_exe, "--watchdog", NULL };
  int fds[2];
  int target = 3;
  GPid pid;

  if (pipe2 (fds, O_CLOEXEC) < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
                   "pipe: %s", g_strerror (errno));
      return FALSE;
    }

  /* No child setup: the watchdog must outlive us, so no PDEATHSIG; and it
   * holds none of our output, so that whoever reads it sees our end. */
  if (!g_spawn_async_with_pipes_and_fds (NULL, argv, NULL,
                                         G_SPAWN_DO_NOT_REAP_CHILD |
                                         G_SPAWN_STDOUT_TO_DEV_NULL,
                                         NULL, NULL,
                                         -1, -1, -1,
                                         &fds[0], &target, 1,
                                         &pid, NULL, NULL, NULL, error))
    {
      close (fds[0]);
      close (fds[1]);
      return FALSE;
    }
  close (fds[0]);
  watchdog_fd = fds[1];
  watchdog_pid = pid;
  g_debug ("Watchdog started: pid %d", (int) pid);
  return TRUE;
}

static gboolean
instance_alive (const char *contents)
{
  int pid = 0;
  guint64 start = 0;

  if (sscanf (contents, "daemon %d %" G_GUINT64_FORMAT, &pid, &start) != 2)
    return FALSE;
  if (pid == getpid ())
    return FALSE;
  return pid > 1 && pm_state_start_time (pid) == start;
}

/* Kills the groups a dead instance's file still records. */
static void
reap_file (const char *path,
           const char *contents)
{
  g_autoptr(GHashTable) groups = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  g_auto(GStrv) lines = g_strsplit (contents, "\n", -1);
  GHashTableIter iter;
  gpointer key, value;

  for (char **l = lines; *l; l++)
    {
      int pgid;
      guint64 start;

      if (sscanf (*l, "+%d %" G_GUINT64_FORMAT, &pgid, &start) == 2)
        g_hash_table_replace (groups, GINT_TO_POINTER (pgid), g_memdup2 (&start, sizeof start));
      else if (sscanf (*l, "-%d", &pgid) == 1)
        g_hash_table_remove (groups, GINT_TO_POINTER (pgid));
    }

  g_hash_table_iter_init (&iter, groups);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      guint n = pm_state_kill_group (GPOINTER_TO_INT (key), *(guint64 *) value);

      if (n > 0)
        g_message ("Killed %u leftover processes of group %d (from %s)",
                   n, GPOINTER_TO_INT (key), path);
    }
  g_unlink (path);
}

void
pm_state_claim (void)
{
  g_autoptr(GDir) dir = NULL;
  g_autofree char *prefix = NULL;
  const char *name;

  g_return_if_fail (state_dir != NULL);

  if (g_mkdir_with_parents (state_dir, 0700) < 0)
    {
      g_message ("Cannot create %s: %s", state_dir, g_strerror (errno));
      return;
    }

  prefix = g_strconcat (state_key, ".", NULL);
  dir = g_dir_open (state_dir, 0, NULL);
  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = NULL;
      g_autofree char *contents = NULL;

      if (!g_str_has_prefix (name, prefix) || !g_str_has_suffix (name, ".state"))
        continue;
      path = g_build_filename (state_dir, name, NULL);
      if (!g_file_get_contents (path, &contents, NULL, NULL))
        continue;
      if (instance_alive (contents))
        continue;
      reap_file (path, contents);
    }

  g_free (state_path);
  state_path = g_strdup_printf ("%s/%s.%d.state", state_dir, state_key, (int) getpid ());
  compact ();
}

/* Writes the removals held back: one write to the file and one to the
 * watchdog (one wake-up) for a whole burst of exits, a StopAll of 10,000. */
static void
flush_removed (void)
{
  g_clear_handle_id (&removed_idle, g_source_remove);
  if (removed == NULL || removed->len == 0)
    return;
  if (watchdog_fd >= 0)
    write_all (watchdog_fd, removed->str, removed->len);
  if (state_fd >= 0)
    write_all (state_fd, removed->str, removed->len);
  g_string_truncate (removed, 0);
  if (state_fd >= 0 && state_lines > 64 + 2 * g_hash_table_size (live))
    compact ();
}

static gboolean
on_removed_idle (gpointer user_data)
{
  removed_idle = 0;
  flush_removed ();
  return G_SOURCE_REMOVE;
}

void
pm_state_add (pid_t   pgid,
              guint64 start_time)
{
  guint64 start;
  char line[64];

  if (live == NULL)
    return;
  start = start_time != 0 ? start_time : pm_state_start_time (pgid);
  /* In order: the group id may be one just removed, reused. */
  flush_removed ();
  g_hash_table_replace (live, GINT_TO_POINTER (pgid), g_memdup2 (&start, sizeof start));
  g_snprintf (line, sizeof line, "+%d %" G_GUINT64_FORMAT "\n", (int) pgid, start);
  record (line);
}

void
pm_state_remove (pid_t pgid)
{
  char line[32];

  if (live == NULL || !g_hash_table_remove (live, GINT_TO_POINTER (pgid)))
    return;
  /* A group that is gone need not be forgotten at once: a late record only
   * makes the watchdog find it gone (or its leader's start time changed).
   * New groups are recorded at once. */
  g_snprintf (line, sizeof line, "-%d\n", (int) pgid);
  if (removed == NULL)
    removed = g_string_new (NULL);
  g_string_append (removed, line);
  state_lines++;
  if (removed_idle == 0)
    removed_idle = g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, on_removed_idle, NULL, NULL);
}

void
pm_state_shutdown (void)
{
  flush_removed ();
  if (removed != NULL)
    g_string_free (g_steal_pointer (&removed), TRUE);
  if (state_fd >= 0)
    close (state_fd);
  state_fd = -1;
  /* Only a file that records nothing may go: children that could not be
   * stopped are left for the next daemon to find. */
  if (state_path != NULL && live != NULL && g_hash_table_size (live) == 0)
    g_unlink (state_path);
  if (watchdog_fd >= 0)
    close (watchdog_fd);
  watchdog_fd = -1;
  g_clear_pointer (&live, g_hash_table_unref);
  g_clear_pointer (&state_path, g_free);
  g_clear_pointer (&state_dir, g_free);
  g_clear_pointer (&state_key, g_free);
}

/* ---- the watchdog -------------------------------------------------------- */

int
pm_state_watchdog_main (int fd)
{
  g_autoptr(GHashTable) groups = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  g_autoptr(GString) pending = g_string_new (NULL);
  GHashTableIter iter;
  gpointer key, value;
  char buf[4096];

  /* The daemon decides when children stop; a Ctrl-C meant for it, or a
   * SIGTERM to its group, must not take the watchdog away first. */
  signal (SIGINT, SIG_IGN);
  signal (SIGTERM, SIG_IGN);
  signal (SIGHUP, SIG_IGN);
  setsid ();

  for (;;)
    {
      gssize n = read (fd, buf, sizeof buf);
      char *nl;

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      g_string_append_len (pending, buf, n);
      while ((nl = memchr (pending->str, '\n', pending->len)) != NULL)
        {
          int pgid;
          guint64 start;

          *nl = '\0';
          if (sscanf (pending->str, "+%d %" G_GUINT64_FORMAT, &pgid, &start) == 2)
            g_hash_table_replace (groups, GINT_TO_POINTER (pgid), g_memdup2 (&start, sizeof start));
          else if (sscanf (pending->str, "-%d", &pgid) == 1)
            g_hash_table_remove (groups, GINT_TO_POINTER (pgid));
          g_string_erase (pending, 0, nl - pending->str + 1);
        }
    }

  /* The daemon is gone. Its direct children die by PDEATHSIG; their
   * groups go now. */
  g_hash_table_iter_init (&iter, groups);
  while (g_hash_table_iter_next (&iter, &key, &value))
    pm_state_kill_group (GPOINTER_TO_INT (key), *(guint64 *) value);
  return 0;
}
