/* pm-error.h — the daemon's error domain; each code has a D-Bus error name. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  PM_ERROR_FAILED,          /* org.elife.ProcessManager.Error.Failed */
  PM_ERROR_NOT_FOUND,       /* ...NotFound */
  PM_ERROR_SPAWN_FAILED,    /* ...SpawnFailed */
  PM_ERROR_LOG_FAILED,      /* ...LogFailed */
  PM_ERROR_LIMIT_EXCEEDED,  /* ...LimitExceeded */
  PM_ERROR_START_FAILED,    /* ...StartFailed: exited before it was ready */
  PM_ERROR_START_TIMEOUT,   /* ...StartTimeout: not ready within startTimeout */
} PmError;

#define PM_ERROR (pm_error_quark ())
GQuark pm_error_quark (void);

G_END_DECLS
