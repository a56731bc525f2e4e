/* pm-spawn.h — starting one child: paths resolved and checked, argv and
 * environment built, pipes and the node IPC channel set up.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

#include "pm-creds.h"
#include "pm-options.h"
#include "pm-script.h"

G_BEGIN_DECLS

typedef struct
{
  pid_t pid;        /* leads its own process group */
  int   stdout_fd;  /* read ends, non-blocking, close-on-exec */
  int   stderr_fd;
  int   ipc_fd;     /* node children: our end of the IPC channel; else -1 */
  guint64 start_time; /* its start time as /proc/PID/stat gives it; 0: not known */
} PmSpawned;

/* At start-up, before anything opens many descriptors: reserves the low
 * descriptor slots children are spawned from, and raises the soft
 * RLIMIT_NOFILE to the hard limit (children still get the original). */
gboolean  pm_spawn_init           (GError         **error);

/* PM_ERROR_LIMIT_EXCEEDED unless there are descriptors left for one more
 * Start (its pipes, its log file) and the daemon's own reserve. */
gboolean  pm_spawn_check_descriptors (GError    **error);

/* Absolute script path and cwd, as the Script and Cwd properties show them. */
char     *pm_spawn_resolve_cwd    (const PmOptions *opts);
char     *pm_spawn_resolve_path   (const char      *path,
                                   const char      *cwd);

/* Looks @program up on @path_env (a PATH value); NULL when not found. */
char     *pm_spawn_find_program   (const char      *program,
                                   const char      *path_env);

/* Spawns the child for @opts (with @program resolved by pm_script_resolve).
 * With @creds (not NULL), cwd, script and interpreter are checked as that
 * user, and the child runs as that user, with its groups, in a minimal
 * environment (not the daemon's) that env is merged over.
 * On failure: PM_ERROR_SPAWN_FAILED naming the path and the OS reason,
 * PM_ERROR_LIMIT_EXCEEDED when out of descriptors (nothing was started). */
gboolean  pm_spawn                (const PmOptions *opts,
                                   const PmCreds   *creds,
                                   const PmScript  *program,
                                   guint            id,
                                   PmSpawned       *out,
                                   GError         **error);

G_END_DECLS
