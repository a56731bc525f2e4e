/* pm-reaper.h — the daemon's one reaper of child processes.
 *
 * SIGCHLD is blocked and read from a signalfd on the main loop. The daemon is
 * a child subreaper, so it also inherits every orphaned descendant of its
 * children: all of them are reaped here, and no zombie is ever left. A
 * watched child's watcher is told of its exit while the child is still a
 * zombie — so its group id cannot have been reused and the watcher may
 * signal what is left of the group — and only then is the child reaped.
 * A group watch then waits for the group to empty, sending SIGKILL to what
 * is left of it once its deadline has passed.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* @exit_code is the exit status, or -1 when a signal ended the child;
 * @term_signal is that signal, or 0. Called while @pid is still a zombie
 * (kill (-pid, ...) reaches its group and nothing else); it is reaped right
 * after. */
typedef void (*PmReaperExitFunc) (pid_t    pid,
                                  int      exit_code,
                                  int      term_signal,
                                  gpointer user_data);

/* Called when no process is left in the group. */
typedef void (*PmReaperGroupFunc) (pid_t    pgid,
                                   gpointer user_data);

/* Must be called before any thread is started (it blocks SIGCHLD for the
 * whole process). */
gboolean pm_reaper_init             (GError          **error);
void     pm_reaper_shutdown         (void);

void     pm_reaper_watch            (pid_t             pid,
                                     PmReaperExitFunc  func,
                                     gpointer          user_data);

/* Calls @func once process group @pgid is empty (from an idle at once if it
 * already is). What is left of it at @kill_at (monotonic µs; now or earlier:
 * at once) is sent SIGKILL. */
void     pm_reaper_watch_group      (pid_t             pgid,
                                     gint64            kill_at,
                                     PmReaperGroupFunc func,
                                     gpointer          user_data);

G_END_DECLS
