/* pm-process.c — PmProcess: one supervised program.
 *
 * Life of a child: pm_process_spawn() → running → (exit seen by the reaper;
 * the rest of its group gets what is left of the stop protocol: SIGTERM and
 * stopTimeout ms, or the rest of the SIGTERM phase, then SIGKILL) → the group
 * empties → "gone". Between exit and gone nothing new is spawned, so a
 * successor never finds the old group still holding its ports.
 *
 * An exit nobody asked for goes through the restart policy and the backoff
 * schedule (state backoff, a one-shot timer); an asked-for exit completes
 * the stop waiters, who decide what follows (forget, or spawn again).
 *
 * Readiness: a child is "starting" from its spawn until it says it is ready
 * (sd_notify, node IPC message or an output line, by the ready option),
 * then "running". One that exits first, or does not make it within
 * startTimeout (the stop protocol then runs), fails its ready waiters once
 * its group is gone, and counts as a crash. Once ready, a watchdog (one
 * GSource per process whose ready time is the deadline; a ping only stores
 * its time, and the source moves its own deadline when it fires early)
 * SIGABRTs a child that stops pinging.
 */
#include "config.h"

#define G_LOG_DOMAIN "pm-process"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gi18n.h>

#include "pm-backoff.h"
#include "pm-error.h"
#include "pm-log.h"
#include "pm-names.h"
#include "pm-notify.h"
#include "pm-process.h"
#include "pm-ready.h"
#include "pm-reaper.h"
#include "pm-spawn.h"
#include "pm-state.h"

/* What the "PM2 for Electron" module sends its node children on stop. */
#define STOPPING_MESSAGE "{\"stopping\":true}\n"

struct _PmProcess
{
  PmDBusProcessManagerProcessSkeleton parent_instance;

  guint                 id;
  char                 *object_path;
  PmOptions            *opts;
  PmScript             *program;     /* script and cwd, resolved */
  guint                 uid;         /* the caller who started it: its owner */
  PmCreds              *creds;       /* run as: the owner's, or NULL for the daemon's own */
  PmDBusProcessManager *signals;     /* not owned: the manager outlives us */
  PmLogClient          *log;

  PmProcessState        state;
  pid_t                 pid;         /* 0 when no child runs */
  pid_t                 pgid;        /* group being waited for, or 0 */
  gboolean              gone;        /* no child and no group left */
  gint64                started_at;  /* monotonic µs of the last spawn */
  int                   ipc_fd;
  guint                 ipc_source;

  /* Stop protocol */
  gboolean              stop_requested;
  guint                 stop_timer;
  guint                 stop_phase;  /* 1: waiting; 2: SIGTERM sent; 3: SIGKILL sent */
  gint64                stop_deadline; /* phase 2: monotonic µs when SIGKILL is due */
  GPtrArray            *waiters;     /* of GTask */

  /* Automatic restarts */
  PmBackoff             backoff;
  guint                 restart_timer;
  gboolean              restart_due; /* timer fired while the group was not gone */
  gboolean              removing;

  /* Readiness */
  gboolean              announced;   /* exported: Started/Ready may be emitted */
  gboolean              initial;     /* Start's child, Start not answered yet */
  gboolean              ready;       /* the current child is ready */
  gint64                ready_at;    /* monotonic µs: restartOk counts from here */
  guint                 start_timer;
  gboolean              start_timed_out;
  GError               *start_error; /* why the last child never got ready */
  GPtrArray            *ready_waiters; /* of GTask */
  pid_t                 notify_pgid; /* watched on the notify socket, or 0 */
  char                 *ipc_line;    /* message mode: the IPC line being read */
  gsize                 ipc_len;
  gboolean              ipc_skip;    /* the line is too long: dropped */

  /* Watchdog */
  GSource              *watchdog;    /* ready time: the deadline; NULL when off */
  gint64                last_ping;   /* monotonic µs */
  gboolean              watchdog_fired;
  /* What List and GetManagedObjects send for this process, built when first
   * asked and dropped on any property change: with 10,000 processes a query
   * would otherwise rebuild 130,000 values from their GValues. */
};

G_DEFINE_FINAL_TYPE (PmProcess, pm_process, PM_DBUS_TYPE_PROCESS_MANAGER_PROCESS_SKELETON)

static void process_gone (PmProcess *self);
static void become_ready (PmProcess *self);

