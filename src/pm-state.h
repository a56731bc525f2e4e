/* pm-state.h — no orphans when the daemon dies without stopping its children.
 *
 * Every child's process group is recorded, with the leader's start time (so
 * that a reused pid is never hit), in two places:
 *  - a watchdog process (elife-pmd --watchdog) reading a pipe from the daemon:
 *    when the pipe closes because the daemon died, it SIGKILLs the groups
 *    still recorded, at once;
 *  - a state file per daemon instance: a daemon that gets the bus name kills
 *    the groups left in the files of dead instances (watchdog and daemon
 *    both killed, or a crash of the machine's session).
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* Start time of @pid in clock ticks since boot (/proc/PID/stat field 22),
 * or 0 when there is no such process. */
guint64  pm_state_start_time    (pid_t        pid);

/* SIGKILLs process group @pgid if it is still the one whose leader started
 * at @start_time. Returns the number of processes signalled. */
guint    pm_state_kill_group    (pid_t        pgid,
                                 guint64      start_time);

/* @dir holds the state files; @key names this bus ("session", ...). */
void     pm_state_init          (const char  *dir,
                                 const char  *key);
/* Starts the watchdog (@self_exe --watchdog). */
gboolean pm_state_start_watchdog (const char *self_exe,
                                  GError    **error);
/* After owning the bus name: kills what dead instances left, then records. */
void     pm_state_claim         (void);
/* Records group @pgid, whose leader started at @start_time (0: read from
 * /proc here). */
void     pm_state_add           (pid_t        pgid,
                                 guint64      start_time);
void     pm_state_remove        (pid_t        pgid);
/* Clean exit: removes the state file, lets the watchdog go. */
void     pm_state_shutdown      (void);

/* The watchdog's main: reads records from @fd until it closes, then kills
 * the groups still recorded. */
int      pm_state_watchdog_main (int          fd);

G_END_DECLS
