/* pm-error.c — PmError and its D-Bus error names, registered once. */
#include "config.h"

#include <gio/gio.h>

#include "pm-error.h"
#include "pm-names.h"

static const GDBusErrorEntry pm_error_entries[] = {
  { PM_ERROR_FAILED,         PM_DBUS_ERROR_PREFIX "Failed" },
  { PM_ERROR_NOT_FOUND,      PM_DBUS_ERROR_PREFIX "NotFound" },
  { PM_ERROR_SPAWN_FAILED,   PM_DBUS_ERROR_PREFIX "SpawnFailed" },
  { PM_ERROR_LOG_FAILED,     PM_DBUS_ERROR_PREFIX "LogFailed" },
  { PM_ERROR_LIMIT_EXCEEDED, PM_DBUS_ERROR_PREFIX "LimitExceeded" },
  { PM_ERROR_START_FAILED,   PM_DBUS_ERROR_PREFIX "StartFailed" },
  { PM_ERROR_START_TIMEOUT,  PM_DBUS_ERROR_PREFIX "StartTimeout" },
};

G_STATIC_ASSERT (G_N_ELEMENTS (pm_error_entries) == PM_ERROR_START_TIMEOUT + 1);

GQuark
pm_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("pm-error-quark",
                                      &quark,
                                      pm_error_entries,
                                      G_N_ELEMENTS (pm_error_entries));
  return (GQuark) quark;
}