const char *
pm_process_state_to_string (PmProcessState state)
{
  static const char * const names[] = { "running", "stopping", "backoff", "exited", "starting" };

  g_return_val_if_fail (state < G_N_ELEMENTS (names), "exited");
  return names[state];
}

static PmDBusProcessManagerProcess *
iface (PmProcess *self)
{
  return PM_DBUS_PROCESS_MANAGER_PROCESS (self);
}

static void
set_state (PmProcess     *self,
           PmProcessState state)
{
  self->state = state;
  pm_dbus_process_manager_process_set_state (iface (self),
                                             pm_process_state_to_string (state));
}

static void
set_pid (PmProcess *self,
         pid_t      pid)
{
  self->pid = pid;
  pm_dbus_process_manager_process_set_pid (iface (self), (guint) pid);
}

static void
on_lost_lines (guint64  lost,
               gpointer user_data)
{
  pm_dbus_process_manager_process_set_lost_lines (iface (user_data), lost);
}

static void
on_log_rotated (guint64  rotations,
                gpointer user_data)
{
  pm_dbus_process_manager_process_set_log_rotations (iface (user_data), rotations);
}

/* ---- the node IPC channel -------------------------------------------- */

static void
on_ping (PmProcess *self)
{
  /* All a ping costs: the watchdog looks at it when it fires. */
  self->last_ping = g_get_monotonic_time ();
}

static void
on_says (PmProcess *self,
         guint      says)
{
  if (says & PM_READY_SAYS_PING)
    on_ping (self);
  if (says & PM_READY_SAYS_READY)
    become_ready (self);
}

/* Message mode: cuts what the child sent into lines (node's JSON
 * serialization is one message a line) and reads each. */
static void
ipc_feed (PmProcess  *self,
          const char *buf,
          gsize       len)
{
  const char *end = buf + len;

  while (buf < end)
    {
      const char *nl = memchr (buf, '\n', end - buf);
      gsize chunk = (nl ? nl : end) - buf;

      if (!self->ipc_skip)
        {
          if (self->ipc_len + chunk > PM_READY_MESSAGE_MAX)
            self->ipc_skip = TRUE;
          else
            {
              memcpy (self->ipc_line + self->ipc_len, buf, chunk);
              self->ipc_len += chunk;
            }
        }
      if (nl == NULL)
        break;
      if (!self->ipc_skip)
        on_says (self, pm_ready_parse_message (self->ipc_line, self->ipc_len));
      self->ipc_len = 0;
      self->ipc_skip = FALSE;
      buf = nl + 1;
    }
}

