/* pm-reaper.c — the daemon's one reaper of child processes.
 *
 * GLib's child watches only reap the pids they are given; as a subreaper the
 * daemon also inherits grandchildren whose parents died. Instead of sharing
 * SIGCHLD with GLib, the daemon never uses GLib child watches: SIGCHLD goes
 * to a signalfd and every child, watched or adopted, is reaped here.
 */
#include "config.h"

#define G_LOG_DOMAIN "pm-reaper"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>

#include "pm-reaper.h"

/* A group that does not empty after SIGKILL within this time has a member we
 * cannot make go (a zombie whose parent left the group and does not reap):
 * it is given up on rather than blocking a stop for ever. */
#define GROUP_GIVE_UP_US (5 * G_USEC_PER_SEC)

/* While a group is waited for, it is also looked at at these intervals
 * (doubling from the first to the last), for members whose exit is not
 * reported to us by SIGCHLD. */
#define GROUP_POLL_FIRST_MS 5
#define GROUP_POLL_LAST_MS  500

typedef struct
{
  PmReaperExitFunc func;
  gpointer         user_data;
} ExitWatch;

typedef struct
{
  pid_t             pgid;
  gint64            kill_at;     /* monotonic µs: SIGKILL from then on */
  PmReaperGroupFunc func;
  gpointer          user_data;
} GroupWatch;

static int         signal_fd = -1;
static guint       signal_source;
static GHashTable *exit_watches;     /* pid → ExitWatch */
static GPtrArray  *group_watches;    /* of GroupWatch */
static guint       group_timer;
static gint64      group_timer_due;  /* monotonic µs */
static guint       group_poll_ms;
static guint       group_idle;
static guint       sweep_timer;

/* The sweep after a SIGCHLD: soon enough that a merged exit is not left a
 * zombie for long, late enough that a storm of exits costs a walk of all
 * children per interval, not per exit. A timer, not an idle source: a loop
 * kept busy (a crash loop restarting every millisecond) never goes idle, and
 * its merged exits would never be reaped. */
#define PM_REAPER_SWEEP_MS 10

static void check_groups (void);

static gboolean
group_is_empty (pid_t pgid)
{
  return kill (-pgid, 0) < 0 && errno == ESRCH;
}

static void
decode_status (const siginfo_t *info,
               int             *exit_code,
               int             *term_signal)
{
  if (info->si_code == CLD_EXITED)
    {
      *exit_code = info->si_status;
      *term_signal = 0;
    }
  else
    {
      *exit_code = -1;
      *term_signal = info->si_status;
    }
}

/* Reaps the exited child @info describes (peeked with WNOWAIT). Its
 * watcher is told first: while the child is a zombie its pid, and so its
 * group id, cannot be reused, so the watcher may signal the group. */
static void
reap_one (siginfo_t *info)
{
  ExitWatch *watch;
  pid_t pid = info->si_pid;

  watch = g_hash_table_lookup (exit_watches, GINT_TO_POINTER (pid));
  if (watch != NULL)
    {
      ExitWatch copy = *watch;
      int exit_code, term_signal;

      decode_status (info, &exit_code, &term_signal);
      g_hash_table_remove (exit_watches, GINT_TO_POINTER (pid));
      copy.func (pid, exit_code, term_signal, copy.user_data);
    }
  else
    g_debug ("Reaped adopted process %d", (int) pid);

  while (waitid (P_PID, pid, info, WEXITED | WNOHANG) < 0 && errno == EINTR)
    ;
}

