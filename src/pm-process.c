/* pm-process.c — PmProcess: one supervised program.
 *
 * Life of a child: pm_process_spawn() → running → (exit seen by the reaper,
 * the rest of its group SIGKILLed) → the group empties → "gone". Between
 * exit and gone nothing new is spawned, so a successor never finds the old
 * group still holding its ports.
 *
 * An exit nobody asked for goes through the restart policy and the backoff
 * schedule (state backoff, a one-shot timer); an asked-for exit completes
 * the stop waiters, who decide what follows (forget, or spawn again).
 */
#include "config.h"

#define G_LOG_DOMAIN "pm-process"

#include <errno.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gi18n.h>

#include "pm-backoff.h"
#include "pm-error.h"
#include "pm-log.h"
#include "pm-names.h"
#include "pm-process.h"
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
  guint                 stop_phase;  /* 1: waiting; 2: SIGTERM sent */
  GPtrArray            *waiters;     /* of GTask */

  /* Automatic restarts */
  PmBackoff             backoff;
  guint                 restart_timer;
  gboolean              restart_due; /* timer fired while the group was not gone */
  gboolean              removing;
};

G_DEFINE_FINAL_TYPE (PmProcess, pm_process, PM_DBUS_TYPE_PROCESS_MANAGER_PROCESS_SKELETON)

static void process_gone (PmProcess *self);

const char *
pm_process_state_to_string (PmProcessState state)
{
  static const char * const names[] = { "running", "stopping", "backoff", "exited" };

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

/* ---- the node IPC channel -------------------------------------------- */

static gboolean
on_ipc_readable (int          fd,
                 GIOCondition condition,
                 gpointer     user_data)
{
  PmProcess *self = user_data;
  char buf[4096];
  gssize n;

  /* What a child sends is read and dropped, so that a chatty child never
   * blocks on a full channel. */
  while ((n = recv (fd, buf, sizeof buf, MSG_DONTWAIT)) > 0)
    ;
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
      return G_SOURCE_CONTINUE;   /* same interval again */
    }

  g_debug ("Process %u (pid %d): SIGKILL to its group", self->id, (int) self->pid);
  kill (-self->pid, SIGKILL);
  self->stop_timer = 0;
  return G_SOURCE_REMOVE;
}

