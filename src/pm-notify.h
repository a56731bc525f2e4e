/* pm-notify.h — the daemon's sd_notify socket, shared by every child.
 *
 * One AF_UNIX datagram socket with an abstract name, opened on first use.
 * Each datagram is attributed by its sender's credentials (SCM_CREDENTIALS,
 * which the kernel fills in and an unprivileged sender cannot forge): the
 * sender's process group must be one a process watches, else the datagram
 * is dropped.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* @says: PmReadySays flags; @status (not nul-terminated) with STATUS. */
typedef void (*PmNotifyFunc) (guint       says,
                              const char *status,
                              gsize       status_len,
                              gpointer    user_data);

/* Opens the socket if needed and returns its address for NOTIFY_SOCKET
 * ("@..."); NULL with PM_ERROR_SPAWN_FAILED when it cannot be opened. */
const char *pm_notify_open     (GError  **error);
/* The address, or NULL when the socket is not open. */
const char *pm_notify_address  (void);

/* Datagrams from process group @pgid go to @func until unwatched. */
void        pm_notify_watch    (pid_t        pgid,
                                PmNotifyFunc func,
                                gpointer     user_data);
void        pm_notify_unwatch  (pid_t        pgid);

/* Closes the socket (at exit). */
void        pm_notify_shutdown (void);

G_END_DECLS
