/* pm-manager.h — PmManager: the org.elife.ProcessManager object and the
 * registry of processes.
 */
#pragma once

#include <gio/gio.h>

#include "pm-dbus.h"

G_BEGIN_DECLS

#define PM_TYPE_MANAGER (pm_manager_get_type ())
G_DECLARE_FINAL_TYPE (PmManager, pm_manager, PM, MANAGER,
                      PmDBusProcessManagerSkeleton)

/* Documented cap on the number of registered processes. */
#define PM_MAX_PROCESSES 10000
/* ... and, by default, of those of one user other than root and the
 * daemon's own (fair share of a system daemon). */
#define PM_MAX_PROCESSES_PER_USER 1000

PmManager *pm_manager_new            (GDBusConnection *connection);
/* Changes the per-user cap (elife-pmd --max-per-user). */
void       pm_manager_set_max_per_user (PmManager     *self,
                                        guint          max);
/* Exports the manager and the ObjectManager on the connection. */
gboolean   pm_manager_export         (PmManager       *self,
                                      GError         **error);
void       pm_manager_unexport       (PmManager       *self);

/* Stops every process (protocol, in parallel), flushes the logs; refuses
 * new Start calls from then on. */
void       pm_manager_shutdown_async (PmManager          *self,
                                      GAsyncReadyCallback callback,
                                      gpointer            user_data);
gboolean   pm_manager_shutdown_finish (PmManager    *self,
                                       GAsyncResult *result,
                                       GError      **error);

G_END_DECLS