static gboolean
on_ipc_readable (int          fd,
                 GIOCondition condition,
                 gpointer     user_data)
{
  PmProcess *self = user_data;
  char buf[4096];
  gssize n;

  /* What a child sends is read (and dropped unless it is a readiness
   * message), so that a chatty child never blocks on a full channel. */
  while ((n = recv (fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
    if (self->ipc_line != NULL)
      ipc_feed (self, buf, n);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
    {
      self->ipc_source = 0;
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
ipc_close (PmProcess *self)
{
  g_clear_handle_id (&self->ipc_source, g_source_remove);
  if (self->ipc_fd >= 0)
    close (self->ipc_fd);
  self->ipc_fd = -1;
}

/* ---- the stop protocol ------------------------------------------------ */

static gboolean
on_stop_timer (gpointer user_data)
{
  PmProcess *self = user_data;

  if (self->pid == 0)
    {
      self->stop_timer = 0;
      return G_SOURCE_REMOVE;
    }

  if (self->stop_phase == 1)
    {
      g_debug ("Process %u (pid %d): SIGTERM to its group", self->id, (int) self->pid);
      kill (-self->pid, SIGTERM);
      self->stop_phase = 2;
      self->stop_deadline = g_get_monotonic_time () + (gint64) self->opts->stop_timeout * 1000;
      return G_SOURCE_CONTINUE;   /* same interval again */
    }

  g_debug ("Process %u (pid %d): SIGKILL to its group", self->id, (int) self->pid);
  kill (-self->pid, SIGKILL);
  self->stop_phase = 3;
  self->stop_timer = 0;
  return G_SOURCE_REMOVE;
}

static void
begin_stop (PmProcess *self)
{
  const char *name = self->opts->name;

  if (self->pid == 0 || self->stop_phase != 0)
    return;

  set_state (self, PM_PROCESS_STOPPING);
  self->stop_phase = 1;

  pm_dbus_process_manager_emit_stopping (self->signals, self->id, name, self->pid);
  if (self->ipc_fd >= 0)
    send (self->ipc_fd, STOPPING_MESSAGE, sizeof STOPPING_MESSAGE - 1,
          MSG_DONTWAIT | MSG_NOSIGNAL);

  /* Even a child without a channel may be shutting down on the Stopping
   * signal: SIGTERM waits for stopTimeout whatever the child is. */
  self->stop_timer = g_timeout_add (self->opts->stop_timeout, on_stop_timer, self);
}

static void
complete_waiters (PmProcess *self)
{
  g_autoptr(GPtrArray) waiters = g_steal_pointer (&self->waiters);

  self->waiters = g_ptr_array_new_with_free_func (g_object_unref);
  for (guint i = 0; i < waiters->len; i++)
    g_task_return_boolean (g_ptr_array_index (waiters, i), TRUE);
}

/* ---- readiness and the watchdog --------------------------------------- */

static GPtrArray *
steal_ready_waiters (PmProcess *self)
{
  GPtrArray *waiters = g_steal_pointer (&self->ready_waiters);

  self->ready_waiters = g_ptr_array_new_with_free_func (g_object_unref);
  return waiters;
}

static void
return_ready_waiters (GPtrArray    *waiters,
                      const GError *error)
{
  for (guint i = 0; i < waiters->len; i++)
    {
      GTask *task = g_ptr_array_index (waiters, i);

      if (error != NULL)
        g_task_return_error (task, g_error_copy (error));
      else
        g_task_return_boolean (task, TRUE);
    }
}

static void
complete_ready_waiters (PmProcess    *self,
                        const GError *error)
{
  g_autoptr(GPtrArray) waiters = steal_ready_waiters (self);

  return_ready_waiters (waiters, error);
}

static gboolean
watchdog_dispatch (GSource    *source,
                   GSourceFunc callback,
                   gpointer    user_data)
{
  return callback (user_data);
}

/* A source with nothing but a ready time: moving the deadline is one store. */
static GSourceFuncs watchdog_funcs = { NULL, NULL, watchdog_dispatch, NULL, NULL, NULL };

static void
watchdog_disarm (PmProcess *self)
{
  if (self->watchdog == NULL)
    return;
  g_source_destroy (self->watchdog);
  g_clear_pointer (&self->watchdog, g_source_unref);
}

static void
watchdog_expired (PmProcess *self)
{
  watchdog_disarm (self);
  if (self->pid == 0 || self->stop_phase != 0)
    return;

  g_message ("Process %u (pid %d): no watchdog ping for %u ms: SIGABRT to its group",
             self->id, (int) self->pid, self->opts->watchdog_timeout);
  self->watchdog_fired = TRUE;
  set_state (self, PM_PROCESS_STOPPING);
  pm_dbus_process_manager_emit_stopping (self->signals, self->id, self->opts->name, self->pid);
  kill (-self->pid, SIGABRT);
  /* Then SIGKILL, as in the last phase of the stop protocol (the rest of
   * its group keeps that phase's time too). */
  self->stop_phase = 2;
  self->stop_deadline = g_get_monotonic_time () + (gint64) self->opts->stop_timeout * 1000;
  self->stop_timer = g_timeout_add (self->opts->stop_timeout, on_stop_timer, self);
}

static gboolean
on_watchdog (gpointer user_data)
{
  PmProcess *self = user_data;
  gint64 deadline = self->last_ping + (gint64) self->opts->watchdog_timeout * 1000;

  if (g_get_monotonic_time () < deadline)
    {
      /* Pinged since the source was armed: wait for the new deadline. */
      g_source_set_ready_time (self->watchdog, deadline);
      return G_SOURCE_CONTINUE;
    }
  watchdog_expired (self);
  return G_SOURCE_REMOVE;
}

static void
watchdog_arm (PmProcess *self)
{
  self->watchdog = g_source_new (&watchdog_funcs, sizeof (GSource));
  g_source_set_name (self->watchdog, "[elife-pm] watchdog");
  g_source_set_callback (self->watchdog, on_watchdog, self, NULL);
  g_source_set_ready_time (self->watchdog,
                           self->last_ping + (gint64) self->opts->watchdog_timeout * 1000);
  g_source_attach (self->watchdog, NULL);
}

static void
become_ready (PmProcess *self)
{
  /* Only a live child that is not being stopped gets ready: a message read
   * after its exit, or during the stop after a timeout, is too late. */
  if (self->pid == 0 || self->ready || self->stop_phase != 0)
    return;

  self->ready = TRUE;
  self->initial = FALSE;
  self->ready_at = g_get_monotonic_time ();
  g_clear_handle_id (&self->start_timer, g_source_remove);
  /* From now on the log path is as fast as without readiness. */
  if (self->opts->ready == PM_READY_LINE)
    pm_log_client_set_line_func (self->log, NULL, NULL);

  set_state (self, PM_PROCESS_RUNNING);
  if (self->announced)
    pm_dbus_process_manager_emit_ready (self->signals, self->id, self->opts->name,
                                        (guint) self->pid);
  g_debug ("Process %u (pid %d) is ready", self->id, (int) self->pid);

  if (self->opts->watchdog_timeout != 0)
    {
      self->last_ping = self->ready_at;
      watchdog_arm (self);
    }
  complete_ready_waiters (self, NULL);
}

static gboolean
on_start_timeout (gpointer user_data)
{
  PmProcess *self = user_data;

  self->start_timer = 0;
  if (self->pid == 0 || self->ready || self->stop_phase != 0)
    return G_SOURCE_REMOVE;

  g_debug ("Process %u (pid %d) not ready within %u ms: stopping it",
           self->id, (int) self->pid, self->opts->start_timeout);
  self->start_timed_out = TRUE;
  begin_stop (self);
  return G_SOURCE_REMOVE;
}

static void
on_notify (guint       says,
           const char *status,
           gsize       status_len,
           gpointer    user_data)
{
  PmProcess *self = user_data;

  if (says & PM_READY_SAYS_STATUS)
    {
      /* A D-Bus string must be UTF-8; the child's bytes may not be. */
      g_autofree char *text = g_utf8_make_valid (status, status_len);

      pm_dbus_process_manager_process_set_status_text (iface (self), text);
    }
  on_says (self, says);
}

static void
on_output_line (const guint8 *line,
                gsize         len,
                gpointer      user_data)
{
  PmProcess *self = user_data;

  if (pm_ready_line_matches (self->opts->ready_regex, line, len))
    become_ready (self);
}

/* Why a child that exited before it was ready did not make it. */
static GError *
start_error_new (PmProcess *self,
                 int        exit_code,
                 int        term_signal)
{
  if (self->stop_requested)
    return g_error_new (PM_ERROR, PM_ERROR_START_FAILED,
                        _("Process %u was stopped before it was ready"), self->id);
  if (self->start_timed_out)
    return g_error_new (PM_ERROR, PM_ERROR_START_TIMEOUT,
                        _("Process %u was not ready within %u ms (startTimeout) and was stopped"),
                        self->id, self->opts->start_timeout);
  if (term_signal != 0)
    return g_error_new (PM_ERROR, PM_ERROR_START_FAILED,
                        _("Process %u was killed by signal %d (%s) before it was ready"),
                        self->id, term_signal, g_strsignal (term_signal));
  return g_error_new (PM_ERROR, PM_ERROR_START_FAILED,
                      _("Process %u exited with code %d before it was ready"),
                      self->id, exit_code);
}

/* ---- exits, groups and restarts -------------------------------------- */

static void do_auto_restart (PmProcess *self);

static gboolean
on_restart_timer (gpointer user_data)
{
  PmProcess *self = user_data;

  self->restart_timer = 0;
  if (self->gone)
    do_auto_restart (self);
  else
    self->restart_due = TRUE;   /* spawned once the old group is gone */
  return G_SOURCE_REMOVE;
}

/* Schedules an automatic restart; FALSE when none is due. */
static gboolean
schedule_restart (PmProcess *self,
                  guint64    uptime_ms)
{
  guint32 delay;

  if (!pm_backoff_next (&self->backoff,
                        (const guint32 *) self->opts->restart_at->data,
                        self->opts->restart_at->len,
                        self->opts->restart_ok, uptime_ms, &delay))
    return FALSE;

  set_state (self, PM_PROCESS_BACKOFF);
  pm_dbus_process_manager_process_set_next_restart (iface (self),
                                                    g_get_real_time () + (gint64) delay * 1000);
  self->restart_timer = g_timeout_add_full (G_PRIORITY_HIGH, delay, on_restart_timer,
                                            self, NULL);
  g_debug ("Process %u: restart in %u ms", self->id, delay);
  return TRUE;
}

static void
do_auto_restart (PmProcess *self)
{
  g_autoptr(GError) error = NULL;
  PmDBusProcessManagerProcess *i = iface (self);

  self->restart_due = FALSE;
  pm_dbus_process_manager_process_set_next_restart (i, 0);
  pm_dbus_process_manager_process_set_restarts (i, pm_dbus_process_manager_process_get_restarts (i) + 1);

  if (pm_process_spawn (self, &error))
    return;

  /* Nothing ran: no Started, no Exited; the schedule moves on. */
  g_message ("Process %u: restart failed: %s", self->id, error->message);
  if (!schedule_restart (self, 0))
    set_state (self, PM_PROCESS_EXITED);
}

static void
on_group_gone (pid_t    pgid,
               gpointer user_data)
{
  PmProcess *self = user_data;

  process_gone (self);
  g_object_unref (self);
}

/* Gives what is left of the group of @pid, which has just exited (and is
 * still a zombie, so its group id is ours), the time the stop protocol still
 * allows; returns when the rest is to be SIGKILLed. */
static gint64
start_group_grace (PmProcess *self,
                   pid_t      pid,
                   gint64     now)
{
  switch (self->stop_phase)
    {
    case 2:
      /* The group has had its SIGTERM: SIGKILL when that phase ends. */
      return self->stop_deadline;
    case 3:
      return now;
    default:
      /* An exit of its own, or in phase 1 of a stop: a whole SIGTERM
       * phase for the others. */
      g_debug ("Process %u (pid %d): SIGTERM to the rest of its group", self->id, (int) pid);
      kill (-pid, SIGTERM);
      return now + (gint64) self->opts->stop_timeout * 1000;
    }
}

static void
on_child_exit (pid_t    pid,
               int      exit_code,
               int      term_signal,
               gpointer user_data)
{
  PmProcess *self = user_data;
  PmDBusProcessManagerProcess *i = iface (self);
  gboolean was_ready = self->ready;
  gint64 now = g_get_monotonic_time ();
  /* restartOk counts how long it served, not how long it took to start. */
  guint64 uptime_ms = was_ready ? (now - self->ready_at) / 1000 : 0;
  gint64 kill_at;

  g_debug ("Process %u (pid %d) exited: code %d, signal %d",
           self->id, (int) pid, exit_code, term_signal);

  kill_at = start_group_grace (self, pid, now);

  g_clear_handle_id (&self->stop_timer, g_source_remove);
  g_clear_handle_id (&self->start_timer, g_source_remove);
  watchdog_disarm (self);
  /* What is still in the pipes cannot make an exited child ready. */
  pm_log_client_set_line_func (self->log, NULL, NULL);
  self->ready = FALSE;
  g_clear_error (&self->start_error);
  if (!was_ready)
    self->start_error = start_error_new (self, exit_code, term_signal);
  self->stop_phase = 0;
  set_pid (self, 0);
  pm_dbus_process_manager_process_set_exit_code (i, exit_code);
  pm_dbus_process_manager_process_set_exit_signal (i, term_signal);
  /* What it wrote is in its log before anyone hears that it exited, even
   * while the rest of its group goes on writing to the same pipes. */
  pm_log_client_flush (self->log);
  pm_dbus_process_manager_emit_exited (self->signals, self->id, self->opts->name,
                                       (guint) pid, exit_code, term_signal);

  /* The delay of a restart counts from now; the spawn itself waits for the
   * rest of the group to be gone, whichever comes later. */
  if (!self->stop_requested && !self->removing)
    {
      /* Not getting ready and hanging are failures whatever the exit
       * status; a first start that fails is reported, not retried. */
      gboolean crashed = !was_ready || self->watchdog_fired;
      gboolean wants = crashed
        ? self->opts->restart != PM_RESTART_NEVER
        : pm_restart_policy_wants (self->opts->restart, exit_code, term_signal);

      if (self->initial || !wants || !schedule_restart (self, uptime_ms))
        set_state (self, PM_PROCESS_EXITED);
    }

  /* The reaper's reference passes on to the group watch. */
  self->pgid = pid;
  pm_reaper_watch_group (pid, kill_at, on_group_gone, self);
}

static void
process_gone (PmProcess *self)
{
  g_autoptr(GError) start_error = g_steal_pointer (&self->start_error);
  g_autoptr(GPtrArray) failed = start_error ? steal_ready_waiters (self) : NULL;

  pm_state_remove (self->pgid);
  self->pgid = 0;
  self->gone = TRUE;
  ipc_close (self);
  g_clear_pointer (&self->ipc_line, g_free);
  if (self->notify_pgid != 0)
    pm_notify_unwatch (self->notify_pgid);
  self->notify_pgid = 0;
  /* Everything the child wrote is logged before anyone hears it is gone. */
  pm_log_client_detach (self->log);


  if (self->stop_requested)
    {
      self->stop_requested = FALSE;
      set_state (self, PM_PROCESS_EXITED);
      complete_waiters (self);
    }
  else if (self->restart_due)
    do_auto_restart (self);

  /* Nothing of a child that never got ready runs when its waiters hear,
   * and a Stop that made it fail has forgotten it by then. Waiters for a
   * child spawned meanwhile (by a Restart) are not these. */
  if (failed != NULL)
    return_ready_waiters (failed, start_error);
}

gboolean
pm_process_spawn (PmProcess *self,
                  GError   **error)
{
  PmSpawned child;
  PmReadyMode mode = self->opts->ready;

  g_return_val_if_fail (self->gone, FALSE);

  if (mode == PM_READY_NOTIFY && pm_notify_open (error) == NULL)
    return FALSE;
  if (!pm_spawn (self->opts, self->creds, self->program, self->id, &child, error))
    return FALSE;

  self->gone = FALSE;
  self->started_at = g_get_monotonic_time ();
  self->ready = FALSE;
  self->start_timed_out = FALSE;
  self->watchdog_fired = FALSE;
  g_clear_error (&self->start_error);
  pm_dbus_process_manager_process_set_status_text (iface (self), "");

  self->ipc_fd = child.ipc_fd;
  if (self->ipc_fd >= 0)
    {
      if (mode == PM_READY_MESSAGE)
        {
          self->ipc_line = g_malloc (PM_READY_MESSAGE_MAX);
          self->ipc_len = 0;
          self->ipc_skip = FALSE;
        }
      self->ipc_source = g_unix_fd_add (self->ipc_fd, G_IO_IN, on_ipc_readable, self);
    }
  if (mode == PM_READY_NOTIFY)
    {
      /* The child leads its group: the group's id is its pid. */
      self->notify_pgid = child.pid;
      pm_notify_watch (child.pid, on_notify, self);
    }
  if (mode == PM_READY_LINE)
    pm_log_client_set_line_func (self->log, on_output_line, self);
  pm_log_client_attach (self->log, child.stdout_fd, child.stderr_fd);

  pm_state_add (child.pid, child.start_time);
  /* Held until the child and its group are gone. */
  pm_reaper_watch (child.pid, on_child_exit, g_object_ref (self));

  pm_dbus_process_manager_process_set_started_at (iface (self),
                                                  (guint64) g_get_real_time ());
  set_pid (self, child.pid);
  set_state (self, mode == PM_READY_SPAWN ? PM_PROCESS_RUNNING : PM_PROCESS_STARTING);
  if (self->announced)
    pm_dbus_process_manager_emit_started (self->signals, self->id, self->opts->name,
                                          (guint) child.pid);
  g_debug ("Process %u started: pid %d", self->id, (int) child.pid);

  if (mode == PM_READY_SPAWN)
    become_ready (self);
  else
    self->start_timer = g_timeout_add (self->opts->start_timeout, on_start_timeout, self);
  return TRUE;
}

void
pm_process_announce (PmProcess *self)
{
  g_return_if_fail (!self->announced);

  self->announced = TRUE;
  if (self->pid == 0)
    return;
  pm_dbus_process_manager_emit_started (self->signals, self->id, self->opts->name,
                                        (guint) self->pid);
  if (self->ready)
    pm_dbus_process_manager_emit_ready (self->signals, self->id, self->opts->name,
                                        (guint) self->pid);
}

void
pm_process_wait_ready_async (PmProcess          *self,
                             GAsyncReadyCallback callback,
                             gpointer            user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);

  g_task_set_source_tag (task, pm_process_wait_ready_async);
  if (self->ready)
    g_task_return_boolean (task, TRUE);
  else
    g_ptr_array_add (self->ready_waiters, g_steal_pointer (&task));
}

gboolean
pm_process_wait_ready_finish (PmProcess    *self,
                              GAsyncResult *result,
                              GError      **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

gboolean
pm_process_get_ready (PmProcess *self)
{
  return self->ready;
}

/* ---- stop and restart -------------------------------------------------- */

void
pm_process_stop_async (PmProcess          *self,
                       GAsyncReadyCallback callback,
                       gpointer            user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);

  g_task_set_source_tag (task, pm_process_stop_async);

  /* A pending automatic restart is called off. (Set only when it changes:
   * GObject notifies every set, changed or not.) */
  g_clear_handle_id (&self->restart_timer, g_source_remove);
  self->restart_due = FALSE;
  if (pm_dbus_process_manager_process_get_next_restart (iface (self)) != 0)
    pm_dbus_process_manager_process_set_next_restart (iface (self), 0);

  if (self->gone)
    {
      if (self->state == PM_PROCESS_BACKOFF)
        set_state (self, PM_PROCESS_EXITED);
      g_task_return_boolean (task, TRUE);
      return;
    }

  g_ptr_array_add (self->waiters, g_steal_pointer (&task));
  self->stop_requested = TRUE;
  begin_stop (self);
}

gboolean
pm_process_stop_finish (PmProcess    *self,
                        GAsyncResult *result,
                        GError      **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
on_restart_ready (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!pm_process_wait_ready_finish (PM_PROCESS (source), result, &error))
    g_task_return_error (task, error);
  else
    g_task_return_boolean (task, TRUE);
}

static void
on_restart_stopped (GObject      *source,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  PmProcess *self = PM_PROCESS (source);
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (self->removing)
    {
      /* Forgotten meanwhile (Stop after Restart): nothing to start. */
      g_task_return_boolean (task, TRUE);
      return;
    }

  /* Another restart may have started it already: then its readiness is
   * what this one waits for too. */
  if (self->gone)
    {
      pm_backoff_reset (&self->backoff);
      if (!pm_process_spawn (self, &error))
        {
          set_state (self, PM_PROCESS_EXITED);
          g_task_return_error (task, error);
          return;
        }
    }
  pm_process_wait_ready_async (self, on_restart_ready, g_steal_pointer (&task));
}

void
pm_process_restart_async (PmProcess          *self,
                          GAsyncReadyCallback callback,
                          gpointer            user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);

  g_task_set_source_tag (task, pm_process_restart_async);
  /* Stopping it would make its Start fail and the process be forgotten. */
  if (self->initial)
    {
      g_task_return_new_error (task, PM_ERROR, PM_ERROR_FAILED,
                               _("Process %u is still starting"), self->id);
      g_object_unref (task);
      return;
    }
  pm_process_stop_async (self, on_restart_stopped, task);
}

gboolean
pm_process_restart_finish (PmProcess    *self,
                           GAsyncResult *result,
                           GError      **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}

void
pm_process_set_removing (PmProcess *self)
{
  self->removing = TRUE;
}

gboolean
pm_process_get_removing (PmProcess *self)
{
  return self->removing;
}

/* ---- cached query replies ---------------------------------------------- */

GVariant *
pm_process_new_list_entry (PmProcess *self)
{
  GVariant *fields[] = {
    g_variant_new_uint32 (self->id),
    g_variant_new_string (self->opts->name),
    g_variant_new_uint32 ((guint32) self->pid),
    g_variant_new_string (pm_process_state_to_string (self->state)),
    g_variant_new_uint32 (pm_dbus_process_manager_process_get_restarts (iface (self))),
  };

  return g_variant_new_tuple (fields, G_N_ELEMENTS (fields));
}

static guint64 generation;

guint64
pm_process_get_generation (void)
{
  return generation;
}

void
pm_process_changed (void)
{
  generation++;
}

static void
pm_process_notify (GObject    *object,
                   GParamSpec *pspec)
{
  pm_process_changed ();
  G_OBJECT_CLASS (pm_process_parent_class)->notify (object, pspec);
}

/* ---- construction ------------------------------------------------------ */

guint
pm_process_get_id (PmProcess *self)
{
  return self->id;
}

const char *
pm_process_get_name (PmProcess *self)
{
  return self->opts->name;
}

const char *
pm_process_get_object_path (PmProcess *self)
{
  return self->object_path;
}

guint
pm_process_get_uid (PmProcess *self)
{
  return self->uid;
}

PmProcess *
pm_process_new (guint                 id,
                PmOptions            *opts,
                guint                 uid,
                const PmCreds        *creds,
                PmDBusProcessManager *signals,
                GError              **error)
{
  g_autoptr(PmOptions) owned = opts;
  g_autoptr(PmProcess) self = NULL;
  g_autoptr(PmLogWriter) writer = NULL;
  g_autofree char *log_path = NULL;
  PmDBusProcessManagerProcess *i;
  PmCredsSaved saved;

  self = g_object_new (PM_TYPE_PROCESS, NULL);
  i = iface (self);
  self->id = id;
  self->object_path = g_strdup_printf (PM_DBUS_PROCESS_PATH_FMT, id);
  self->opts = g_steal_pointer (&owned);
  self->signals = signals;
  self->uid = uid;
  self->creds = creds != NULL ? pm_creds_copy (creds) : NULL;

  /* package.json and the paths are read as the caller. */
  if (!pm_creds_enter (self->creds, &saved))
    {
      int errsv = errno;
      g_set_error (error, PM_ERROR, PM_ERROR_SPAWN_FAILED,
                   /* TRANSLATORS: "User", the user name, the OS reason */
                   _("%s “%s”: %s"), _("User"), self->creds->user, g_strerror (errsv));
      return NULL;
    }
  self->program = pm_script_resolve (self->opts, error);
  pm_creds_leave (&saved);
  if (self->program == NULL)
    return NULL;

  if (self->opts->log != NULL)
    {
      log_path = pm_spawn_resolve_path (self->opts->log, self->program->cwd);
      writer = pm_log_writer_open (log_path, self->creds, error);
      if (writer == NULL)
        return NULL;
    }
  else
    writer = pm_log_writer_get_stdout ();

  self->log = pm_log_client_new (writer, self->opts->name, self->opts->timestamps,
                                 self->opts->strip_ansi, on_lost_lines, self);
  pm_log_client_set_rotation (self->log, self->opts->log_max_bytes, self->opts->log_backups,
                              on_log_rotated);

  pm_dbus_process_manager_process_set_id (i, id);
  pm_dbus_process_manager_process_set_name (i, self->opts->name);
  pm_dbus_process_manager_process_set_script (i, self->program->path);
  pm_dbus_process_manager_process_set_args (i, (const char * const *) self->opts->args);
  pm_dbus_process_manager_process_set_cwd (i, self->program->cwd);
  pm_dbus_process_manager_process_set_log (i, log_path ? log_path : "");
  pm_dbus_process_manager_process_set_user (i, uid);
  pm_dbus_process_manager_process_set_status_text (i, "");
  set_state (self, PM_PROCESS_EXITED);
  /* Until its Start has answered (ready, or failed and forgotten). */
  self->initial = TRUE;
  return g_steal_pointer (&self);
}

static void
pm_process_dispose (GObject *object)
{
  PmProcess *self = PM_PROCESS (object);

  g_clear_handle_id (&self->stop_timer, g_source_remove);
  g_clear_handle_id (&self->restart_timer, g_source_remove);
  g_clear_handle_id (&self->start_timer, g_source_remove);
  watchdog_disarm (self);
  if (self->notify_pgid != 0)
    pm_notify_unwatch (self->notify_pgid);
  self->notify_pgid = 0;
  ipc_close (self);
  g_clear_pointer (&self->ipc_line, g_free);
  g_clear_pointer (&self->log, pm_log_client_free);

  G_OBJECT_CLASS (pm_process_parent_class)->dispose (object);
}

static void
pm_process_finalize (GObject *object)
{
  PmProcess *self = PM_PROCESS (object);

  g_ptr_array_unref (self->waiters);
  g_ptr_array_unref (self->ready_waiters);
  g_clear_error (&self->start_error);
  pm_options_free (self->opts);
  g_free (self->object_path);
  pm_script_free (self->program);
  pm_creds_free (self->creds);

  G_OBJECT_CLASS (pm_process_parent_class)->finalize (object);
}

static void
pm_process_class_init (PmProcessClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = pm_process_dispose;
  object_class->finalize = pm_process_finalize;
  object_class->notify = pm_process_notify;
}

static void
pm_process_init (PmProcess *self)
{
  self->ipc_fd = -1;
  self->gone = TRUE;
  self->state = PM_PROCESS_EXITED;
  self->waiters = g_ptr_array_new_with_free_func (g_object_unref);
  self->ready_waiters = g_ptr_array_new_with_free_func (g_object_unref);
}