/* Reaps @pid if it is an exited child: the kernel looks at that one only. */
static void
reap_pid (pid_t pid)
{
  siginfo_t info = { 0 };

  if (pid <= 0)
    return;
  while (waitid (P_PID, pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0)
    if (errno != EINTR)
      return;
  if (info.si_pid == pid)
    reap_one (&info);
}

/* Reaps every exited child. Each waitid (P_ALL) walks the list of all our
 * children, so this runs only when SIGCHLDs may have been merged. */
static void
reap_all (void)
{
  for (;;)
    {
      siginfo_t info = { 0 };

      if (waitid (P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0)
        {
          if (errno == EINTR)
            continue;
          break;          /* ECHILD: no children at all */
        }
      if (info.si_pid == 0)
        break;
      reap_one (&info);
    }
}

static gboolean
on_sweep (gpointer user_data)
{
  sweep_timer = 0;
  reap_all ();
  check_groups ();
  return G_SOURCE_REMOVE;
}

static gboolean
on_sigchld (int          fd,
            GIOCondition condition,
            gpointer     user_data)
{
  struct signalfd_siginfo buf[16];
  gssize n;

  /* Each SIGCHLD names a child that exited: reaped at once, without
   * walking all the others. While one is pending, more exits merge into it;
   * those are found by one sweep PM_REAPER_SWEEP_MS later, so a storm of
   * exits (a StopAll of thousands) costs a walk per interval, not a walk
   * per exit. */
  while ((n = read (fd, buf, sizeof buf)) > 0)
    for (gsize i = 0; i < (gsize) n / sizeof buf[0]; i++)
      reap_pid ((pid_t) buf[i].ssi_pid);
  if (sweep_timer == 0)
    sweep_timer = g_timeout_add (PM_REAPER_SWEEP_MS, on_sweep, NULL);
  check_groups ();
  return G_SOURCE_CONTINUE;
}

static gboolean
on_group_timer (gpointer user_data)
{
  group_timer = 0;
  group_poll_ms = CLAMP (group_poll_ms * 2, GROUP_POLL_FIRST_MS, GROUP_POLL_LAST_MS);
  check_groups ();
  return G_SOURCE_REMOVE;
}

static gboolean
on_group_idle (gpointer user_data)
{
  group_idle = 0;
  check_groups ();
  return G_SOURCE_REMOVE;
}

/* Members of a waited-for group are normally our descendants, and their
 * exits reach us by SIGCHLD; the timer wakes us at the next SIGKILL deadline
 * and, backing off, for members that are not (or not yet) reported. It runs
 * only while a group is waited for, never while idle. */
static void
arm_group_timer (gint64 now)
{
  gint64 due;

  if (group_watches->len == 0)
    {
      g_clear_handle_id (&group_timer, g_source_remove);
      group_poll_ms = 0;
      return;
    }

  group_poll_ms = MAX (group_poll_ms, GROUP_POLL_FIRST_MS);
  due = now + (gint64) group_poll_ms * 1000;
  for (guint i = 0; i < group_watches->len; i++)
    {
      GroupWatch *gw = g_ptr_array_index (group_watches, i);

      if (gw->kill_at > now)
        due = MIN (due, gw->kill_at);
    }
  if (group_timer != 0 && group_timer_due <= due)
    return;

  g_clear_handle_id (&group_timer, g_source_remove);
  group_timer_due = due;
  /* Rounded up to whole ms. Should it still fire a little early (GLib counts
   * from the loop's cached time), the deadline is not yet passed and the
   * timer is armed again for what is left. */
  group_timer = g_timeout_add ((guint) ((due - now + 999) / 1000), on_group_timer, NULL);
}

static void
check_groups (void)
{
  g_autoptr(GArray) done = NULL;
  g_autoptr(GPtrArray) checked = NULL;
  gint64 now;

  if (group_watches == NULL)
    return;

  /* One pass over the groups, callbacks afterwards: with thousands of
   * children stopping at once, a scan per finished group would make a stop
   * cost the square of their number. */
  now = g_get_monotonic_time ();
  done = g_array_new (FALSE, FALSE, sizeof (GroupWatch));
  checked = g_steal_pointer (&group_watches);
  group_watches = g_ptr_array_new_with_free_func (g_free);
  for (guint i = 0; i < checked->len; i++)
    {
      GroupWatch *gw = g_ptr_array_index (checked, i);

      /* The group id cannot have been reused while the group has members;
       * the group is looked at right before any signal. */
      if (!group_is_empty (gw->pgid))
        {
          if (now < gw->kill_at)
            {
              g_ptr_array_add (group_watches, g_steal_pointer (&checked->pdata[i]));
              continue;
            }
          if (now - gw->kill_at < GROUP_GIVE_UP_US)
            {
              kill (-gw->pgid, SIGKILL);
              g_ptr_array_add (group_watches, g_steal_pointer (&checked->pdata[i]));
              continue;
            }
          g_message ("Process group %d did not empty after SIGKILL; giving up on it",
                     (int) gw->pgid);
        }
      g_array_append_val (done, *gw);
    }

  /* The callbacks may add watches: those wait for the next check. */
  for (guint i = 0; i < done->len; i++)
    {
      GroupWatch *gw = &g_array_index (done, GroupWatch, i);

      gw->func (gw->pgid, gw->user_data);
    }

  arm_group_timer (now);
}

gboolean
pm_reaper_init (GError **error)
{
  sigset_t mask;

  g_return_val_if_fail (signal_fd < 0, FALSE);

  sigemptyset (&mask);
  sigaddset (&mask, SIGCHLD);
  if (sigprocmask (SIG_BLOCK, &mask, NULL) < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
                   "sigprocmask: %s", g_strerror (errno));
      return FALSE;
    }

  signal_fd = signalfd (-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
                   "signalfd: %s", g_strerror (errno));
      return FALSE;
    }

  /* Orphaned descendants of our children come to us, not to init: they are
   * reaped here, and a stop can wait for a whole group. */
  if (prctl (PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
    g_debug ("PR_SET_CHILD_SUBREAPER: %s", g_strerror (errno));

  exit_watches = g_hash_table_new_full (NULL, NULL, NULL, g_free);
  group_watches = g_ptr_array_new_with_free_func (g_free);
  signal_source = g_unix_fd_add (signal_fd, G_IO_IN, on_sigchld, NULL);

  /* Children may have exited before we listened. */
  reap_all ();
  return TRUE;
}

void
pm_reaper_shutdown (void)
{
  if (signal_fd < 0)
    return;
  g_clear_handle_id (&signal_source, g_source_remove);
  g_clear_handle_id (&group_timer, g_source_remove);
  g_clear_handle_id (&group_idle, g_source_remove);
  g_clear_handle_id (&sweep_timer, g_source_remove);
  g_clear_pointer (&exit_watches, g_hash_table_unref);
  g_clear_pointer (&group_watches, g_ptr_array_unref);
  close (signal_fd);
  signal_fd = -1;
}

void
pm_reaper_watch (pid_t            pid,
                 PmReaperExitFunc func,
                 gpointer         user_data)
{
  ExitWatch *watch = g_new (ExitWatch, 1);

  g_return_if_fail (exit_watches != NULL);

  watch->func = func;
  watch->user_data = user_data;
  g_hash_table_replace (exit_watches, GINT_TO_POINTER (pid), watch);
}

void
pm_reaper_watch_group (pid_t             pgid,
                       gint64            kill_at,
                       PmReaperGroupFunc func,
                       gpointer          user_data)
{
  GroupWatch *gw;

  g_return_if_fail (group_watches != NULL);
  gw = g_new (GroupWatch, 1);
  gw->pgid = pgid;
  gw->kill_at = kill_at;
  gw->func = func;
  gw->user_data = user_data;
  g_ptr_array_add (group_watches, gw);

  /* Report from the main loop, never from inside the caller. */
  if (group_idle == 0)
    group_idle = g_idle_add (on_group_idle, NULL);
}

