/* pm-fdmux.h — many file descriptors behind one main-loop source.
 *
 * With a thousand children the daemon watches two thousand pipes. As GLib
 * sources, every main-loop iteration would prepare and poll() all of them;
 * behind one epoll descriptor an iteration costs the same whatever the
 * number of children, and only the ready ones are looked at.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _PmFdWatch PmFdWatch;

/* @events is epoll's (EPOLLIN, EPOLLHUP, ...). */
typedef void (*PmFdFunc) (int      fd,
                          guint32  events,
                          gpointer user_data);

/* Watches @fd for EPOLLIN (level-triggered) on the default main context. */
PmFdWatch *pm_fd_watch_add    (int        fd,
                               PmFdFunc   func,
                               gpointer   user_data);
/* Stops watching; safe from inside a callback, also for other watches of
 * the same dispatch. */
void       pm_fd_watch_remove (PmFdWatch *watch);

G_END_DECLS
