/* pm-backoff.c — the crash-restart schedule. */
#include "config.h"

#include "pm-backoff.h"

void
pm_backoff_reset (PmBackoff *self)
{
  self->next = 0;
}

gboolean
pm_restart_policy_wants (PmRestartPolicy policy,
                         int             exit_code,
                         int             term_signal)
{
  switch (policy)
    {
    case PM_RESTART_ALWAYS:
      return TRUE;
    case PM_RESTART_ON_FAILURE:
      return term_signal != 0 || exit_code != 0;
    case PM_RESTART_NEVER:
    default:
      return FALSE;
    }
}

gboolean
pm_backoff_next (PmBackoff     *self,
                 const guint32 *restart_at,
                 gsize          n_restart_at,
                 guint32        restart_ok_ms,
                 guint64        uptime_ms,
                 guint32       *delay_ms)
{
  /* [] and [0] are the documented ways to say "never". */
  if (n_restart_at == 0 || (n_restart_at == 1 && restart_at[0] == 0))
    return FALSE;

  if (uptime_ms >= restart_ok_ms)
    self->next = 0;

  *delay_ms = restart_at[MIN (self->next, n_restart_at - 1)];
  /* Saturate: the last entry repeats for ever, and the index cannot wrap. */
  if (self->next < n_restart_at)
    self->next++;
  return TRUE;
}
