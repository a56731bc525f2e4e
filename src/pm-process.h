/* pm-process.h — PmProcess: one supervised program.
 *
 * It is the org.elife.ProcessManager.Process interface of its object (it
 * subclasses the generated skeleton), and owns its child: spawning, the
 * stop protocol, the crash-restart schedule and the log client.
 */
#pragma once

#include <gio/gio.h>

#include "pm-creds.h"
#include "pm-dbus.h"
#include "pm-options.h"

G_BEGIN_DECLS

#define PM_TYPE_PROCESS (pm_process_get_type ())
G_DECLARE_FINAL_TYPE (PmProcess, pm_process, PM, PROCESS,
                      PmDBusProcessManagerProcessSkeleton)

typedef enum
{
  PM_PROCESS_RUNNING,
  PM_PROCESS_STOPPING,
  PM_PROCESS_BACKOFF,
  PM_PROCESS_EXITED,
  PM_PROCESS_STARTING,   /* spawned, not ready yet */
} PmProcessState;

/* Resolves the paths and opens the log (PM_ERROR_LOG_FAILED); spawns
 * nothing. @uid is its owner (the User property); the log is opened and the
 * child run as @creds (NULL: as the daemon). @signals is where
 * Started/Stopping/Exited are emitted. */
PmProcess     *pm_process_new            (guint                 id,
                                          PmOptions            *opts,
                                          guint                 uid,
                                          const PmCreds        *creds,
                                          PmDBusProcessManager *signals,
                                          GError              **error);

guint          pm_process_get_id         (PmProcess *self);
const char    *pm_process_get_name       (PmProcess *self);
const char    *pm_process_get_object_path (PmProcess *self);
guint          pm_process_get_uid        (PmProcess *self);
const char    *pm_process_state_to_string (PmProcessState state);

/* This process's entry in List's reply, (ususu); valid until a property
 * changes. */
GVariant      *pm_process_new_list_entry (PmProcess *self);
/* A count that moves on whenever any process's properties change, and
 * whenever the manager's registry gains or loses one (pm_process_changed):
 * a reply built at one count stands while the count is the same. */
guint64        pm_process_get_generation (void);
void           pm_process_changed        (void);

/* Spawns the child; PM_ERROR_SPAWN_FAILED when it cannot be. */
gboolean       pm_process_spawn          (PmProcess *self,
                                          GError   **error);
/* Once the object is exported: emits the Started (and Ready) of the first
 * spawn, held back until then so that a client hearing of a child always
 * finds its object. Later spawns emit them at once. */
void           pm_process_announce       (PmProcess *self);

/* Runs the stop protocol if the child runs, cancels a pending restart, and
 * completes once the child and its whole group are gone. */
void           pm_process_stop_async     (PmProcess          *self,
                                          GAsyncReadyCallback callback,
                                          gpointer            user_data);
gboolean       pm_process_stop_finish    (PmProcess    *self,
                                          GAsyncResult *result,
                                          GError      **error);

/* Completes once the current child is ready (at once if it is), or with
 * PM_ERROR_START_FAILED / PM_ERROR_START_TIMEOUT once a child that never got
 * ready is gone. */
void           pm_process_wait_ready_async  (PmProcess          *self,
                                             GAsyncReadyCallback callback,
                                             gpointer            user_data);
gboolean       pm_process_wait_ready_finish (PmProcess    *self,
                                             GAsyncResult *result,
                                             GError      **error);
/* Whether the current child is ready. */
gboolean       pm_process_get_ready      (PmProcess *self);

/* Stop, then spawn again with the same options (unless the process is being
 * forgotten meanwhile); resets the backoff schedule. Completes once the new
 * child is ready (see pm_process_wait_ready_async()); PM_ERROR_FAILED while
 * the process's first start has not got ready yet. */
void           pm_process_restart_async  (PmProcess          *self,
                                          GAsyncReadyCallback callback,
                                          gpointer            user_data);
gboolean       pm_process_restart_finish (PmProcess    *self,
                                          GAsyncResult *result,
                                          GError      **error);

/* Marks the process as being forgotten: no restart of any kind follows. */
void           pm_process_set_removing   (PmProcess *self);
gboolean       pm_process_get_removing   (PmProcess *self);

G_END_DECLS