static void
begin_stop (PmProcess *self)
{
  const char *name = self->opts->name;

  self->stop_requested = TRUE;
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

static void
on_child_exit (pid_t    pid,
               int      exit_code,
               int      term_signal,
               gpointer user_data)
{
  PmProcess *self = user_data;
  PmDBusProcessManagerProcess *i = iface (self);
  guint64 uptime_ms = (g_get_monotonic_time () - self->started_at) / 1000;

  g_debug ("Process %u (pid %d) exited: code %d, signal %d",
           self->id, (int) pid, exit_code, term_signal);

  g_clear_handle_id (&self->stop_timer, g_source_remove);
  self->stop_phase = 0;
  set_pid (self, 0);
  pm_dbus_process_manager_process_set_exit_code (i, exit_code);
  pm_dbus_process_manager_process_set_exit_signal (i, term_signal);
  pm_dbus_process_manager_emit_exited (self->signals, self->id, self->opts->name,
                                       (guint) pid, exit_code, term_signal);

  /* The delay of a restart counts from now; the spawn itself waits for the
   * rest of the group (already sent SIGKILL by the reaper) to be gone. */
  if (!self->stop_requested && !self->removing)
    {
      if (!pm_restart_policy_wants (self->opts->restart, exit_code, term_signal) ||
          !schedule_restart (self, uptime_ms))
        set_state (self, PM_PROCESS_EXITED);
    }

  /* The reaper's reference passes on to the group watch. */
  self->pgid = pid;
  pm_reaper_watch_group (pid, on_group_gone, self);
}

static void
process_gone (PmProcess *self)
{
  pm_state_remove (self->pgid);
  self->pgid = 0;
  self->gone = TRUE;
  ipc_close (self);
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
}

gboolean
pm_process_spawn (PmProcess *self,
                  GError   **error)
{
  PmSpawned child;

  g_return_val_if_fail (self->gone, FALSE);

  if (!pm_spawn (self->opts, self->creds, self->program, self->id, &child, error))
    return FALSE;

  self->gone = FALSE;
  self->started_at = g_get_monotonic_time ();
  self->ipc_fd = child.ipc_fd;
  if (self->ipc_fd >= 0)
    self->ipc_source = g_unix_fd_add (self->ipc_fd, G_IO_IN, on_ipc_readable, self);
  pm_log_client_attach (self->log, child.stdout_fd, child.stderr_fd);

  pm_state_add (child.pid);
  /* Held until the child and its group are gone. */
  pm_reaper_watch (child.pid, on_child_exit, g_object_ref (self));

  pm_dbus_process_manager_process_set_started_at (iface (self),
                                                  (guint64) g_get_real_time ());
  set_pid (self, child.pid);
  set_state (self, PM_PROCESS_RUNNING);
  pm_dbus_process_manager_emit_started (self->signals, self->id, self->opts->name,
                                        (guint) child.pid);
  g_debug ("Process %u started: pid %d", self->id, (int) child.pid);
  return TRUE;
}

/* ---- stop and restart -------------------------------------------------- */

void
pm_process_stop_async (PmProcess          *self,
                       GAsyncReadyCallback callback,
                       gpointer            user_data)
{
  g_autoptr(GTask) task = g_task_new (self, NULL, callback, user_data);

  g_task_set_source_tag (task, pm_process_stop_async);

  /* A pending automatic restart is called off. */
  g_clear_handle_id (&self->restart_timer, g_source_remove);
  self->restart_due = FALSE;
  pm_dbus_process_manager_process_set_next_restart (iface (self), 0);

  if (self->gone)
    {
      if (self->state == PM_PROCESS_BACKOFF)
        set_state (self, PM_PROCESS_EXITED);
      g_task_return_boolean (task, TRUE);
      return;
    }

  g_ptr_array_add (self->waiters, g_steal_pointer (&task));
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

  /* Another restart may have started it already. */
  if (!self->gone)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  pm_backoff_reset (&self->backoff);
  if (!pm_process_spawn (self, &error))
    {
      set_state (self, PM_PROCESS_EXITED);
      g_task_return_error (task, error);
      return;
    }
  g_task_return_boolean (task, TRUE);
}

void
pm_process_restart_async (PmProcess          *self,
                          GAsyncReadyCallback callback,
                          gpointer            user_data)
{
  GTask *task = g_task_new (self, NULL, callback, user_data);

  g_task_set_source_tag (task, pm_process_restart_async);
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

  self = g_object_new (PM_TYPE_PROCESS, NULL);
  i = iface (self);
  self->id = id;
  self->object_path = g_strdup_printf (PM_DBUS_PROCESS_PATH_FMT, id);
  self->opts = g_steal_pointer (&owned);
  self->signals = signals;
  self->uid = uid;
  self->creds = creds != NULL ? pm_creds_copy (creds) : NULL;
  self->program = pm_script_resolve (self->opts, error);
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

  pm_dbus_process_manager_process_set_id (i, id);
  pm_dbus_process_manager_process_set_name (i, self->opts->name);
  pm_dbus_process_manager_process_set_script (i, self->program->path);
  pm_dbus_process_manager_process_set_args (i, (const char * const *) self->opts->args);
  pm_dbus_process_manager_process_set_cwd (i, self->program->cwd);
  pm_dbus_process_manager_process_set_log (i, log_path ? log_path : "");
  pm_dbus_process_manager_process_set_user (i, uid);
  set_state (self, PM_PROCESS_EXITED);
  return g_steal_pointer (&self);
}

static void
pm_process_dispose (GObject *object)
{
  PmProcess *self = PM_PROCESS (object);

  g_clear_handle_id (&self->stop_timer, g_source_remove);
  g_clear_handle_id (&self->restart_timer, g_source_remove);
  ipc_close (self);
  g_clear_pointer (&self->log, pm_log_client_free);

  G_OBJECT_CLASS (pm_process_parent_class)->dispose (object);
}

static void
pm_process_finalize (GObject *object)
{
  PmProcess *self = PM_PROCESS (object);

  g_ptr_array_unref (self->waiters);
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
}

static void
pm_process_init (PmProcess *self)
{
  self->ipc_fd = -1;
  self->gone = TRUE;
  self->state = PM_PROCESS_EXITED;
  self->waiters = g_ptr_array_new_with_free_func (g_object_unref);
}
