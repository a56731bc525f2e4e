/* pm-backoff.h — the crash-restart schedule (pure: no clock, no GSource).
 *
 * State in, delay out: the caller tells how the child ended and how long it
 * ran; the schedule says whether to restart and after how many ms.
 */
#pragma once

#include <glib.h>

#include "pm-options.h"

G_BEGIN_DECLS

typedef struct
{
  guint next;   /* index in restartAt of the next automatic restart */
} PmBackoff;

/* A manual restart (or a fresh Start): the next crash waits restartAt[0]. */
void     pm_backoff_reset (PmBackoff *self);

/* Whether @policy restarts a child that ended with @exit_code (-1 when a
 * signal ended it) / @term_signal. */
gboolean pm_restart_policy_wants (PmRestartPolicy policy,
                                  int             exit_code,
                                  int             term_signal);

/* An unasked-for exit after @uptime_ms of running. Returns FALSE when the
 * schedule never restarts (restartAt [] or [0]); else sets *@delay_ms and
 * moves the schedule on. A child that ran at least @restart_ok_ms starts the
 * schedule over. */
gboolean pm_backoff_next  (PmBackoff     *self,
                           const guint32 *restart_at,
                           gsize          n_restart_at,
                           guint32        restart_ok_ms,
                           guint64        uptime_ms,
                           guint32       *delay_ms);

G_END_DECLS
